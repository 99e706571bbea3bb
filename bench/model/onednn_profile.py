#!/usr/bin/python3
"""Counts oneDNN primitive calls and their summed execution time in one timed step of the model bench.

    ONEDNN_VERBOSE=1 SocoModelBench 4 2 1 official bf16 channels_last > log; onednn_profile.py log

Reads the lines after "step 0:" (the warm-up step's report), up to the next "step " line: one timed step. Groups by
primitive (convolution, reorder, ...) and propagation kind (forward, backward_data, backward_weights); call counts
are independent of the machine's load, times are not (a shared machine inflates them unevenly).
"""
import collections, sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("step 0:"))
end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("step ")), len(lines))
calls, ms = collections.Counter(), collections.Counter()
for l in lines[start + 1:end]:
    f = l.split(",")
    if len(f) < 12 or f[2] != "primitive" or f[3] != "exec":
        continue
    prim, prop = f[5], f[7]
    key = f"{prim} {prop}" if prim != "reorder" else "reorder"
    calls[key] += 1
    ms[key] += float(f[-1])
total = sum(ms.values())
print(f"{'primitive':40s} {'calls':>7s} {'ms':>10s} {'share':>6s}")
for k in sorted(calls, key=lambda k: -ms[k]):
    print(f"{k:40s} {calls[k]:7d} {ms[k]:10.1f} {100 * ms[k] / total:5.1f}%")
print(f"{'total':40s} {sum(calls.values()):7d} {total:10.1f}")
