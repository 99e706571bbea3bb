#!/usr/bin/python3
"""Golden fixtures made by the official SoCo model code itself (hologerry/SoCo: contrast/models/SoCo_FPN.py,
SoCo_C4.py, SoCo_FPN_Star.py, fpn.py, fast_rcnn_conv_fc_head.py, mlps.py, contrast/resnet.py, contrast/lars.py),
not by a re-implementation: a misreading shared by the spec and tools/torch_model_fixtures.py cannot pass these.

Get the official code (it is not part of this repository and is never committed):

    git clone https://github.com/hologerry/SoCo /path/to/SoCo

Run with Debian's python3-torch 1.13 / python3-torchvision 0.14 on CPU:

    /usr/bin/python3 tools/official_model_fixtures.py [/path/to/SoCo] [out_dir]    # default out: tests/fixtures/official

The checkout may be a working tree or a bare git repository (its HEAD's contrast/ folder is exported to a temporary
folder). Without an argument the script tries $SOCO_REPO, then /work/.mirror/hologerry+SoCo/repo.

What is patched at run time, and why (the official modules and their forward code run unchanged otherwise):
  * mmcv is not packaged for Debian: fpn.py imports only ConvModule and xavier_init from mmcv.cnn, so a minimal
    stand-in module provides them: ConvModule = conv -> norm -> activation with mmcv's names (`conv`, `bn`,
    `activate`) and mmcv's bias rule (bias='auto' means no conv bias when a norm follows), xavier_init as mmcv's.
  * nn.SyncBatchNorm.convert_sync_batchnorm becomes a no-op: SyncBN needs CUDA; with one process it computes what
    BatchNorm computes.
  * get_world_size: a real one-process gloo group (file:// rendezvous in a temporary folder) is initialised.
  * Sizes: the official ResNet takes `width` (we give 4 channels for its 64); the official box head and MLPs
    hard-code 256 / 1024 / 4096 / 12544 (= 256·7·7) channels and 2048 inputs for C4. Those modules' `nn` is replaced
    by torch.nn with the layer constructors' widths mapped to tiny ones (SIZES below), so the fixtures stay small
    while the module code is the official one.
  * Weights are re-drawn from a seeded generator after construction (every BN affine random, residual gammas small
    but non-zero, so every path carries gradient), then copied to the target network as the official __init__ does,
    and the target is perturbed a little so the EMA is visible.

Per model (official_{fpn,fpn_star,c4}*), two files:
  <name>.pth     the checkpoint in main_pretrain.py's layout: {"opt": argparse.Namespace, "model": {"module.*"},
                 "scheduler": {"last_epoch": k}, "epoch"}: what `soco import` reads; the C# test loads it through
                 the project's import path (CheckpointReader.Read).
  <name>_io.pt   flat {name: tensor}: in.* the views, boxes and correspondences; out.loss (fp32), out.loss64 (the same
                 model and inputs in float64); grad.* the online gradients of the loss, grad64.* the float64 ones
                 (stored as float32); after.* the target parameters
                 after the forward's _momentum_update_key_encoder; lars1.* / lars2.* the online parameters after one
                 and two steps of the official LARS wrapper over torch.optim.SGD (param groups from add_weight_decay),
                 both steps fed the gradients grad.* (SoCo_FPN only: the optimizer does not depend on the model);
                 meta.* the scalars (K, k, lr, wd).
"""
import argparse
import copy
import math
import os
import shutil
import subprocess
import sys
import tempfile
import types

import torch
import torch.nn as nn

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.argv, argv = sys.argv[:1], sys.argv  # torch_model_fixtures reads sys.argv at import
import torch_model_fixtures as R  # noqa: E402  (only its box / correspondence generators are used)

sys.argv = argv

# The checkout: the argument, else $SOCO_REPO, else the bare mirror the project's build machines keep.
MIRROR = "/work/.mirror/hologerry+SoCo/repo"
repo = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SOCO_REPO") or (MIRROR if os.path.isdir(MIRROR) else None)
if not repo:
    sys.exit("usage: official_model_fixtures.py /path/to/SoCo [out_dir]   (git clone https://github.com/hologerry/SoCo)")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "tests", "fixtures", "official")
os.makedirs(OUT, exist_ok=True)
work = tempfile.mkdtemp(prefix="soco-official-")

# ------------------------------------------------------------------------------------------------ the official code
if os.path.isfile(os.path.join(repo, "contrast", "models", "SoCo_FPN.py")):
    src = repo
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
else:  # a bare repository: export HEAD's contrast/ folder
    src = os.path.join(work, "SoCo")
    os.makedirs(src)
    archive = subprocess.run(["git", "--git-dir", repo, "archive", "HEAD", "contrast"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    commit = subprocess.run(["git", "--git-dir", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def xavier_init(module, gain=1, bias=0, distribution="normal"):
    """mmcv.cnn.xavier_init."""
    assert distribution in ["uniform", "normal"]
    if distribution == "uniform":
        nn.init.xavier_uniform_(module.weight, gain=gain)
    else:
        nn.init.xavier_normal_(module.weight, gain=gain)
    if hasattr(module, "bias") and module.bias is not None:
        nn.init.constant_(module.bias, bias)


class ConvModule(nn.Module):
    """mmcv.cnn.ConvModule for what fpn.py uses: conv -> norm -> activation (order ('conv', 'norm', 'act')), children
    named `conv`, `bn` (mmcv's name for a BN norm layer) and `activate`; bias='auto' gives the conv a bias only when no
    norm follows; weights initialised as mmcv does (kaiming normal, fan_out; norm weight 1, bias 0)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias="auto",
                 conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"), inplace=True, order=("conv", "norm", "act")):
        super().__init__()
        assert conv_cfg is None and order == ("conv", "norm", "act")
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        if self.with_norm:
            assert norm_cfg["type"] == "BN", norm_cfg
            self.norm_name = "bn"
            self.add_module("bn", nn.BatchNorm2d(out_channels))
        if self.with_activation:
            assert act_cfg["type"] == "ReLU", act_cfg
            self.activate = nn.ReLU(inplace=inplace)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.constant_(self.conv.bias, 0)
        if self.with_norm:
            nn.init.constant_(self.bn.weight, 1)
            nn.init.constant_(self.bn.bias, 0)

    def forward(self, x):
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        if self.with_activation:
            x = self.activate(x)
        return x


mmcv = types.ModuleType("mmcv")
mmcv.cnn = types.ModuleType("mmcv.cnn")
mmcv.cnn.ConvModule, mmcv.cnn.xavier_init = ConvModule, xavier_init
sys.modules["mmcv"], sys.modules["mmcv.cnn"] = mmcv, mmcv.cnn

# SyncBN needs CUDA; with one process it is BatchNorm.
nn.SyncBatchNorm.convert_sync_batchnorm = classmethod(lambda cls, module, process_group=None: module)
import torch.distributed as dist  # noqa: E402

dist.init_process_group("gloo", init_method="file://" + os.path.join(work, "rendezvous"), rank=0, world_size=1)

sys.path.insert(0, src)
from contrast import resnet as official_resnet  # noqa: E402
from contrast import lars as official_lars  # noqa: E402
from contrast.models import SoCo_C4, SoCo_FPN, SoCo_FPN_Star  # noqa: E402
from contrast.models import fast_rcnn_conv_fc_head, mlps  # noqa: E402


class Width:
    """The official ResNet computes its channel counts as 64 * width (and int(64 * width)): 64 * Width(c) == c."""

    def __init__(self, channels):
        self.channels = channels

    def __rmul__(self, other):
        assert other == 64
        return self.channels


class ShrunkNN:
    """torch.nn for the official box head and MLPs, with the layer widths they hard-code mapped through `sizes`."""

    def __init__(self, sizes):
        self.sizes = sizes

    def __getattr__(self, name):
        layer = getattr(nn, name)
        counts = {"Conv2d": 2, "Linear": 2, "BatchNorm1d": 1, "BatchNorm2d": 1}.get(name)
        if counts is None:
            return layer
        keys = ("in_channels", "out_channels", "in_features", "out_features", "num_features")

        def make(*args, **kwargs):
            args = [self.sizes.get(a, a) if i < counts else a for i, a in enumerate(args)]
            kwargs = {k: (self.sizes.get(v, v) if k in keys else v) for k, v in kwargs.items()}
            return layer(*args, **kwargs)

        return make


# Tiny sizes, the same as SocoModelTests.Tiny() on the C# side: ResNet stem 4 channels (C2..C5 = 16, 32, 64, 128 for
# a ResNet-50), FPN / head conv 8, head fc 16, MLP hidden 32, embedding 8.
STEM = 4
FPN, FC, HIDDEN, EMB = 8, 16, 32, 8


def sizes_for(c5):
    # The official code writes 256 both for the head's channels and for the embedding: one tiny size stands for both.
    assert FPN == EMB
    return {256: FPN, 1024: FC, 4096: HIDDEN, 12544: FPN * 49, 2048: c5}


def args_for(model_name, arch, channels):
    # num_instances / batch_size * epochs = K = 10 EMA steps in all; start_epoch 2 -> k = 5 (mid-schedule)
    return argparse.Namespace(
        arch=arch, model=model_name, feature_dim=EMB, head_type="multi_layer", contrast_num_negative=16,
        contrast_momentum=0.99, contrast_temperature=0.07, output_size=7, aligned=True,
        in_channels=channels, out_channels=FPN, num_outs=4, start_level=0, end_level=-1, add_extra_convs=False,
        extra_convs_on_inputs=False, relu_before_extra_convs=False, no_norm_on_lateral=False,
        num_instances=20, batch_size=4, epochs=2, start_epoch=2, base_lr=1.0, weight_decay=1e-5)


def build(cls, model_name, arch):
    depth = {"resnet18": 18, "resnet50": 50}[arch]
    expansion = 4 if depth == 50 else 1
    channels = [STEM * expansion * 2 ** i for i in range(4)]
    shrunk = ShrunkNN(sizes_for(channels[3]))
    fast_rcnn_conv_fc_head.nn = shrunk
    mlps.nn = shrunk
    args = args_for(model_name, arch, channels)
    encoder = lambda **kw: official_resnet.__dict__[arch](width=Width(STEM), **kw)  # noqa: E731
    return cls(encoder, args), args


def randomize(model, gen):
    """Seeded weights for the online network (the official __init__'s draws come from the global RNG, and its zero
    residual gammas would leave parts of the network without gradient)."""
    for name, m in model.named_modules():
        if name.endswith("_k") or "_k." in name:
            continue
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2. / n), generator=gen)
            if m.bias is not None:
                m.bias.data.normal_(0, 0.1, generator=gen)
        elif isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.in_features)
            m.weight.data.uniform_(-bound, bound, generator=gen)
            m.bias.data.uniform_(-bound, bound, generator=gen)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.1, generator=gen)
    # the last BN of each residual block: small gammas, as tools/torch_model_fixtures.py explains (conditioning)
    for name, m in model.named_modules():
        if name.startswith("encoder.") and isinstance(m, (official_resnet.Bottleneck, official_resnet.BasicBlock)):
            (m.bn3 if isinstance(m, official_resnet.Bottleneck) else m.bn2).weight.data.uniform_(0.0, 0.5, generator=gen)


def pairs(model):
    names = ["encoder", "neck", "head", "projector"] if hasattr(model, "neck") else ["encoder", "projector"]
    return [(getattr(model, n), getattr(model, n + "_k")) for n in names]


def copy_and_perturb_target(model, gen):
    for q, k in pairs(model):
        for pq, pk in zip(q.parameters(), k.parameters()):
            pk.data.copy_(pq.data)  # what the official __init__ does
            pk.data.add_(0.01 * torch.randn(pk.shape, generator=gen))


def online(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def target(model):
    return [(n, p) for n, p in model.named_parameters() if "_k." in n]


def fixture(name, cls, model_name, arch, inputs_fn, seed, optimizer=False):
    torch.manual_seed(seed)  # the official __init__ draws from the global RNG (replaced below, but keep it fixed)
    gen = torch.Generator().manual_seed(seed)
    model, args = build(cls, model_name, arch)
    randomize(model, gen)
    copy_and_perturb_target(model, gen)
    model.train()
    inputs = inputs_fn(gen)
    values = list(inputs.values())
    assert model.k == 5 and model.K == 10, (model.k, model.K)

    ck = {"opt": args, "model": {f"module.{k}": v.detach().clone() for k, v in model.state_dict().items()},
          "scheduler": {"last_epoch": model.k, "multiplier": 100}, "epoch": args.start_epoch - 1}
    torch.save(ck, os.path.join(OUT, f"{name}.pth"), _use_new_zipfile_serialization=True)

    d = {f"in.{k}": v for k, v in inputs.items()}
    d["meta.K"] = torch.tensor(model.K, dtype=torch.int64)
    d["meta.k"] = torch.tensor(model.k, dtype=torch.int64)
    # The same model and inputs in float64: the exact values both fp32 implementations approximate. A random tiny SoCo
    # network stacks dozens of BatchNorms over batches of 8 RoIs, so the official fp32 result itself is up to ~1e-4
    # (relative) from these in some gradients; the C# side is judged against both.
    m64 = copy.deepcopy(model).double()
    loss64 = m64(*[v.double() for v in values])
    loss64.backward()
    d["out.loss64"] = loss64.detach().clone()
    d.update({f"grad64.{n}": p.grad.detach().float() for n, p in online(m64) if p.grad is not None})
    del m64
    loss = model(*values)
    loss.backward()
    d["out.loss"] = loss.detach().clone()
    grads = {n: p.grad.detach().clone() for n, p in online(model) if p.grad is not None}
    d.update({f"grad.{n}": g for n, g in grads.items()})
    d.update({f"after.{n}": p.detach().clone() for n, p in target(model)})

    if optimizer:
        optimizer_steps(model, grads, d)

    d = {k: v.contiguous() for k, v in d.items()}
    torch.save(d, os.path.join(OUT, f"{name}_io.pt"), _use_new_zipfile_serialization=True)
    size = sum(os.path.getsize(os.path.join(OUT, f)) for f in (f"{name}.pth", f"{name}_io.pt"))
    print(f"{name}: {arch} at width {STEM}, loss {loss.item():.6f} (fp64 {d['out.loss64'].item():.6f}), "
          f"{len(grads)} gradients, {size / 1024:.0f} KiB")


def optimizer_steps(model, grads, d):
    """The official optimizer: SGD(momentum 0.9) over add_weight_decay's groups, wrapped in LARS (main_pretrain.py's
    build_model), two steps on the loss gradients."""
    lr, wd = 0.5, 1e-5
    d["meta.lr"], d["meta.wd"] = torch.tensor(lr, dtype=torch.float64), torch.tensor(wd, dtype=torch.float64)
    groups = official_lars.add_weight_decay(model, wd)
    opt = official_lars.LARS(torch.optim.SGD(groups, lr=lr, momentum=0.9))
    opt.step()
    d.update({f"lars1.{n}": p.detach().clone() for n, p in online(model)})
    for n, p in online(model):
        if n in grads:
            p.grad = grads[n].clone()
    opt.step()  # the momentum buffers now hold the first step's update
    d.update({f"lars2.{n}": p.detach().clone() for n, p in online(model)})


def fpn_inputs(gen, four=False):
    n, l = 2, 4
    v1 = torch.randn(n, 3, 64, 64, generator=gen)
    v2 = torch.randn(n, 3, 64, 64, generator=gen)
    v3 = torch.randn(n, 3, 56, 56, generator=gen)  # C5 2x2 -> C4 4x4 -> C3 7x7: the FPN upsamples 4 -> 7 by size
    b1_12, b1_13, b2, b3 = (R.soco_boxes(gen, n, l) for _ in range(4))
    c12, c13 = R.soco_corr(gen, n, l), R.soco_corr(gen, n, l)
    if not four:
        return {"v1": v1, "v2": v2, "v3": v3, "b1_12": b1_12, "b1_13": b1_13, "b2": b2, "b3": b3, "c12": c12, "c13": c13}
    v4 = torch.randn(n, 3, 32, 32, generator=gen)
    b1_14, b4 = R.soco_boxes(gen, n, l), R.soco_boxes(gen, n, l)
    c14 = R.soco_corr(gen, n, l)
    return {"v1": v1, "v2": v2, "v3": v3, "v4": v4, "b1_12": b1_12, "b1_13": b1_13, "b1_14": b1_14,
            "b2": b2, "b3": b3, "b4": b4, "c12": c12, "c13": c13, "c14": c14}


def c4_inputs(gen):
    n, l = 2, 4
    v1 = torch.randn(n, 3, 64, 64, generator=gen)
    v2 = torch.randn(n, 3, 64, 64, generator=gen)
    b1, b2 = R.soco_boxes(gen, n, l), R.soco_boxes(gen, n, l)
    ids1, ids2 = b1[:, :, 4], b2[:, :, 4].clone()
    ids2[1, 3] = 1  # a padding duplicate
    c = (ids1.unsqueeze(2) == ids2.unsqueeze(1)).float()
    return {"v1": v1, "v2": v2, "b1": b1, "b2": b2, "c": c}


print(f"official SoCo code: {repo} at {commit}")
fixture("official_fpn", SoCo_FPN, "SoCo_FPN", "resnet50", fpn_inputs, 21, optimizer=True)
# ResNet-18 for the other two keeps the files small (the bottleneck path is covered above).
fixture("official_fpn_star", SoCo_FPN_Star, "SoCo_FPN_Star", "resnet18", lambda g: fpn_inputs(g, four=True), 22)
fixture("official_c4", SoCo_C4, "SoCo_C4", "resnet18", c4_inputs, 23)
with open(os.path.join(OUT, "SOURCE.txt"), "w") as f:
    f.write(f"Made by tools/official_model_fixtures.py from https://github.com/hologerry/SoCo at {commit}\n"
            f"with torch {torch.__version__}, torchvision {__import__('torchvision').__version__} (CPU, one thread).\n")
dist.destroy_process_group()
shutil.rmtree(work, ignore_errors=True)
