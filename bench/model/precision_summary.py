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
loads = [float(r[6]) for r in rows]
doc = {"batch": int(batch), "threads": int(threads), "timed_steps_per_process": int(steps), "runs": res, "medians": med,
       "ratios": ratios, "load_average_1min": {"min": min(loads), "max": max(loads)}}
tmp = out + ".tmp"
json.dump(doc, open(tmp, "w"), indent=1)
import os; os.replace(tmp, out)
print(json.dumps({"medians": med, "ratios": ratios, "load": doc["load_average_1min"]}, indent=1))
