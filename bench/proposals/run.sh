#!/usr/bin/env bash
# Selective-search speed, reference and ours in one run on the same input: 9 sample photos resized to 500 px on the
# longer side (PNG, so every reader sees the same pixels), search only, one thread each; then our throughput on 1..N
# threads. Needs Debian's python3-opencv (and PIL); SoCo's Python is timed when SOCO_REPO points at a checkout of the
# official SoCo repository (not part of this repo).
# Usage: bench/proposals/run.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d -t soco-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/proposals/prepare.py samples/photos "$tmp/img" >/dev/null
./soco proposals bench --images "$tmp/img" --mode fast --json "$tmp/ours_fast.json" >/dev/null
OMP_NUM_THREADS=1 /usr/bin/python3 bench/proposals/reference.py "$tmp/img" fast > "$tmp/ref_fast.json" 2> >(grep -v "^libpng warning" >&2)
pairs=("$tmp/ref_fast.json" "$tmp/ours_fast.json")
if [ -n "${SOCO_REPO:-}" ]; then
  ./soco proposals bench --images "$tmp/img" --mode soco --json "$tmp/ours_soco.json" >/dev/null
  OMP_NUM_THREADS=1 /usr/bin/python3 bench/proposals/reference.py "$tmp/img" soco "$SOCO_REPO" > "$tmp/ref_soco.json"
  pairs+=("$tmp/ref_soco.json" "$tmp/ours_soco.json")
else
  echo "(SOCO_REPO not set: SoCo's Python is not timed)"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/proposals/report.py "${pairs[@]}"
