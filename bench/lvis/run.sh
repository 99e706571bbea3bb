#!/usr/bin/env bash
# LVIS bbox evaluation on a synthetic LVIS-format set: the LVIS API (lvis-api + pycocotools built from source,
# bench/lvis/reference.py) against `soco evaluate`, same files, one run. Prints both timings, checks the 13 numbers
# agree (1e-6) and prints the ratio.
# Usage: bench/lvis/run.sh [images] [categories] [images over the cap]   (default 1000, 300, 50; each of those gets 330+ detections)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
images=${1:-1000}
cats=${2:-300}
capped=${3:-50}
dir=$(mktemp -d -t soco-bench-lvis-XXXXXX)
trap 'rm -rf "$dir"' EXIT
./soco --help >/dev/null  # build the CLI first, outside the timing
py=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/lvis/reference.py "$dir" --images "$images" --categories "$cats" --cap-images "$capped")
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$dir/cpu.txt" ./soco evaluate --data "$dir/gt.json" --detections "$dir/dt.json" --out "$dir/m.json" > "$dir/out.txt"
t1=$(date +%s.%N)
uptime
/usr/bin/python3 - "$py" "$dir" "$t0" "$t1" <<'PY'
import json, sys
p, d = json.loads(sys.argv[1]), sys.argv[2]
wall = float(sys.argv[4]) - float(sys.argv[3])
m = json.load(open(f"{d}/m.json"))
cpu = sum(map(float, open(f"{d}/cpu.txt").read().split()))
diff = max(abs(m[k] - v) for k, v in p["results"].items())
print(f"{p['images']} images, {p['categories']} categories, {p['detections']} detections")
print(f"LVIS API: {p['seconds']:.2f} s wall, {p['cpu_seconds']:.2f} CPU-s (load, LVISResults, evaluate, accumulate, summarize)")
print(f"soco evaluate: {wall:.2f} s wall, {cpu:.2f} CPU-s (whole command: start, read, evaluate); max |difference| {diff:.1e}")
print(f"ratio LVIS API / ours: wall {p['seconds'] / wall:.1f}x, CPU {p['cpu_seconds'] / cpu:.1f}x")
assert diff <= 1e-6, "numbers differ"
PY
