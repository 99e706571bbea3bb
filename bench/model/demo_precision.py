#!/usr/bin/python3
"""Compares the demo runs demo_precision.sh made: loss curves (moving average over 50 steps) of bf16 against fp32 with
the same seed, and fp32 against fp32 with another seed (the noise). Writes OUT.json and OUT.svg (no plotting library
needed)."""
import json
import os
import sys

work, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
W = int(sys.argv[4]) if len(sys.argv) > 4 else 50


# A run not redone in WORK (demo_precision.sh with RUNS="bf16 0": the fp32 path is unchanged, so its stored curves
# still hold) is read from the previous OUT.json.
previous = json.load(open(out + ".json")) if os.path.exists(out + ".json") else {}
reused = []


def losses(name):
    if not os.path.exists(os.path.join(work, name)):
        reused.append(name)
        return previous["loss"][name]
    rows = [json.loads(l) for l in open(os.path.join(work, name, "metrics.jsonl"))]
    d = {r["step"]: r["loss"] for r in rows if "loss" in r}
    return [d[s] for s in sorted(d) if s <= steps]


def smooth(xs):
    return [sum(xs[max(0, i - W + 1):i + 1]) / len(xs[max(0, i - W + 1):i + 1]) for i in range(len(xs))]


def step_seconds(name):
    if name in reused:
        return previous["median_step_seconds"][name]
    rows = [json.loads(l) for l in open(os.path.join(work, name, "metrics.jsonl"))]
    xs = sorted(r["step_seconds"] for r in rows if "step_seconds" in r)
    return xs[len(xs) // 2]


runs = {k: losses(k) for k in ("fp32-0", "fp32-1", "bf16-0")}
n = min(len(v) for v in runs.values())
sm = {k: smooth(v[:n]) for k, v in runs.items()}
def mad(a, b, lo=W):
    return sum(abs(x - y) for x, y in zip(a[lo:], b[lo:])) / max(1, len(a) - lo)
doc = {
    "steps": n, "window": W,
    "final_smoothed_loss": {k: v[-1] for k, v in sm.items()},
    "mean_abs_diff_smoothed": {"bf16 vs fp32 (same seed)": mad(sm["bf16-0"], sm["fp32-0"]),
                               "fp32 seed 1 vs fp32 seed 0 (noise)": mad(sm["fp32-1"], sm["fp32-0"])},
    "median_step_seconds": {k: step_seconds(k) for k in runs},
    "loss": {k: v[:n] for k, v in runs.items()},
    "runs_reused_from_previous_json": reused,
}
doc["bf16_within_noise"] = doc["mean_abs_diff_smoothed"]["bf16 vs fp32 (same seed)"] <= doc["mean_abs_diff_smoothed"]["fp32 seed 1 vs fp32 seed 0 (noise)"]
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out + ".json.tmp", "w") as f:
    json.dump(doc, f, indent=1)
os.replace(out + ".json.tmp", out + ".json")

# SVG: the three smoothed curves
w, h, m = 720, 360, 40
allv = [x for v in sm.values() for x in v]
lo, hi = min(allv), max(allv)
def pt(i, v):
    return f"{m + (w - 2 * m) * i / max(1, n - 1):.1f},{h - m - (h - 2 * m) * (v - lo) / max(1e-9, hi - lo):.1f}"
colors = {"fp32-0": "#1f4e9c", "fp32-1": "#8fb3e8", "bf16-0": "#d2501e"}
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="100%" height="100%" fill="white"/>',
         f'<text x="{m}" y="20" font-family="sans-serif" font-size="13">demo pretraining loss ({W}-step moving average), steps 1-{n}</text>',
         f'<text x="4" y="{m + 4}" font-family="sans-serif" font-size="10">{hi:.3f}</text><text x="4" y="{h - m}" font-family="sans-serif" font-size="10">{lo:.3f}</text>']
for k, v in sm.items():
    parts.append(f'<polyline fill="none" stroke="{colors[k]}" stroke-width="1.5" points="{" ".join(pt(i, x) for i, x in enumerate(v))}"/>')
for j, k in enumerate(sm):
    parts.append(f'<text x="{w - 150}" y="{40 + 16 * j}" font-family="sans-serif" font-size="12" fill="{colors[k]}">{k.replace("-", " seed ")}</text>')
parts.append("</svg>")
with open(out + ".svg.tmp", "w") as f:
    f.write("\n".join(parts))
os.replace(out + ".svg.tmp", out + ".svg")
print(json.dumps({k: v for k, v in doc.items() if k != "loss"}, indent=1))
