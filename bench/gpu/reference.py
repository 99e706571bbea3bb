#!/usr/bin/env python3
"""The SoCo_FPN R50 training step in PyTorch on a GPU: the counterpart of `soco bench step` (bench/gpu/run).

    python3 bench/gpu/reference.py --batch 128 --precision fp32|bf16 [--steps 10] [--warmup 3] [--json out.json]
    python3 bench/gpu/reference.py --mode breakdown --batch 128 [--steps 5] --json out.json
    python3 bench/gpu/reference.py --mode parity --dump ours.pth --ours parity.json --json out.json

`breakdown`: the step's phases (forward online, EMA, forward target, loss, backward, optimiser), the device synchronised
at each boundary, and RoIAlign alone on one 224 view's pyramid shapes: the counterpart of `soco bench step --breakdown`.
`parity`: the verdict on `soco bench parity --dump`: PyTorch runs the same step from the same initial weights and inputs
(read from ours' dump) on the CPU and on CUDA (TF32 off); its own CUDA-vs-CPU difference per tensor is the noise floor
ours is held to (docs/gpu.md, "Parity"), and ours' CUDA results are compared with PyTorch's CUDA results directly.

The model is bench/model's reference (tools/torch_model_fixtures.py: SoCo_FPN as the official code runs it, RoIAlign
is torchvision.ops.roi_align, every box pooled on every level, EMA then target forward) at the released sizes (R50,
FPN 256, head 256/1024, MLPs 4096/256). One change to run it on a GPU: that module's boxes_to_rois builds its batch
index column on the CPU, so it is replaced here by the same arithmetic on the boxes' device. The optimiser is LARS as
docs/soco-reference.md §6 and the official wrapper (trust ratio on conv/linear weights, no decay or adaptation on 1-D parameters, SGD
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
ap.add_argument("--mode", choices=["step", "breakdown", "parity"], default="step")
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
ap.add_argument("--device", default="cuda")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--dump", help="parity: the .pth written by `soco bench parity --dump`")
ap.add_argument("--ours", help="parity: the JSON written by `soco bench parity --json` (ours' per-tensor CUDA-vs-CPU errors)")
ap.add_argument("--factor", type=float, default=5.0, help="parity: ours may be this many times PyTorch's own CUDA-vs-CPU error")
ap.add_argument("--floor", type=float, default=1e-4, help="parity: errors below this always pass")
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
    """LARS over SGD with momentum (docs/soco-reference.md §6): weights get decay + trust ratio 0.001·‖w‖/(‖g‖+1e-8) (1 if a norm is 0)."""

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


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def synthetic(n, L=4, seed=1):
    """Fixed synthetic inputs of the released shapes (views 224/224/112, L boxes per list, each box at one random
    level per view in the correspondence), as `soco bench step` makes them (not the same draws)."""
    rng = random.Random(seed)

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
    return v1.to(dev), [v2.to(dev), v3.to(dev)], [t.to(dev) for t in b1s], [t.to(dev) for t in bos], [t.to(dev) for t in cs]


def released_model():
    torch.manual_seed(0)
    model = T.SocoFPN(50, 64, 256, 256, 1024, 4096, 256, m0=0.99, K=1000)
    model.copy_to_target()
    model.to(dev).train()
    return model, Lars([p for p in model.parameters() if p.requires_grad], lr=0.1)


def write_json(r):
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)


def step_mode():
    model, opt = released_model()
    n = a.batch
    v1, others, b1s, bos, cs = synthetic(n)
    times = []
    loss = None
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = model(v1, others, b1s, bos, cs)
        loss.backward()
        opt.step()
        sync()
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
    write_json(r)


def roi_align_timing(n, reps):
    """torchvision's RoIAlign alone on one 224 view's P2..P5 shapes, as `soco bench step --breakdown` times ours."""
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(n, 4, 2, generator=g) * 0.6
    boxes = torch.cat([xy, xy + torch.rand(n, 4, 2, generator=g) * 0.35 + 0.05, torch.ones(n, 4, 1)], 2).to(dev)
    feats = [torch.randn(n, 256, s, s, device=dev, requires_grad=True) for s in (56, 28, 14, 7)]

    def run(backward):
        total = 0.0
        for i in range(reps + 1):
            sync()
            t0 = time.perf_counter()
            out = sum(T.tvops.roi_align(f, boxes_to_rois(boxes, f.shape[2], f.shape[3]), (7, 7), aligned=True).sum() for f in feats)
            if backward:
                out.backward()
            sync()
            if i > 0:
                total += time.perf_counter() - t0
            for f in feats:
                f.grad = None
        return 1000 * total / reps

    return {"forward_4_levels": run(False), "forward_backward_4_levels": run(True)}


def breakdown_mode():
    model, opt = released_model()
    n = a.batch
    v1, others, b1s, bos, cs = synthetic(n)
    phases = {}
    lap = [0.0]

    def mark(name, timed):
        sync()
        now = time.perf_counter()
        if timed:
            phases[name] = phases.get(name, 0.0) + now - lap[0]
        lap[0] = now

    steps = []
    for s in range(a.warmup + a.steps):
        timed = s >= a.warmup
        opt.zero_grad()
        sync()
        t0 = lap[0] = time.perf_counter()
        # T.SocoFPN.forward, cut at its phase boundaries
        q1 = model.embed(v1, b1s, False)
        qo = [model.embed(v, [b], False)[0] for v, b in zip(others, bos)]
        mark("forward_online", timed)
        with torch.no_grad():
            model.ema()
            mark("ema", timed)
            z1 = model.embed(v1, b1s, True)
            zo = [model.embed(v, [b], True)[0] for v, b in zip(others, bos)]
        mark("forward_target", timed)
        loss = 0
        for p, c in enumerate(cs):
            loss = loss + T.pair_loss(q1[p], zo[p], c) + T.pair_loss(qo[p], z1[p], c.transpose(1, 2))
        mark("loss", timed)
        loss.backward()
        mark("backward", timed)
        opt.step()
        mark("optimizer", timed)
        if timed:
            steps.append(time.perf_counter() - t0)
    ms = {k: 1000 * v / a.steps for k, v in phases.items()}
    roi = roi_align_timing(n, 5)
    total = sum(ms.values())
    print(f"phase (mean of {a.steps} steps, synchronised) | ms | share")
    for k, v in ms.items():
        print(f"  {k:<16} | {v:8.1f} | {100 * v / total:5.1f} %")
    print(f"  {'sum':<16} | {total:8.1f} |")
    for k, v in roi.items():
        print(f"  roi_align {k:<22} | {v:8.2f} ms")
    steps.sort()
    med = steps[len(steps) // 2]
    print(f"PyTorch {torch.__version__} SoCo_FPN R50 step breakdown on {dev}, batch {n}: median {med:.4f} s = {n / med:.1f} images/s with the phase synchronisations")
    write_json({"torch": torch.__version__, "device": str(dev), "batch": n, "steps": a.steps, "median_step_seconds": med,
                "images_per_second": n / med, "phase_ms": ms, "roi_align_ms": roi, "last_loss": float(loss)})


def biases_before_batchnorm(loss, named):
    """Parameters whose gradient is zero by the model's structure: a bias whose output reaches a BatchNorm in training
    mode only through linear maps without padding (matrix products, views), so that it adds the same vector to every
    row of the BatchNorm's batch and the batch mean removes it. Found in the autograd graph of this loss, not by name:
    each BatchNorm node's input is followed back through views and linear layers (each of whose outputs has no other
    consumer) to the first nonlinearity; the 1-D leaf parameters added on the way are such biases (the SoCo_FPN's:
    predictor.linear1.bias, right before its BatchNorm1d, and projector.linear2.bias, which only feeds it)."""
    names = {id(p): n for n, p in named}
    shape_only = ("ViewBackward", "UnsafeViewBackward", "UnsqueezeBackward", "SqueezeBackward", "ReshapeAliasBackward",
                  "CloneBackward", "ExpandBackward")
    consumers, seen, stack, bns = {}, set(), [loss.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if "BatchNorm" in type(fn).__name__:
            bns.append(fn)
        for f, _ in fn.next_functions:
            if f is not None:
                consumers[f] = consumers.get(f, 0) + 1
                stack.append(f)

    def leaf_bias(node):
        for nf, _ in node.next_functions:
            if nf is not None and type(nf).__name__ == "AccumulateGrad" and nf.variable.dim() == 1 and id(nf.variable) in names:
                yield names[id(nf.variable)]

    found = set()
    for bn in bns:
        src = bn.next_functions[0][0]
        while src is not None and consumers.get(src, 0) == 1:
            kind = type(src).__name__
            if kind.startswith(shape_only):
                src = src.next_functions[0][0]
            elif kind.startswith("AddmmBackward"):  # addmm(bias, input, weight.t())
                found.update(leaf_bias(src))
                src = src.next_functions[1][0]
            elif kind.startswith("MmBackward"):
                src = src.next_functions[0][0]
            elif kind.startswith(("ConvolutionBackward", "CudnnConvolutionBackward")):
                found.update(leaf_bias(src))  # a padded convolution does not carry a constant further
                break
            else:
                break
    return sorted(found)


def parity_mode():
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    d = torch.load(a.dump, map_location="cpu", weights_only=False)  # our own file; 2.6+ would default to weights_only
    ours = json.load(open(a.ours)) if a.ours else None
    lr, wd = float(d["cfg.lr"]), float(d["cfg.weight_decay"])
    state = {k[len("state."):]: v for k, v in d.items() if k.startswith("state.")}
    ema_step = int(state.pop("ema_step"))
    ins = {k[len("in."):]: v for k, v in d.items() if k.startswith("in.")}
    n = ins["v1"].shape[0]

    def run(device):
        model = T.SocoFPN(50, int(state["encoder.conv1.weight"].shape[0]), 256, 256, 1024, 4096, 256,
                          m0=float(d["cfg.base_momentum"]), K=int(d["cfg.total_steps"]))
        model.load_state_dict(state, strict=True)
        for name, p in model.named_parameters():
            p.requires_grad = "_k." not in name
        model.k = ema_step
        model.to(device).train()
        online = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
        opt = Lars([p for _, p in online], lr=lr, wd=wd)
        x = {k: v.to(device) for k, v in ins.items()}
        opt.zero_grad()
        t0 = time.perf_counter()
        loss = model(x["v1"], [x["v2"], x["v3"]], [x["b1_12"], x["b1_13"]], [x["b2"], x["b3"]], [x["c12"], x["c13"]])
        zero = biases_before_batchnorm(loss, online)
        loss.backward()
        grads = {k: p.grad.detach().cpu().double() for k, p in online}
        opt.step()
        after = {k: p.detach().cpu().double() for k, p in model.named_parameters()}
        if device.type == "cuda":
            torch.cuda.synchronize()
        print(f"PyTorch step on {device}: loss {float(loss):.9g} ({time.perf_counter() - t0:.1f} s)", flush=True)
        return float(loss), grads, after, zero

    lc, gc, ac, zero = run(torch.device("cpu"))
    ld, gd, ad, _ = run(dev)
    online = set(gc)

    def err(ref, x):
        dn = float((x - ref).norm())
        return dn / max(float(ref.norm()), 1e-30), dn

    gmax_pt = max(float(g.norm()) for g in gc.values())
    # PyTorch's own CUDA-vs-CPU error per tensor and kind; for the zero-gradient biases: ‖Δ‖ / the largest gradient norm
    pt = {"grad": {}, "step": {}, "ema": {}}
    for k in gc:
        r, dn = err(gc[k], gd[k])
        pt["grad"][k] = dn / gmax_pt if k in zero else r
    for k in ac:
        pt["step" if k in online else "ema"][k] = err(ac[k], ad[k])[0]
    res = {"torch": torch.__version__, "device": str(dev), "batch": n, "factor": a.factor, "floor": a.floor,
           "zero_gradient_tensors": zero, "loss_cpu": lc, "loss_device": ld, "torch_loss_abs_diff": abs(lc - ld),
           "torch_worst": {kind: max(v.values()) if v else 0.0 for kind, v in pt.items()}}
    lines = [f"PyTorch {torch.__version__} {dev} vs cpu (TF32 off), same weights and inputs as ours: loss |d| {abs(lc - ld):.2e}; "
             f"grads worst {res['torch_worst']['grad']:.2e}, LARS step worst {res['torch_worst']['step']:.2e}, EMA worst {res['torch_worst']['ema']:.2e}",
             f"zero-gradient tensors (bias right before a BatchNorm, from the autograd graph): {len(zero)}: {', '.join(zero)}"]
    if ours:
        rows = ours["tensors"]
        gmax_ours = max(r["ref_norm"] for r in rows if r["kind"] == "grad")
        verdict = {"grad": [], "grad_zero": [], "step": [], "ema": []}
        for r in rows:
            kind, k = r["kind"], r["name"]
            z = kind == "grad" and k in zero
            e = r["diff_norm"] / gmax_ours if z else r["rel"]
            limit = max(a.factor * pt[kind][k], a.floor)
            verdict["grad_zero" if z else kind].append({"name": k, "ours": e, "torch": pt[kind][k], "limit": limit, "ratio": e / limit})
        loss_limit = max(a.factor * abs(lc - ld), a.floor * max(1.0, abs(lc)))
        ok_loss = ours["loss_abs_diff"] <= loss_limit
        res["loss"] = {"ours": ours["loss_abs_diff"], "torch": abs(lc - ld), "limit": loss_limit, "pass": ok_loss}
        res["pass"] = ok_loss
        for kind, v in verdict.items():
            v.sort(key=lambda x: -x["ratio"])
            fails = [x for x in v if x["ratio"] > 1]
            res[kind] = {"tensors": len(v), "failing": len(fails), "worst": v[0] if v else None, "failing_names": [x["name"] for x in fails]}
            res["pass"] = res["pass"] and not fails
            if v:
                w = v[0]
                label = {"grad": "gradients ‖d‖/‖g‖", "grad_zero": "zero-gradient biases ‖d‖/max‖g‖", "step": "after one LARS step ‖d‖/‖w‖", "ema": "EMA targets ‖d‖/‖w‖"}[kind]
                lines.append(f"{label}: {len(v)} tensors, {len(fails)} over the limit; worst ours/limit {w['ratio']:.2f} ({w['name']}: ours {w['ours']:.2e}, "
                             f"PyTorch {w['torch']:.2e}, limit {w['limit']:.2e})")
        lines.append(f"loss: ours |d| {ours['loss_abs_diff']:.2e}, PyTorch {abs(lc - ld):.2e}, limit {loss_limit:.2e}")
        verdict_line = f"verdict (ours <= max({a.factor:g} x PyTorch's own {dev}-vs-cpu error, {a.floor:g}) per tensor): {'PASS' if res['pass'] else 'FAIL'}"
    # the direct comparison: ours on CUDA against PyTorch on CUDA, same weights and inputs
    if "dev.loss" in d:
        og = {k[len("dev.grad."):]: v.double() for k, v in d.items() if k.startswith("dev.grad.")}
        oa = {k[len("dev.after."):]: v.double() for k, v in d.items() if k.startswith("dev.after.")}
        dg = {k: (float((og[k] - gd[k]).norm()) / gmax_pt if k in zero else err(gd[k], og[k])[0]) for k in og}
        da = {k: err(ad[k], oa[k])[0] for k in oa}
        wg = max((k for k in dg if k not in zero), key=lambda k: dg[k])
        wz = max(zero, key=lambda k: dg[k]) if zero else None
        ws = max((k for k in da if k in online), key=lambda k: da[k])
        we = max((k for k in da if k not in online), key=lambda k: da[k], default=None)
        # how many tensors ours-vs-PyTorch on CUDA differ by more than PyTorch's CUDA differs from its CPU (x factor)
        over = sorted(k for k in dg if dg[k] > max(a.factor * pt["grad"][k], a.floor))
        res["ours_vs_torch_device"] = {"loss_abs_diff": abs(float(d["dev.loss"]) - ld), "grad_worst": dg[wg], "grad_worst_name": wg,
                                       "grad_zero_worst": dg[wz] if wz else None, "grad_zero_worst_name": wz,
                                       "step_worst": da[ws], "step_worst_name": ws, "ema_worst": da[we] if we else None, "ema_worst_name": we,
                                       "grads_over_limit": over}
        lines.append(f"ours {dev} vs PyTorch {dev} directly (same weights, inputs): loss |d| {abs(float(d['dev.loss']) - ld):.2e}; grads worst {dg[wg]:.2e} ({wg})"
                     + (f", zero-gradient biases worst {dg[wz]:.2e} of max‖g‖" if wz else "")
                     + f"; LARS step worst {da[ws]:.2e} ({ws})" + (f"; EMA worst {da[we]:.2e}" if we else "")
                     + f"; {len(over)} gradient tensors beyond {a.factor:g} x PyTorch's own {dev}-vs-cpu error")
    if ours:
        lines.append(verdict_line)  # last: bench/gpu/run shows a part's last line
    res["lines"] = lines
    print("\n".join(lines))
    write_json(res)
    if ours and not res["pass"]:
        sys.exit(1)


{"step": step_mode, "breakdown": breakdown_mode, "parity": parity_mode}[a.mode]()
