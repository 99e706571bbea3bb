#!/usr/bin/env bash
# Pretraining benchmark: the demo preset for STEPS steps on samples/photos (one torch thread, 2 loader threads, as
# `soco demo` runs it). Prints steps/s, the share of step time spent waiting for the loader (goal < 5 %), and the
# resident memory over the run (goal: < 5 % growth after warm-up). Usage: bench/train/run.sh [steps] [extra soco args]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
steps=${1:-2000}; shift || true
out=$(mktemp -d -t soco-train-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
epochs=$(( (steps + 4) / 5 ))   # 22 photos, batch 4 → 5 steps per epoch
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before; MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-unset}"
"$here/soco" proposals import --from "$here/tests/fixtures/views/proposals_ratio3size0308post.json" --out "$out/proposals" >/dev/null
start=$(date +%s)
"$here/soco" pretrain --config demo --set epochs=$epochs --set checkpoint_steps=500 --images "$here/samples/photos" \
  --proposals "$out/proposals" --out "$out/run" --threads 1 --workers 2 "$@" > "$out/stdout.txt"
echo "wall $(( $(date +%s) - start )) s; load average $(cut -d' ' -f1-3 /proc/loadavg) after"
grep -o "session:.*" "$out/run/log.txt" || true
/usr/bin/python3 - "$out/run/metrics.jsonl" <<'PY'
import json, statistics, sys
m = [json.loads(l) for l in open(sys.argv[1])]
warm = min(100, len(m) // 10)
steady = m[warm:]
step = [x["step_seconds"] for x in steady]
data = [x["data_seconds"] for x in steady]
rss = [x["rss_mb"] for x in m]
print(f"steps {len(m)}; after {warm} warm-up steps: median step {1e3 * statistics.median(step):.1f} ms "
      f"({1 / statistics.median(step):.2f} steps/s; mean {len(step) / sum(step):.2f} steps/s)")
print(f"data wait: {100 * sum(data) / sum(step):.1f} % of step time (median wait {1e3 * statistics.median(data):.2f} ms)")
print(f"RSS MB: step 1 {rss[0]}, step {warm} {rss[warm - 1]}, step {len(m) // 2} {rss[len(m) // 2 - 1]}, last {rss[-1]}, max {max(rss)}; "
      f"growth after warm-up {100 * (rss[-1] - rss[warm - 1]) / rss[warm - 1]:+.1f} %")
print(f"loss: step 1 {m[0]['loss']:.4f}, mean of last 100 {statistics.mean(x['loss'] for x in m[-100:]):.4f}")
PY
