#!/usr/bin/env bash
# Selective-search speed, reference and ours in one run on the same input: 9 sample photos resized to 500 px on the
# longer side (PNG, so every reader sees the same pixels), search only, one thread each; then our throughput on 1..N
# threads with the GC counts of each. Rounds alternate (ours, reference, reference, ours) so that load from other
# processes hits both sides alike; the report takes each image's best time of each side's two rounds.
# Needs Debian's python3-opencv (and PIL); SoCo's Python is timed when SOCO_REPO points at a checkout of the
# official SoCo repository (not part of this repo).
# Usage: bench/proposals/run.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d -t soco-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/proposals/prepare.py samples/photos "$tmp/img" >/dev/null
./soco --version >/dev/null # builds the CLI first, outside the timed rounds
ours() { ./soco proposals bench --images "$tmp/img" --mode "$1" --json "$2" >/dev/null; }
ref() { OMP_NUM_THREADS=1 /usr/bin/python3 bench/proposals/reference.py "$tmp/img" "$@" 2> >(grep -v "^libpng warning" >&2); }
modes=(fast)
if [ -n "${SOCO_REPO:-}" ]; then modes+=(soco); else echo "(SOCO_REPO not set: SoCo's Python is not timed)"; fi
pairs=()
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for m in "${modes[@]}"; do
  extra=()
  [ "$m" = soco ] && extra=("$SOCO_REPO")
  ours "$m" "$tmp/ours_${m}_1.json"
  ref "$m" "${extra[@]}" > "$tmp/ref_${m}_1.json"
  ref "$m" "${extra[@]}" > "$tmp/ref_${m}_2.json"
  ours "$m" "$tmp/ours_${m}_2.json"
  pairs+=("$tmp/ref_${m}_1.json,$tmp/ref_${m}_2.json" "$tmp/ours_${m}_1.json,$tmp/ours_${m}_2.json")
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/proposals/report.py "${pairs[@]}"
