#!/usr/bin/python3
"""Summarises precision.sh rows (round who precision layout wall_s cpu_s load) into medians and ratios, as JSON.

    precision_summary.py ROWS OUT.json BATCH THREADS STEPS
"""
import json, statistics, sys
log, out, batch, threads, steps = sys.argv[1:]
rows = [l.split() for l in open(log)]
res = {}
for r, who, prec, layout, wall, cpu, load in rows:
    res.setdefault(f"{who} {prec} {layout}", []).append({"round": int(r), "wall_s": float(wall), "cpu_s": float(cpu), "load": float(load)})
med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall_s", "cpu_s")} for k, v in res.items()}
def ratio(a, b, m):
    return med[a][m] / med[b][m] if a in med and b in med else None
ratios = {}
for m in ("wall_s", "cpu_s"):
    ratios[m] = {
        "ours fp32 / PyTorch fp32": ratio("ours fp32 contiguous", "py fp32 contiguous", m),
        "ours bf16 / ours fp32": ratio("ours bf16 contiguous", "ours fp32 contiguous", m),
        "ours bf16+channels_last / ours fp32": ratio("ours bf16 channels_last", "ours fp32 contiguous", m),
        "ours fp32+channels_last / ours fp32": ratio("ours fp32 channels_last", "ours fp32 contiguous", m),
        "ours bf16 / PyTorch bf16 autocast": ratio("ours bf16 contiguous", "py bf16 contiguous", m),
        "ours bf16+channels_last / PyTorch bf16+channels_last": ratio("ours bf16 channels_last", "py bf16 channels_last", m),
        "PyTorch bf16 / PyTorch fp32": ratio("py bf16 contiguous", "py fp32 contiguous", m),
        "PyTorch bf16+channels_last / PyTorch fp32": ratio("py bf16 channels_last", "py fp32 contiguous", m),
    }
# The goals of the training-step issue (README): fp32 <= 0.8x PyTorch's fp32 step; our best bf16 step <= 0.5x our fp32.
goals = {}
for m in ("wall_s", "cpu_s"):
    f = ratios[m]["ours fp32 / PyTorch fp32"]
    b = ratios[m]["ours bf16+channels_last / ours fp32"]
    goals[m] = {"ours fp32 / PyTorch fp32 <= 0.8": None if f is None else f"{f:.2f} ({'met' if f <= 0.8 else 'NOT met'})",
                "ours bf16+channels_last / ours fp32 <= 0.5": None if b is None else f"{b:.2f} ({'met' if b <= 0.5 else 'NOT met'})"}
loads = [float(r[6]) for r in rows]
doc = {"batch": int(batch), "threads": int(threads), "timed_steps_per_process": int(steps), "runs": res, "medians": med,
       "ratios": ratios, "goals": goals, "load_average_1min": {"min": min(loads), "max": max(loads)}}
tmp = out + ".tmp"
json.dump(doc, open(tmp, "w"), indent=1)
import os; os.replace(tmp, out)
print(json.dumps({"medians": med, "ratios": ratios, "goals": goals, "load": doc["load_average_1min"]}, indent=1))
