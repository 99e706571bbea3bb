#!/usr/bin/env bash
# oneDNN primitive calls and times of one timed SoCo_FPN R50 step of ours, per precision/layout (ONEDNN_VERBOSE=1):
# the call counts do not depend on the machine's load, so they show what a change did on a shared machine.
# Usage: bench/model/onednn_counts.sh [batch=4] [threads=2] [modes="fp32:contiguous bf16:contiguous bf16:channels_last"]
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${1:-4}; threads=${2:-2}; modes=${3:-"fp32:contiguous bf16:contiguous bf16:channels_last"}
export OMP_WAIT_POLICY=PASSIVE BENCH_ROIALIGN=0
dotnet build -c Release bench/model/SocoModelBench.csproj -v quiet -clp:ErrorsOnly -nodeReuse:false >/dev/null
bin=bench/model/bin/Release/net10.0/linux-x64/SocoModelBench
log=$(mktemp)
for m in $modes; do
  echo "== ours ${m%%:*} ${m##*:} (batch $batch, $threads threads, load $(cut -d' ' -f1-3 /proc/loadavg))"
  ONEDNN_VERBOSE=1 "$bin" "$batch" "$threads" 1 official "${m%%:*}" "${m##*:}" >"$log" 2>&1
  grep 'median step' "$log"
  /usr/bin/python3 bench/model/onednn_profile.py "$log"
done
rm -f "$log"
