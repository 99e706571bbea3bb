#!/usr/bin/env bash
# Faster R-CNN R50-FPN, ours vs torchvision 0.14's fasterrcnn_resnet50_fpn_v2 (the same seeded weights, imported),
# on the same photos, same threads: inference (800 px short side, one image per call) and a training step (batch 2,
# SGD). Reference and ours alternate A-B, B-A over the rounds so that a shared machine's changing load falls on both
# alike; a ratio is printed per round.
# Usage: bench/detect/run.sh [--mask] [threads=2] [rounds=2] [train_steps=1] [train_rounds=rounds] [photos...]
#        (default photos: dog person; the training step uses the first two)
#        --mask: Mask R-CNN, torchvision's maskrcnn_resnet50_fpn_v2 (inference pastes the masks; training adds the
#        mask loss on box-shaped instance masks)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=frcnn
if [ "${1:-}" = "--mask" ]; then model=mask; shift; export DETECT_BENCH_MODEL=mask; fi
threads=${1:-2}; rounds=${2:-2}; steps=${3:-1}; train_rounds=${4:-$rounds}; shift $(( $# < 4 ? $# : 4 ))
photos=("$@"); [ ${#photos[@]} -gt 0 ] || photos=(dog person)
imgs=(); for p in "${photos[@]}"; do imgs+=("samples/photos/$p.jpg"); done
[ ${#imgs[@]} -ge 2 ] || { echo "the training step needs 2 photos" >&2; exit 2; }
export OMP_WAIT_POLICY=PASSIVE
dotnet build -c Release bench/detect/DetectBench.csproj -v quiet -clp:ErrorsOnly -nodeReuse:false >/dev/null
bin=bench/detect/bin/Release/net10.0/linux-x64/DetectBench
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/detect/reference.py save "$tmp/$model.pth"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "model: $([ $model = mask ] && echo maskrcnn || echo fasterrcnn)_resnet50_fpn_v2; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(load); photos: ${photos[*]}; $threads threads"
ref_infer() { /usr/bin/python3 bench/detect/reference.py infer "$tmp/$model.pth" "$threads" "${imgs[@]}"; }
ours_infer() { "$bin" infer "$tmp/$model.pth" "$threads" "${imgs[@]}"; }
ref_train() { /usr/bin/python3 bench/detect/reference.py train "$tmp/$model.pth" "$threads" "$steps" "${imgs[0]}" "${imgs[1]}"; }
ours_train() { "$bin" train "$tmp/$model.pth" "$threads" "$steps" "${imgs[0]}" "${imgs[1]}"; }
sum() { grep "$1" | sed -E 's/.*: ([0-9.]+) s.*/\1/' | awk '{s+=$1} END {printf "%.3f", s}'; }
median() { grep "train median" | sed -E 's/.* ([0-9.]+) s/\1/'; }
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then ref=$(ref_infer); echo "$ref"; ours=$(ours_infer); echo "$ours"; else ours=$(ours_infer); echo "$ours"; ref=$(ref_infer); echo "$ref"; fi
  a=$(sum "reference infer" <<<"$ref"); b=$(sum "ours infer" <<<"$ours")
  echo "round $r inference, ${#imgs[@]} photos: torchvision $a s, ours $b s, ratio ours/torchvision $(awk "BEGIN{printf \"%.2f\", $b/$a}") (load $(load))"
done
for r in $(seq 1 "$train_rounds"); do
  if (( r % 2 )); then ref=$(ref_train); echo "$ref"; ours=$(ours_train); echo "$ours"; else ours=$(ours_train); echo "$ours"; ref=$(ref_train); echo "$ref"; fi
  a=$(median <<<"$ref"); b=$(median <<<"$ours")
  echo "round $r training step, batch 2: torchvision $a s, ours $b s, ratio ours/torchvision $(awk "BEGIN{printf \"%.2f\", $b/$a}") (load $(load))"
done
