#!/usr/bin/env bash
# One SoCo_FPN training step (R50, 3 views, online + target, batch 8, fp32): ours (official pooling, then the
# assigned-level mode) and PyTorch 1.13 (Linear routed through 1x1 convs), in one run, same threads; prints the ratios.
# Usage: bench/model/run.sh [batch=8] [threads=2] [steps=3]      Run on a quiet machine (OpenMP spins under contention).
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${1:-8}; threads=${2:-2}; steps=${3:-3}
export OMP_WAIT_POLICY=PASSIVE
dotnet build -c Release bench/model/SocoModelBench.csproj -v quiet -clp:ErrorsOnly >/dev/null
bin=bench/model/bin/Release/net10.0/linux-x64/SocoModelBench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$("$bin" "$batch" "$threads" "$steps" official | tee >(cat >&2) | grep 'median step')
py=$(/usr/bin/python3 bench/model/reference.py "$batch" "$threads" "$steps" | tee >(cat >&2) | grep 'median step')
assigned=$("$bin" "$batch" "$threads" "$steps" assigned | tee >(cat >&2) | grep 'median step')
med() { sed -E 's/.*median step ([0-9.]+) s.*/\1/' <<<"$1"; }
o=$(med "$ours"); p=$(med "$py"); a=$(med "$assigned")
echo
echo "SoCo_FPN step, batch $batch, $threads threads: ours $o s, PyTorch $p s, ratio ours/PyTorch = $(awk "BEGIN{printf \"%.2f\", $o/$p}")"
echo "assigned-level mode: $a s, speed-up over the official pooling = $(awk "BEGIN{printf \"%.2f\", $o/$a}")x"
