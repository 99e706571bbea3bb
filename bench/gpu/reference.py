#!/usr/bin/env python3
"""The SoCo_FPN R50 training step in PyTorch on a GPU: the counterpart of `soco bench step` (bench/gpu/run).

    python3 bench/gpu/reference.py --batch 128 --precision fp32|bf16 [--steps 10] [--warmup 3] [--json out.json]

The model is bench/model's reference (tools/torch_model_fixtures.py: SoCo_FPN as the official code runs it, RoIAlign
is torchvision.ops.roi_align, every box pooled on every level, EMA then target forward) at the released sizes (R50,
FPN 256, head 256/1024, MLPs 4096/256). One change to run it on a GPU: that module's boxes_to_rois builds its batch
index column on the CPU, so it is replaced here by the same arithmetic on the boxes' device. The optimiser is LARS as
spec §6 and the official wrapper (trust ratio on conv/linear weights, no decay or adaptation on 1-D parameters, SGD
momentum 0.9), evaluated with tensor ops only, as ours. bf16 = torch.autocast(bfloat16) around the forward (the
official runs used apex O1 fp16; our bf16 runs only the convolutions in bf16). Same fixed synthetic inputs as ours
(views 224/224/112, 4 boxes per list, each box at one random level per view), same warm-up and timing (CUDA
synchronise after each step). cuDNN autotuning stays off, as in TorchSharp (which cannot turn it on).
"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import torch_model_fixtures as T  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
ap.add_argument("--device", default="cuda")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--json")
a = ap.parse_args()
torch.set_num_threads(a.threads)  # the fixtures module sets 1 at import
dev = torch.device(a.device)


def boxes_to_rois(boxes, h, w):
    """T.boxes_to_rois with the batch-index column on the boxes' device."""
    n, l, _ = boxes.shape
    idx = torch.arange(n, dtype=boxes.dtype, device=boxes.device).view(n, 1).repeat(1, l).view(n, l, 1)
    c = boxes[:, :, :4].clone()
    c[:, :, 0] *= w
    c[:, :, 2] *= w
    c[:, :, 1] *= h
    c[:, :, 3] *= h
    return torch.cat([idx, c], 2).reshape(n * l, 5)


T.boxes_to_rois = boxes_to_rois


class Lars:
    """LARS over SGD with momentum (spec §6): weights get decay + trust ratio 0.001·‖w‖/(‖g‖+1e-8) (1 if a norm is 0)."""

    def __init__(self, params, lr, wd=1e-5, momentum=0.9, trust=0.001, eps=1e-8):
        self.groups = [[p for p in params if p.dim() != 1], [p for p in params if p.dim() == 1]]
        self.lr, self.wd, self.m, self.trust, self.eps = lr, wd, momentum, trust, eps
        self.buf = {}

    def zero_grad(self):
        for g in self.groups:
            for p in g:
                if p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self):
        for gi, group in enumerate(self.groups):
            for p in group:
                if p.grad is None:
                    continue
                g = p.grad
                if gi == 0:
                    g = g.add(p, alpha=self.wd)
                    wn, gn = p.norm(), g.norm()
                    t = torch.where((wn > 0) & (gn > 0), self.trust * wn / (gn + self.eps), torch.ones_like(wn))
                    g = g * t
                b = self.buf.get(p)
                if b is None:
                    self.buf[p] = b = g.clone()
                else:
                    b.mul_(self.m).add_(g)
                p.add_(b, alpha=-self.lr)


torch.manual_seed(0)
model = T.SocoFPN(50, 64, 256, 256, 1024, 4096, 256, m0=0.99, K=1000)
model.copy_to_target()
model.to(dev).train()
opt = Lars([p for p in model.parameters() if p.requires_grad], lr=0.1)

n, L = a.batch, 4
rng = random.Random(1)


def boxes():
    d = torch.zeros(n, L, 5)
    for b in range(n):
        for i in range(L):
            x, y = rng.random() * 0.6, rng.random() * 0.6
            w, h = rng.random() * 0.35 + 0.05, rng.random() * 0.35 + 0.05
            d[b, i] = torch.tensor([x, y, x + w, y + h, i + 1])
    return d


def corr():
    c = torch.zeros(n, 4 * L, 4 * L)
    for b in range(n):
        for i in range(L):
            c[b, rng.randrange(4) * L + i, rng.randrange(4) * L + i] = 1
    return c


v1, v2, v3 = torch.randn(n, 3, 224, 224), torch.randn(n, 3, 224, 224), torch.randn(n, 3, 112, 112)
b1s, bos, cs = [boxes(), boxes()], [boxes(), boxes()], [corr(), corr()]
v1, v2, v3 = v1.to(dev), v2.to(dev), v3.to(dev)
b1s, bos, cs = [t.to(dev) for t in b1s], [t.to(dev) for t in bos], [t.to(dev) for t in cs]

times = []
loss = None
for s in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad()
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        loss = model(v1, [v2, v3], b1s, bos, cs)
    loss.backward()
    opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if s >= a.warmup:
        times.append(dt)
    print(f"step {s}{' (warm-up)' if s < a.warmup else ''}: {dt:.4f} s = {n / dt:.1f} images/s", flush=True)
times.sort()
med = times[len(times) // 2]
r = {"torch": torch.__version__, "device": str(dev), "batch": n, "precision": a.precision, "steps": a.steps,
     "median_step_seconds": med, "min_step_seconds": times[0], "images_per_second": n / med, "last_loss": float(loss),
     "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None}
print(f"PyTorch {torch.__version__} SoCo_FPN R50 step on {dev}, batch {n}, {a.precision}: median {med:.4f} s (min {times[0]:.4f}) "
      f"= {n / med:.1f} images/s; last loss {float(loss):.4f}")
if a.json:
    with open(a.json, "w") as f:
        json.dump(r, f, indent=2)
