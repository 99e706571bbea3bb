#!/usr/bin/python3
"""Golden fixtures for SoCo.NET's model code (src/Soco/Modeling), from PyTorch.

Run with Debian's reference stack (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 tools/torch_model_fixtures.py [out_dir]     # default tests/fixtures/model

The reference modules below are written from docs/soco-reference.md §5 (ResNet v1.5 with torchvision names,
mmdet-style FPN with BN, FastRCNNConvFCHead, the MLP with BN1d on an (N, C, 1) view, SoCo_FPN / SoCo_C4 forward order,
EMA and loss); RoIAlign is torchvision.ops.roi_align itself. Every module is tiny (widths 4-16) so the fixtures stay
small; weights are seeded here and saved with the outputs, so the C# side loads them instead of re-drawing them.

Each fixture is a flat {name: tensor} dict saved with torch.save(..., _use_new_zipfile_serialization=True), readable
by TorchSharp.PyBridge. Conventions: `state.<param>` weights loaded before the forward, `in.*` inputs, `out.*`
outputs, `grad.*` gradients of the scalar `sum(out * w)` with `w.*` fixed random weights, or of the SoCo loss.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as tvops

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "model")


# ---------------------------------------------------------------------------------------------- reference modules
class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3 (v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


BLOCKS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3])}


class ResNet(nn.Module):
    """C2..C5 backbone; torchvision parameter names, no fc."""

    def __init__(self, depth, width):
        super().__init__()
        block, counts = BLOCKS[depth]
        exp = 4 if block is Bottleneck else 1
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        inplanes = width
        for i, (n, s) in enumerate(zip(counts, [1, 2, 2, 2])):
            planes = width * 2 ** i
            layers = []
            for b in range(n):
                layers.append(block(inplanes, planes, s if b == 0 else 1))
                inplanes = planes * exp
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.channels = [width * exp * 2 ** i for i in range(4)]

    def stem(self, x):
        return F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)

    def to_c4(self, x):
        return self.layer3(self.layer2(self.layer1(self.stem(x))))

    def forward(self, x):
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c2, c3, c4, self.layer4(c4)]


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, k, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class FPN(nn.Module):
    def __init__(self, in_channels, out_channels, p6=False):
        super().__init__()
        self.lateral_convs = nn.ModuleList([ConvNorm(c, out_channels, 1) for c in in_channels])
        self.fpn_convs = nn.ModuleList([ConvNorm(out_channels, out_channels, 3, 1) for _ in in_channels])
        self.p6 = p6

    def forward(self, xs):
        lat = [m(x) for m, x in zip(self.lateral_convs, xs)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        outs = [m(x) for m, x in zip(self.fpn_convs, lat)]
        if self.p6:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs


class BoxHead(nn.Module):
    def __init__(self, cin, conv, res, fc):
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(cin if i == 1 else conv, conv, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(conv))
        self.fc1 = nn.Linear(conv * res * res, fc)

    def forward(self, x):
        for i in range(1, 5):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return F.relu(self.fc1(torch.flatten(x, 1)))


class MLP(nn.Module):
    def __init__(self, cin, hidden, cout):
        super().__init__()
        self.linear1 = nn.Linear(cin, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.linear2 = nn.Linear(hidden, cout)

    def forward(self, x):
        x = self.bn1(self.linear1(x).unsqueeze(-1)).squeeze(-1)  # the official (N, C, 1) view
        return self.linear2(F.relu(x))


def boxes_to_rois(boxes, h, w):
    n, l, _ = boxes.shape
    idx = torch.arange(n, dtype=boxes.dtype).view(n, 1).repeat(1, l).view(n, l, 1)
    c = boxes[:, :, :4].clone()
    c[:, :, 0] *= w
    c[:, :, 2] *= w
    c[:, :, 1] *= h
    c[:, :, 3] *= h
    return torch.cat([idx, c], 2).reshape(n * l, 5)


def pair_loss(q, z, c):
    sim = torch.bmm(q, z.transpose(1, 2))
    return -2 * ((sim * c).sum(-1).sum(-1) / (c.sum(-1).sum(-1) + 1e-6)).mean()


class SocoFPN(nn.Module):
    def __init__(self, depth, width, fpn, conv, fc, hidden, emb, res=7, m0=0.99, K=10):
        super().__init__()
        self.encoder = ResNet(depth, width)
        self.neck = FPN(self.encoder.channels, fpn)
        self.head = BoxHead(fpn, conv, res, fc)
        self.projector = MLP(fc, hidden, emb)
        self.predictor = MLP(emb, hidden, emb)
        self.encoder_k = ResNet(depth, width)
        self.neck_k = FPN(self.encoder.channels, fpn)
        self.head_k = BoxHead(fpn, conv, res, fc)
        self.projector_k = MLP(fc, hidden, emb)
        self.res, self.m0, self.K, self.k = res, m0, K, 0

    def pairs(self):
        return [(self.encoder, self.encoder_k), (self.neck, self.neck_k), (self.head, self.head_k), (self.projector, self.projector_k)]

    def copy_to_target(self):
        for q, k in self.pairs():
            for pq, pk in zip(q.parameters(), k.parameters()):
                pk.data.copy_(pq.data)
                pk.requires_grad = False

    @torch.no_grad()
    def ema(self):
        m = 1. - (1. - self.m0) * (math.cos(math.pi * self.k / self.K) + 1) / 2.
        self.k += 1
        for q, k in self.pairs():
            for pq, pk in zip(q.parameters(), k.parameters()):
                pk.data = pk.data * m + pq.data * (1. - m)

    def embed(self, img, box_lists, target):
        enc, neck, head, proj = (self.encoder_k, self.neck_k, self.head_k, self.projector_k) if target else (self.encoder, self.neck, self.head, self.projector)
        feats = neck(enc(img))
        outs = []
        for boxes in box_lists:
            n, l, _ = boxes.shape
            per = []
            for f in feats:
                # the official code casts the map to the boxes' dtype (float32 under AMP); float64 for the exact reference
                r = tvops.roi_align(f.to(boxes.dtype), boxes_to_rois(boxes, f.shape[2], f.shape[3]), (self.res, self.res), aligned=True)
                e = proj(head(r))
                if not target:
                    e = self.predictor(e)
                per.append(F.normalize(e, dim=1).reshape(n, l, -1))
            outs.append(torch.cat(per, 1))
        return outs

    def forward(self, v1, others, b1s, bos, cs):
        q1 = self.embed(v1, b1s, False)
        qo = [self.embed(v, [b], False)[0] for v, b in zip(others, bos)]
        with torch.no_grad():
            self.ema()
            z1 = self.embed(v1, b1s, True)
            zo = [self.embed(v, [b], True)[0] for v, b in zip(others, bos)]
        loss = 0
        for p, c in enumerate(cs):
            loss = loss + pair_loss(q1[p], zo[p], c) + pair_loss(qo[p], z1[p], c.transpose(1, 2))
        return loss


class SocoC4(nn.Module):
    def __init__(self, depth, width, hidden, emb, m0=0.99, K=10):
        super().__init__()
        self.encoder = ResNet(depth, width)
        c5 = self.encoder.channels[3]
        self.projector = MLP(c5, hidden, emb)
        self.predictor = MLP(emb, hidden, emb)
        self.encoder_k = ResNet(depth, width)
        self.projector_k = MLP(c5, hidden, emb)
        self.m0, self.K, self.k = m0, K, 0

    pairs = lambda self: [(self.encoder, self.encoder_k), (self.projector, self.projector_k)]
    copy_to_target = SocoFPN.copy_to_target
    ema = SocoFPN.ema

    def embed(self, img, boxes, target):
        enc, proj = (self.encoder_k, self.projector_k) if target else (self.encoder, self.projector)
        c4 = enc.to_c4(img)
        r = tvops.roi_align(c4.to(boxes.dtype), boxes_to_rois(boxes, c4.shape[2], c4.shape[3]), (14, 14), aligned=True)
        c5 = enc.layer4(r)
        e = proj(F.avg_pool2d(c5, 7, stride=1).flatten(1))
        if not target:
            e = self.predictor(e)
        return F.normalize(e, dim=1).reshape(boxes.shape[0], boxes.shape[1], -1)

    def forward(self, v1, v2, b1, b2, c):
        q1, q2 = self.embed(v1, b1, False), self.embed(v2, b2, False)
        with torch.no_grad():
            self.ema()
            z1, z2 = self.embed(v1, b1, True), self.embed(v2, b2, True)
        return pair_loss(q1, z2, c) + pair_loss(q2, z1, c.transpose(1, 2))


# ------------------------------------------------------------------------------------------------------- helpers
def randomize(module, gen):
    """He-normal convs (spec), random linear weights, random BN affine so every path carries signal."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2. / n), generator=gen)
        elif isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.in_features)
            m.weight.data.uniform_(-bound, bound, generator=gen)
            m.bias.data.uniform_(-bound, bound, generator=gen)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.1, generator=gen)


def damp_residuals(net, gen):
    """Last BN of each residual block: gamma ~ U(0, 0.5), between the spec's zero-init and a trained network.
    With gamma ~ U(0.5, 1.5) there the tiny R50's C5 is ill-conditioned: PyTorch's own fp32 result is 8e-5 (relative)
    from its fp64 one, so no fp32 implementation could be held to 1e-5; with this it is 3e-6."""
    for m in net.modules():
        if isinstance(m, (Bottleneck, BasicBlock)):
            (m.bn3 if isinstance(m, Bottleneck) else m.bn2).weight.data.uniform_(0.0, 0.5, generator=gen)


def state(prefix, module):
    return {f"{prefix}.{k}": v.detach().clone() for k, v in module.state_dict().items()}


def target_params(prefix, model):
    """Target-network parameters (the EMA's result); BN buffers are not averaged, so they are left out."""
    return {f"{prefix}.{k}": p.detach().clone() for k, p in model.named_parameters() if "_k." in k}


def grads(prefix, module):
    return {f"{prefix}.{k}": p.grad.detach().clone() for k, p in module.named_parameters() if p.grad is not None}


def save(name, d):
    for k, v in d.items():
        assert isinstance(v, torch.Tensor), k
    d = {k: v.contiguous() for k, v in d.items()}
    path = os.path.join(OUT, name)
    torch.save(d, path, _use_new_zipfile_serialization=True)
    print(f"{name}: {len(d)} tensors, {os.path.getsize(path) / 1024:.1f} KiB")


def weighted_sum(outs, gen, d, prefix="w"):
    total = 0
    for i, o in enumerate(outs):
        w = torch.randn(o.shape, generator=gen)
        d[f"{prefix}.{i}"] = w
        total = total + (o * w).sum()
    return total


# ------------------------------------------------------------------------------------------------------ fixtures
def resnet_fixture(name, depth, width, shape, seed):
    gen = torch.Generator().manual_seed(seed)
    net = ResNet(depth, width)
    randomize(net, gen)
    damp_residuals(net, gen)
    d = state("state", net)
    x = torch.randn(shape, generator=gen).requires_grad_(True)
    d["in.x"] = x.detach().clone()
    net.train()
    outs = net(x)
    for i, o in enumerate(outs):
        d[f"out.c{i + 2}"] = o.detach().clone()
    weighted_sum(outs, gen, d).backward()
    d["grad.in.x"] = x.grad.clone()
    d.update(grads("grad", net))
    d.update(state("after", net))  # running statistics after one training-mode forward
    save(name, d)


def fpn_fixture():
    gen = torch.Generator().manual_seed(2)
    chans = [16, 32, 64, 128]
    sizes = [14, 7, 4, 2]  # a 112 input of a stride-4..32 backbone: 4 -> 7 needs size=, not scale 2
    net = FPN(chans, 8, p6=True)
    randomize(net, gen)
    d = state("state", net)
    xs = [torch.randn(2, c, s, s, generator=gen).requires_grad_(True) for c, s in zip(chans, sizes)]
    for i, x in enumerate(xs):
        d[f"in.c{i + 2}"] = x.detach().clone()
    outs = net(xs)
    for i, o in enumerate(outs):
        d[f"out.p{i + 2}"] = o.detach().clone()
    weighted_sum(outs, gen, d).backward()
    for i, x in enumerate(xs):
        d[f"grad.in.c{i + 2}"] = x.grad.clone()
    d.update(grads("grad", net))
    save("fpn.pt", d)


def roi_align_fixture():
    gen = torch.Generator().manual_seed(3)
    H, W = 10, 12
    x = torch.randn(2, 3, H, W, generator=gen)
    mixed = torch.tensor([
        [0, 1.0, 1.0, 6.0, 5.0],       # ordinary
        [1, 0.3, 0.7, 9.6, 8.2],       # fractional
        [0, 4.0, 4.0, 4.1, 4.05],      # tiny
        [1, 5.0, 3.0, 5.0, 3.0],       # empty (x1 == x2, y1 == y2)
        [0, -8.0, -6.0, 30.0, 25.0],   # oversized, beyond every edge
        [1, 10.5, 8.5, 14.0, 13.0],    # partly outside (bottom right)
        [0, -3.0, 2.0, 2.0, 9.9],      # partly outside (left)
        [1, 0.0, 0.0, 11.0, 9.0],      # exactly the map
        [0, 11.0, 9.0, 11.0, 9.0],     # a point on the last pixel
        [1, 2.2, 1.1, 2.9, 7.6],       # thin
    ])
    uniform = torch.cat([torch.tensor([[0.], [0.], [0.], [1.], [1.], [1.]]),
                         torch.tensor([[1.0, 1.0, 6.0, 5.0], [0.3, 0.7, 9.6, 8.2], [-8.0, -6.0, 30.0, 25.0],
                                       [4.0, 4.0, 4.1, 4.05], [2.2, 1.1, 2.9, 7.6], [10.5, 8.5, 14.0, 13.0]])], 1)
    d = {"in.x": x, "in.rois_mixed": mixed, "in.rois_uniform": uniform}
    cases = []
    for aligned in (False, True):
        for sr in (-1, 0, 1, 2):
            cases.append((aligned, sr, 7, 7, 1.0, 0))
    cases += [(True, -1, 7, 7, 1.0, 1), (False, 2, 7, 7, 1.0, 1), (True, -1, 3, 4, 0.5, 0), (False, 3, 2, 5, 0.5, 0),
              (True, 2, 14, 14, 1.0, 1), (True, -1, 1, 1, 0.25, 0)]
    for i, (aligned, sr, oh, ow, scale, layout) in enumerate(cases):
        xi = x.clone().requires_grad_(True)
        rois = uniform if layout else mixed
        out = tvops.roi_align(xi, rois, (oh, ow), spatial_scale=scale, sampling_ratio=sr, aligned=aligned)
        w = torch.randn(out.shape, generator=gen)
        (out * w).sum().backward()
        d[f"case{i}.params"] = torch.tensor([float(aligned), sr, oh, ow, scale, layout], dtype=torch.float64)
        d[f"case{i}.w"] = w
        d[f"case{i}.out"] = out.detach().clone()
        d[f"case{i}.grad"] = xi.grad.clone()
    # empty box list
    xi = x.clone().requires_grad_(True)
    out = tvops.roi_align(xi, torch.zeros(0, 5), (7, 7), aligned=True)
    d["empty.out"] = out.detach().clone()
    save("roi_align.pt", d)


def heads_fixture():
    gen = torch.Generator().manual_seed(4)
    head = BoxHead(8, 8, 7, 16)
    randomize(head, gen)
    mlp = MLP(16, 32, 8)
    randomize(mlp, gen)
    d = state("head", head)
    d.update(state("mlp", mlp))
    x = torch.randn(6, 8, 7, 7, generator=gen).requires_grad_(True)
    v = torch.randn(6, 16, generator=gen).requires_grad_(True)
    d["in.rois"] = x.detach().clone()
    d["in.vec"] = v.detach().clone()
    ho, mo = head(x), mlp(v)
    d["out.head"] = ho.detach().clone()
    d["out.mlp"] = mo.detach().clone()
    weighted_sum([ho, mo], gen, d).backward()
    d["grad.in.rois"] = x.grad.clone()
    d["grad.in.vec"] = v.grad.clone()
    d.update(grads("grad.head", head))
    d.update(grads("grad.mlp", mlp))
    save("heads.pt", d)


def loss64(model, run):
    """The same loss in float64 (a deep copy of the model): the exact value both fp32 implementations approximate.
    A random tiny SoCo network stacks ~70 BatchNorms over small batches; PyTorch's own fp32 loss is ~1e-5 (absolute)
    from this value, so the C# side is judged against it as well as against PyTorch's fp32 result."""
    import copy
    m = copy.deepcopy(model).double()
    with torch.no_grad():
        return run(m, lambda t: t.double()).detach().clone()


def soco_boxes(gen, n, l):
    """Random normalised boxes N×L×5 (ids 1..), well inside [0, 1)."""
    xy = torch.rand(n, l, 2, generator=gen) * 0.6
    wh = torch.rand(n, l, 2, generator=gen) * 0.35 + 0.05
    ids = torch.arange(1, l + 1, dtype=torch.float32).view(1, l, 1).repeat(n, 1, 1)
    return torch.cat([xy, xy + wh, ids], 2)


def soco_corr(gen, n, l, levels=4):
    """A correspondence built as docs/soco-reference.md §4.8: each box's id at one level in each view, sentinels elsewhere."""
    c = torch.zeros(n, levels * l, levels * l)
    for b in range(n):
        a1 = torch.full((levels * l,), -1.)
        a2 = torch.full((levels * l,), -2.)
        for i in range(l):
            a1[int(torch.randint(levels, (1,), generator=gen)) * l + i] = i + 1
            # view 2: the same ids, one dropped to exercise empty rows
            if i != l - 1 or b == 0:
                a2[int(torch.randint(levels, (1,), generator=gen)) * l + i] = i + 1
        c[b] = (a1.view(-1, 1) == a2.view(1, -1)).float()
    return c


def soco_fpn_fixture():
    gen = torch.Generator().manual_seed(5)
    n, l = 2, 4
    model = SocoFPN(50, 4, 8, 8, 16, 32, 8, m0=0.99, K=10)
    for m in (model.encoder, model.neck, model.head, model.projector, model.predictor):
        randomize(m, gen)
    damp_residuals(model.encoder, gen)
    model.copy_to_target()
    model.k = 3  # start mid-schedule so the EMA momentum is not the m0 of step 0
    # make the target differ from the online network so the EMA is visible
    with torch.no_grad():
        for p in list(model.encoder_k.parameters()) + list(model.neck_k.parameters()) + list(model.head_k.parameters()) + list(model.projector_k.parameters()):
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    d = state("state", model)
    v1 = torch.randn(n, 3, 64, 64, generator=gen)
    v2 = torch.randn(n, 3, 64, 64, generator=gen)
    v3 = torch.randn(n, 3, 56, 56, generator=gen)  # C5 2×2 → C4 4×4 → C3 7×7: FPN upsamples 4 → 7 by size=
    b1_12, b1_13, b2, b3 = (soco_boxes(gen, n, l) for _ in range(4))
    c12, c13 = soco_corr(gen, n, l), soco_corr(gen, n, l)
    d.update({"in.v1": v1, "in.v2": v2, "in.v3": v3, "in.b1_12": b1_12, "in.b1_13": b1_13, "in.b2": b2, "in.b3": b3,
              "in.c12": c12, "in.c13": c13, "in.ema_step": torch.tensor(model.k, dtype=torch.int64)})
    model.train()
    d["out.loss64"] = loss64(model, lambda m, t: m(t(v1), [t(v2), t(v3)], [t(b1_12), t(b1_13)], [t(b2), t(b3)], [t(c12), t(c13)]))
    loss = model(v1, [v2, v3], [b1_12, b1_13], [b2, b3], [c12, c13])
    loss.backward()
    d["out.loss"] = loss.detach().clone()
    for pre in ("encoder", "neck", "head", "projector", "predictor"):
        d.update(grads(f"grad.{pre}", getattr(model, pre)))
    d.update(target_params("after", model))
    save("soco_fpn.pt", d)


def soco_fpn_star_fixture():
    """SoCo*: the SoCo_FPN model with a third pair (V4 = 112-like view sharing V2's boxes, docs/soco-reference.md §4.12d/§5.10).
    Loss only (the per-parameter gradients are covered by soco_fpn.pt), so the weights come from a seed the C# test
    cannot share: they are saved too, but without gradients the file stays small."""
    gen = torch.Generator().manual_seed(7)
    n, l = 2, 4
    model = SocoFPN(18, 4, 8, 8, 16, 32, 8, m0=0.99, K=10)
    for m in (model.encoder, model.neck, model.head, model.projector, model.predictor):
        randomize(m, gen)
    damp_residuals(model.encoder, gen)
    model.copy_to_target()
    d = state("state", model)
    v1, v2 = torch.randn(n, 3, 64, 64, generator=gen), torch.randn(n, 3, 64, 64, generator=gen)
    v3 = torch.randn(n, 3, 48, 48, generator=gen)
    v4 = F.interpolate(v2, size=(32, 32), mode="bilinear", align_corners=False)
    b1_12, b1_13, b2, b3 = (soco_boxes(gen, n, l) for _ in range(4))
    b1_14, b4 = b1_12.clone(), b2.clone()
    c12, c13, c14 = soco_corr(gen, n, l), soco_corr(gen, n, l), soco_corr(gen, n, l)
    d.update({"in.v1": v1, "in.v2": v2, "in.v3": v3, "in.v4": v4, "in.b1_12": b1_12, "in.b1_13": b1_13, "in.b1_14": b1_14,
              "in.b2": b2, "in.b3": b3, "in.b4": b4, "in.c12": c12, "in.c13": c13, "in.c14": c14})
    model.train()
    run = lambda m, t: m(t(v1), [t(v2), t(v3), t(v4)], [t(b1_12), t(b1_13), t(b1_14)], [t(b2), t(b3), t(b4)], [t(c12), t(c13), t(c14)])
    d["out.loss64"] = loss64(model, run)
    loss = run(model, lambda t: t)
    loss.backward()
    d["out.loss"] = loss.detach().clone()
    d["grad.predictor.linear2.weight"] = model.predictor.linear2.weight.grad.clone()
    d["grad.encoder.conv1.weight"] = model.encoder.conv1.weight.grad.clone()
    save("soco_fpn_star.pt", d)


def soco_c4_fixture():
    gen = torch.Generator().manual_seed(6)
    n, l = 2, 4
    model = SocoC4(50, 4, 32, 8, m0=0.99, K=10)
    for m in (model.encoder, model.projector, model.predictor):
        randomize(m, gen)
    damp_residuals(model.encoder, gen)
    model.copy_to_target()
    d = state("state", model)
    v1 = torch.randn(n, 3, 64, 64, generator=gen)
    v2 = torch.randn(n, 3, 64, 64, generator=gen)
    b1, b2 = soco_boxes(gen, n, l), soco_boxes(gen, n, l)
    ids1, ids2 = b1[:, :, 4], b2[:, :, 4].clone()
    ids2[1, 3] = 1  # a padding duplicate: several 1s in a row
    c = (ids1.unsqueeze(2) == ids2.unsqueeze(1)).float()
    d.update({"in.v1": v1, "in.v2": v2, "in.b1": b1, "in.b2": b2, "in.c": c})
    model.train()
    d["out.loss64"] = loss64(model, lambda m, t: m(t(v1), t(v2), t(b1), t(b2), t(c)))
    loss = model(v1, v2, b1, b2, c)
    loss.backward()
    d["out.loss"] = loss.detach().clone()
    for pre in ("encoder", "projector", "predictor"):
        d.update(grads(f"grad.{pre}", getattr(model, pre)))
    d.update(target_params("after", model))
    save("soco_c4.pt", d)


def main():
    os.makedirs(OUT, exist_ok=True)
    resnet_fixture("resnet50_tiny.pt", 50, 4, (2, 3, 64, 64), 0)
    resnet_fixture("resnet18_tiny.pt", 18, 4, (2, 3, 48, 40), 1)
    fpn_fixture()
    roi_align_fixture()
    heads_fixture()
    soco_fpn_fixture()
    soco_fpn_star_fixture()
    soco_c4_fixture()


if __name__ == "__main__":
    main()
