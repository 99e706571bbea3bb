#!/usr/bin/env bash
# fp32, bf16 and bf16 + channels-last SoCo_FPN R50 steps, ours against PyTorch 1.13 (bf16 = its CPU autocast), in one
# run of alternating rounds (round 1 in one order, round 2 reversed, so a neighbour's load hits both sides) on the
# same threads. Prints each process's median wall and CPU seconds per step, then the ratios, and writes them as JSON.
# Usage: bench/model/precision.sh [batch=4] [threads=2] [steps=2] [rounds=2] [out=bench/model/results/precision.json]
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${1:-4}; threads=${2:-2}; steps=${3:-2}; rounds=${4:-2}; out=${5:-bench/model/results/precision.json}
export OMP_WAIT_POLICY=PASSIVE BENCH_ROIALIGN=0
dotnet build -c Release bench/model/SocoModelBench.csproj -v quiet -clp:ErrorsOnly -nodeReuse:false >/dev/null
bin=bench/model/bin/Release/net10.0/linux-x64/SocoModelBench
mkdir -p "$(dirname "$out")"
log=$(mktemp)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), bf16: $(grep -c avx512_bf16 /proc/cpuinfo) cores with avx512_bf16"
configs=("ours fp32 contiguous" "py fp32 contiguous" "ours bf16 contiguous" "py bf16 contiguous" "ours bf16 channels_last" "py bf16 channels_last" "ours fp32 channels_last" "py fp32 channels_last")
for r in $(seq 1 "$rounds"); do
  order=("${configs[@]}")
  if (( r % 2 == 0 )); then order=(); for ((i=${#configs[@]}-1; i>=0; i--)); do order+=("${configs[i]}"); done; fi
  for c in "${order[@]}"; do
    read -r who prec layout <<<"$c"
    echo "== round $r: $who $prec $layout (load $(cut -d' ' -f1-3 /proc/loadavg))"
    if [[ $who == ours ]]; then line=$("$bin" "$batch" "$threads" "$steps" official "$prec" "$layout" | tee >(cat >&2) | grep 'median step')
    else line=$(/usr/bin/python3 bench/model/reference.py "$batch" "$threads" "$steps" "$prec" "$layout" | tee >(cat >&2) | grep 'median step'); fi
    wall=$(sed -E 's/.*median step ([0-9.]+) s.*/\1/' <<<"$line"); cpu=$(sed -E 's/.*CPU ([0-9.]+) s.*/\1/' <<<"$line")
    echo "$r $who $prec $layout $wall $cpu $(cut -d' ' -f1 /proc/loadavg)" >>"$log"
  done
done
/usr/bin/python3 bench/model/precision_summary.py "$log" "$out" "$batch" "$threads" "$steps"
