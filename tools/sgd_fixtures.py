#!/usr/bin/python3
"""Golden values for Soco.Solver: PyTorch 1.13's torch.optim.SGD (momentum 0.9, three parameter groups with their own
weight decay, as Detectron2 builds them with WEIGHT_DECAY_NORM = 0) stepped 9 times on fixed parameters and gradients
with the learning rates of Detectron2's WarmupMultiStepLR (detectron2/solver/lr_scheduler.py, v0.6: linear warm-up
factor, gamma ** bisect_right(milestones, iter)), reproduced below as a torch _LRScheduler so torch drives it.

Run with Debian's torch (/usr/bin/python3, torch 1.13): tools/sgd_fixtures.py
Writes tests/fixtures/training/sgd_golden.json (float32 values as Python floats, exact)."""
import json, os, sys
from bisect import bisect_right

import torch

torch.set_num_threads(1)
torch.manual_seed(0)


class WarmupMultiStepLR(torch.optim.lr_scheduler._LRScheduler):
    """Detectron2 v0.6's WarmupMultiStepLR (warmup_method "linear")."""

    def __init__(self, optimizer, milestones, gamma=0.1, warmup_factor=0.001, warmup_iters=1000, last_epoch=-1):
        self.milestones, self.gamma, self.warmup_factor, self.warmup_iters = milestones, gamma, warmup_factor, warmup_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        if it >= self.warmup_iters:
            f = 1.0
        else:
            alpha = it / self.warmup_iters
            f = self.warmup_factor * (1 - alpha) + alpha
        return [base_lr * f * self.gamma ** bisect_right(self.milestones, it) for base_lr in self.base_lrs]


base_lr, max_iter, warmup_iters, wd = 0.02, 9, 3, 0.1
milestones = [max_iter * 2 // 3, max_iter * 8 // 9]          # Detectron2 1x proportions: 6, 8
params = {"conv.weight": torch.randn(3, 4), "conv.bias": torch.randn(4), "bn.weight": torch.randn(4), "bn.bias": torch.randn(4)}
start = {k: v.clone() for k, v in params.items()}
ps = {k: torch.nn.Parameter(v) for k, v in params.items()}
groups = [
    {"params": [ps["conv.weight"]], "weight_decay": wd},
    {"params": [ps["conv.bias"]], "weight_decay": wd},
    {"params": [ps["bn.weight"], ps["bn.bias"]], "weight_decay": 0.0},
]
opt = torch.optim.SGD(groups, lr=base_lr, momentum=0.9)
sched = WarmupMultiStepLR(opt, milestones, warmup_factor=0.001, warmup_iters=warmup_iters)
steps = []
for it in range(max_iter):
    lr = opt.param_groups[0]["lr"]
    grads = {k: torch.randn_like(v) for k, v in params.items()}
    opt.zero_grad()
    for k, p in ps.items():
        p.grad = grads[k].clone()
    opt.step()
    steps.append({
        "lr": lr,
        "grads": {k: g.flatten().tolist() for k, g in grads.items()},
        "params": {k: p.detach().flatten().tolist() for k, p in ps.items()},
        "momentum": {k: opt.state[p]["momentum_buffer"].flatten().tolist() for k, p in ps.items()},
    })
    sched.step()

out = {
    "what": "torch.optim.SGD (torch %s) momentum 0.9, groups conv.weight wd %g / conv.bias wd %g / bn.* wd 0, lrs of "
            "Detectron2's WarmupMultiStepLR(base %g, warmup %d iters from 0.001, milestones %s, gamma 0.1); made by tools/sgd_fixtures.py"
            % (torch.__version__, wd, wd, base_lr, warmup_iters, milestones),
    "base_lr": base_lr, "max_iter": max_iter, "warmup_iters": warmup_iters, "milestones": milestones, "weight_decay": wd,
    "shapes": {k: list(v.shape) for k, v in params.items()},
    "start": {k: v.flatten().tolist() for k, v in start.items()},
    "steps": steps,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "training", "sgd_golden.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path), file=sys.stderr)
