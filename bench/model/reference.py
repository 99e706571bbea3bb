#!/usr/bin/python3
"""The same SoCo_FPN training step in PyTorch (Debian torch 1.13), for bench/model/Program.cs.

    /usr/bin/python3 bench/model/reference.py [batch=8] [threads=2] [steps=3] [fp32|bf16] [contiguous|channels_last]

bf16 is PyTorch's CPU autocast (torch.autocast("cpu", dtype=torch.bfloat16)) around the forward, as an AMP user would
write it; channels_last converts the model (model.to(memory_format=torch.channels_last)) and the views.

Run it with 2+ threads or batch >= 4: with one thread and fewer than 16 RoIs PyTorch 1.13 sends the 1x1 convolutions
to its slow non-oneDNN path (measured: batch 2, 1 thread took 43 s a step against 9 s for batch 8, 2 threads).
The reference modules are tools/torch_model_fixtures.py's at released sizes (R50, FPN 256, head 256/1024, MLPs
4096/256). Every nn.Linear is routed through an equivalent 1x1 convolution: Debian's torch runs matrix products on a
slow reference BLAS here (docs/torchsharp.md), and a comparison would otherwise measure that BLAS.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import torch_model_fixtures as T  # noqa: E402

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
bf16 = len(sys.argv) > 4 and sys.argv[4] == "bf16"
channels_last = len(sys.argv) > 5 and sys.argv[5] == "channels_last"
label = ("bf16 autocast" if bf16 else "fp32") + ("+channels_last" if channels_last else "")
torch.set_num_threads(threads)
torch.manual_seed(0)


class ConvLinear(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.conv = nn.Conv2d(lin.in_features, lin.out_features, 1, bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(lin.weight.view(*lin.weight.shape, 1, 1))
            self.conv.bias.copy_(lin.bias)

    def forward(self, x):
        return self.conv(x.reshape(x.shape[0], -1, 1, 1)).flatten(1)


def route(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, ConvLinear(child))
        else:
            route(child)


model = T.SocoFPN(50, 64, 256, 256, 1024, 4096, 256, m0=0.99, K=1000)
model.copy_to_target()
route(model)
model.train()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
L = 4
v1, v2, v3 = torch.randn(batch, 3, 224, 224), torch.randn(batch, 3, 224, 224), torch.randn(batch, 3, 112, 112)
if channels_last:
    model = model.to(memory_format=torch.channels_last)
    v1, v2, v3 = (v.contiguous(memory_format=torch.channels_last) for v in (v1, v2, v3))
gen = torch.Generator().manual_seed(1)
bs = [T.soco_boxes(gen, batch, L) for _ in range(4)]
cs = [T.soco_corr(gen, batch, L), T.soco_corr(gen, batch, L)]
times = []
if len(sys.argv) > 6 and sys.argv[6] == "profile":
    # where the time goes: one step under the autograd profiler after a warm-up step
    from torch.profiler import profile, ProfilerActivity
    for s in range(2):
        opt.zero_grad()
        with profile(activities=[ProfilerActivity.CPU]) if s == 1 else torch.autograd.profiler.record_function("warmup") as prof:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(v1, [v2, v3], bs[:2], bs[2:], cs)
            loss.backward()
            opt.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    sys.exit(0)
cpu_times = []
for s in range(steps + 1):
    c0 = time.process_time()
    t0 = time.perf_counter()
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(v1, [v2, v3], bs[:2], bs[2:], cs)
    fwd = time.perf_counter() - t0
    loss.backward()
    bwd = time.perf_counter() - t0 - fwd
    opt.step()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if s > 0:
        times.append(dt)
        cpu_times.append(cpu)
    load = open("/proc/loadavg").read().split()[0]
    print(f"step {s}: {dt:.2f} s, CPU {cpu:.2f} s (forward incl. EMA + target {fwd:.2f}, backward {bwd:.2f}), loss {loss.item():.4f}, load {load}", flush=True)
times.sort()
cpu_times.sort()
print(f"PyTorch {torch.__version__} (Linear as 1x1 conv, {label}): median step {times[len(times) // 2]:.2f} s, CPU {cpu_times[len(cpu_times) // 2]:.2f} s (batch {batch}, {threads} threads)")
