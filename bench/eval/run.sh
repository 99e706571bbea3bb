#!/usr/bin/env bash
# COCO bbox evaluation on a synthetic COCO-val-sized set (5,000 images, 80 categories, 100 detections per image):
# pycocotools (built from cocoapi's source, bench/eval/reference.py) against `soco evaluate`, same files, one run.
# Prints both timings, checks the 12 stats agree (1e-6) and prints the ratio.
# Usage: bench/eval/run.sh [images]    (COCOAPI=<cocoapi checkout or git dir> to override the source)
#        IOU_TYPE=segm bench/eval/run.sh [images]   masks: polygon / RLE ground truth, RLE detections, COCOeval segm
#        (the results carry bbox too, so pycocotools' loadRes gives them box areas: ours runs with --segm-area box)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
images=${1:-5000}
dir=$(mktemp -d -t soco-bench-eval-XXXXXX)
trap 'rm -rf "$dir"' EXIT
iou=${IOU_TYPE:-bbox}
ours=()
if [ "$iou" = segm ]; then ours=(--iou-type segm --segm-area box); fi
/usr/bin/python3 bench/eval/make_set.py "$dir" --images "$images" $([ "$iou" = segm ] && echo --segm) ${COCOAPI:+--cocoapi "$COCOAPI"}
./soco --help >/dev/null  # build the CLI first, outside the timing
py=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/eval/reference.py "$dir" --iou-type "$iou" ${COCOAPI:+--cocoapi "$COCOAPI"})
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$dir/cpu2.txt" ./soco evaluate --data "$dir/gt.json" --detections "$dir/dt.json" "${ours[@]}" --out "$dir/m2.json" > "$dir/net2.txt"
t1=$(date +%s.%N)
DOTNET_PROCESSOR_COUNT=1 /usr/bin/time -f "%U %S" -o "$dir/cpu1.txt" ./soco evaluate --data "$dir/gt.json" --detections "$dir/dt.json" "${ours[@]}" --out "$dir/m1.json" > "$dir/net1.txt"
t2=$(date +%s.%N)
uptime
echo "$py"
/usr/bin/python3 - "$py" "$dir" "$t0" "$t1" "$t2" <<'PY'
import json, re, sys
p, d = json.loads(sys.argv[1]), sys.argv[2]
t0, t1, t2 = map(float, sys.argv[3:6])
keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
for threads, wall, name in ((2, t1 - t0, "net2"), (1, t2 - t1, "net1")):
    text = open(f"{d}/{name}.txt").read()
    rd, ev = map(float, re.search(r"read in ([\d.]+) s, evaluated in ([\d.]+) s", text).groups())
    m = json.load(open(f"{d}/m{threads}.json"))
    m = m.get("segm", m)  # IOU_TYPE=segm: the segm section
    cpu = sum(map(float, open(f"{d}/cpu{threads}.txt").read().split()))
    diff = max(abs(m[k] - s) for k, s in zip(keys, p["stats"]))
    print(f"ours, {threads} thread(s): read {rd:.2f} s, evaluate+accumulate+summarize {ev:.2f} s, whole command {wall:.2f} s; "
          f"max |stat difference| {diff:.1e}")
    print(f"  pycocotools: load {p['load_s']:.2f} s, evaluate {p['evaluate_s']:.2f} s, accumulate {p['accumulate_s']:.2f} s, total {p['total_s']:.2f} s")
    print(f"  CPU seconds, whole run: pycocotools {p['total_cpu_s']:.2f}, ours {cpu:.2f} (process start and JIT included)")
    print(f"  ratio pycocotools/ours: evaluation {(p['evaluate_s'] + p['accumulate_s'] + p['summarize_s']) / ev:.1f}x, "
          f"total wall {p['total_s'] / wall:.1f}x, total CPU {p['total_cpu_s'] / cpu:.1f}x")
    assert diff <= 1e-6, "stats differ"
PY
