#!/usr/bin/env bash
# The demo preset's pretraining loss in fp32 (seeds 0 and 1) and in bf16 (seed 0) over the same steps: is the bf16 curve
# within the seed-to-seed noise of fp32's? Writes bench/model/results/demo_precision.{json,svg}.
# Usage: [RUNS="bf16 0"] bench/model/demo_precision.sh PROPOSAL_STORE [steps=300] [threads=1]
#   RUNS: only these "precision seed" runs (comma-separated pairs); the others' curves are taken from the stored JSON
#   (e.g. after a bf16-only change: the fp32 path is bit-identical, so its stored curves still hold).
#   PROPOSAL_STORE: the demo's filtered store (`./soco demo` writes runs/demo/proposals/ratio3size0308post).
set -euo pipefail
export OMP_WAIT_POLICY=PASSIVE  # OpenMP threads spin under contention (docs/torchsharp.md)
cd "$(dirname "$0")/../.."
store=${1:?proposal store}; steps=${2:-300}; threads=${3:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./soco --help >/dev/null  # builds the CLI once
IFS=',' read -r -a runs <<<"${RUNS:-fp32 0,fp32 1,bf16 0}"
for run in "${runs[@]}"; do
  read -r prec seed <<<"$run"
  echo "== $prec seed $seed (load $(cut -d' ' -f1-3 /proc/loadavg))"
  ./soco pretrain --config demo --images samples/photos --proposals "$store" --out "$work/$prec-$seed" --threads "$threads" \
    --set precision="$prec" --set seed="$seed" --stop-after "$steps" >"$work/$prec-$seed.log" 2>&1 || { cat "$work/$prec-$seed.log"; exit 1; }
done
/usr/bin/python3 bench/model/demo_precision.py "$work" bench/model/results/demo_precision "$steps"
