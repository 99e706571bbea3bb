#!/usr/bin/env python3
"""Golden values for SoCo.NET's BYOL arm (tests/Soco.Tests/Modeling/ByolTests.cs), from a PyTorch BYOL written from
the paper (Grill et al. 2020, "Bootstrap your own latent", §3.1 and Algorithm 1) — the same steps as the common
reference implementations (e.g. lucidrains/byol-pytorch: loss_fn = 2 - 2 * cos, loss = loss_one + loss_two, target =
EMA "old * beta + (1 - beta) * new"):

  online  = encoder (ResNet-18, width 8, torchvision's blocks and names) -> global average pool of C5
            -> projector (Linear, BN1d, ReLU, Linear) -> predictor (same shape)
  target  = encoder_k -> pool -> projector_k, parameters xi <- m * xi + (1 - m) * theta before the target forward,
            m = 1 - (1 - m0) * (cos(pi * k / K) + 1) / 2 (BYOL's cosine schedule, §3.2)
  loss    = sum over view pairs (v1, vk) of mean_n[2 - 2 <q(v1), z(vk)>] + mean_n[2 - 2 <q(vk), z(v1)>]
            (q, z L2-normalised; two pairs: v1-v2 at 32 px, v1-v3 at 16 px, as SoCo's FPN recipe gives three views)

Writes tests/fixtures/byol/byol_reference.pth: the weights before the step (online and a different target),
ema_step k, the three views, and expected: loss (float64), the target parameters after the EMA update, and the
gradient of every online parameter. float32 throughout, one thread, as the test runs.
Run with Debian's torch: /usr/bin/python3 tools/byol_fixtures.py
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, conv1x1

torch.set_num_threads(1)
W, HIDDEN, EMB = 8, 32, 16
M0, K_TOTAL, K_STEP = 0.9, 10, 3


class ResNet18(nn.Module):
    """torchvision's ResNet-18 layout and parameter names at stem width W (torchvision hard-codes 64)."""

    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = w
        for i, (planes, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]):
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes)))
            inplanes = planes

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class Mlp(nn.Module):
    def __init__(self, i, h, o):
        super().__init__()
        self.linear1, self.bn1, self.linear2 = nn.Linear(i, h), nn.BatchNorm1d(h), nn.Linear(h, o)

    def forward(self, x):
        return self.linear2(F.relu(self.bn1(self.linear1(x))))


def randomise(module, gen):
    """Every parameter random (BN affine included), so nothing is checked on ones and zeros only."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def main():
    gen = torch.Generator().manual_seed(12)
    online = nn.ModuleDict({"encoder": ResNet18(W), "projector": Mlp(8 * W, HIDDEN, EMB), "predictor": Mlp(EMB, HIDDEN, EMB)})
    target = nn.ModuleDict({"encoder": ResNet18(W), "projector": Mlp(8 * W, HIDDEN, EMB)})
    randomise(online, gen)
    randomise(target, gen)   # a target that already differs from the online network, as after some steps
    views = [torch.randn(4, 3, 32, 32, generator=gen), torch.randn(4, 3, 32, 32, generator=gen), torch.randn(4, 3, 16, 16, generator=gen)]

    out = {}
    for prefix, net, suffix in (("", online, ""), ("", target, "_k")):
        for k, v in net.state_dict().items():
            part, rest = k.split(".", 1)
            out[f"state.{part}{suffix}.{rest}"] = v.clone()
    out["state.ema_step"] = torch.tensor(K_STEP)
    for i, v in enumerate(views):
        out[f"view{i + 1}"] = v

    online.train()
    target.train()

    def q(x):
        return F.normalize(online["predictor"](online["projector"](online["encoder"](x).mean(dim=(2, 3)))), dim=1)

    def z(x):
        return F.normalize(target["projector"](target["encoder"](x).mean(dim=(2, 3))), dim=1)

    def loss_fn(a, b):
        return 2 - 2 * (a * b).sum(dim=-1)

    q1, q2, q3 = q(views[0]), q(views[1]), q(views[2])
    m = 1 - (1 - M0) * (math.cos(math.pi * K_STEP / K_TOTAL) + 1) / 2
    with torch.no_grad():
        for name in ("encoder", "projector"):
            for pt, po in zip(target[name].parameters(), online[name].parameters()):
                pt.copy_(pt * m + po * (1 - m))
        z1, z2, z3 = z(views[0]), z(views[1]), z(views[2])
    loss = (loss_fn(q1, z2) + loss_fn(q2, z1)).mean() + (loss_fn(q1, z3) + loss_fn(q3, z1)).mean()
    loss.backward()

    out["momentum"] = torch.tensor(m, dtype=torch.float64)
    out["loss"] = loss.detach().to(torch.float64)
    for name in ("encoder", "projector"):
        for k, p in target[name].named_parameters():
            out[f"target_after.{name}_k.{k}"] = p.detach().clone()
    for name in ("encoder", "projector", "predictor"):
        for k, p in online[name].named_parameters():
            out[f"grad.{name}.{k}"] = p.grad.detach().clone()

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "byol", "byol_reference.pth")
    torch.save(out, path, _use_new_zipfile_serialization=True)
    print(f"wrote {os.path.normpath(path)}: loss {loss.item():.6f}, m {m:.6f}, {len(out)} tensors")


if __name__ == "__main__":
    main()
