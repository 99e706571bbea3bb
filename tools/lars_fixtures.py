#!/usr/bin/env python3
"""Golden values for SoCo.NET's LARS (tests/Soco.Tests/Training/LarsTests.cs).

Spec §6: per step, per parameter with a gradient
  1. wd > 0:   g <- g + wd * w
  2. adapt:    trust = 0.001 * ||w|| / (||g|| + 1e-8) if both norms > 0 else 1;  g <- trust * g
  3. SGD:      v <- 0.9 v + g  (PyTorch SGD: first step v <- g);  w <- w - lr * v
computed twice in float64: (a) written out from the formula, (b) the official wrapper pattern (grads rewritten in
place, then torch.optim.SGD(momentum=0.9, weight_decay=0).step()); the two must agree before the file is written.
Run with Debian's torch: /usr/bin/python3 tools/lars_fixtures.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
TRUST, EPS, MOM = 0.001, 1e-8, 0.9
params = {
    "conv.weight": (torch.randn(4, 3, 3, 3, dtype=torch.float64) * 0.2, 1e-2, True),
    "fc.weight": (torch.randn(5, 6, dtype=torch.float64), 1e-2, True),
    "zero.weight": (torch.zeros(3, 2, dtype=torch.float64), 1e-2, True),  # ||w|| = 0 -> trust 1
    "bn.weight": (torch.ones(4, dtype=torch.float64) + 0.1 * torch.randn(4, dtype=torch.float64), 0.0, False),
    "fc.bias": (torch.randn(5, dtype=torch.float64) * 0.1, 0.0, False),
}
steps = 4
lrs = [0.08, 1.5, 2.0, 0.7]
grads = [{k: torch.randn_like(w) * (0.5 + s) for k, (w, _, _) in params.items()} for s in range(steps)]
grads[1]["fc.bias"] = torch.zeros(5, dtype=torch.float64)  # ||g|| = 0 on a plain parameter


def formula():
    w = {k: v[0].clone() for k, v in params.items()}
    buf = {}
    out = []
    for s in range(steps):
        for k, (_, wd, adapt) in params.items():
            g = grads[s][k].clone()
            if wd > 0:
                g = g + wd * w[k]
            if adapt:
                wn, gn = w[k].norm(), g.norm()
                trust = TRUST * wn / (gn + EPS) if wn > 0 and gn > 0 else 1.0
                g = g * trust
            buf[k] = g.clone() if k not in buf else MOM * buf[k] + g
            w[k] = w[k] - lrs[s] * buf[k]
        out.append({k: v.clone() for k, v in w.items()})
    return out, buf


def official():
    ps = {k: torch.nn.Parameter(v[0].clone()) for k, v in params.items()}
    groups = [{"params": [ps[k] for k, v in params.items() if v[2]], "weight_decay": 1e-2, "layer_adaptation": True},
              {"params": [ps[k] for k, v in params.items() if not v[2]], "weight_decay": 0.0, "layer_adaptation": False}]
    opt = torch.optim.SGD(groups, lr=lrs[0], momentum=MOM)
    out = []
    for s in range(steps):
        for k, p in ps.items():
            p.grad = grads[s][k].clone()
        with torch.no_grad():
            decays = []
            for group in opt.param_groups:
                wd = group["weight_decay"]
                decays.append(wd)
                group["weight_decay"] = 0  # SGD's own weight decay is off during the step
                group["lr"] = lrs[s]
                for p in group["params"]:
                    if wd != 0:
                        p.grad.data += wd * p.data
                    pn, gn = torch.norm(p.data), torch.norm(p.grad.data)
                    if pn != 0 and gn != 0 and group["layer_adaptation"]:
                        p.grad.data *= TRUST * pn / (gn + EPS)
        opt.step()
        for group, wd in zip(opt.param_groups, decays):
            group["weight_decay"] = wd
        out.append({k: p.detach().clone() for k, p in ps.items()})
    return out


a, bufs = formula()
b = official()
worst = max((a[s][k] - b[s][k]).abs().max().item() for s in range(steps) for k in params)
assert worst < 1e-14, worst


def flat(t):
    return [float(x) for x in t.reshape(-1).tolist()]


fixture = {
    "trust_coefficient": TRUST, "eps": EPS, "momentum": MOM, "lrs": lrs,
    "params": {k: {"shape": list(w.shape), "weight_decay": wd, "adapt": adapt, "init": flat(w)} for k, (w, wd, adapt) in params.items()},
    "grads": [{k: flat(g) for k, g in gs.items()} for gs in grads],
    "after": [{k: flat(w) for k, w in ws.items()} for ws in a],
    "momentum_buffers": {k: flat(v) for k, v in bufs.items()},
    "formula_vs_official_max_abs": worst,
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "training", "lars_golden.json")
with open(path, "w") as f:
    json.dump(fixture, f, indent=1)
print(f"wrote {path}; formula vs official wrapper: max |diff| {worst:.2e}")
