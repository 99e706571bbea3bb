#!/usr/bin/env bash
# Data parallelism on one machine, in one run: the SoCo_FPN R50 step (global batch 8, fp32) as 1 process × 2 threads and
# as 2 MPI processes × 1 thread (SyncBN, gradients averaged in 25 MB buckets), and the all-reduce of R50-sized
# gradients (94 MB float32) between 2 ranks. Prints the time per step, the share of the step spent in collectives, and
# the ratio. Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev) and the CLI built with mpicc present.
# Usage: bench/distributed/run.sh [batch=8] [steps=3]      Run on a quiet machine: ranks wait for each other.
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${1:-8}; steps=${2:-3}
export OMP_WAIT_POLICY=PASSIVE OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dotnet build -c Release src/Soco.Cli -v quiet -clp:ErrorsOnly >/dev/null
cli=(dotnet src/Soco.Cli/bin/Release/net10.0/linux-x64/Soco.Cli.dll)
out=$(mktemp -d)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"${cli[@]}" distributed info
mpirun --oversubscribe -np 2 "${cli[@]}" distributed bench --mb 94 --repeat 5
"${cli[@]}" bench step --batch "$batch" --steps "$steps" --warmup 1 --threads 2 --json "$out/one.json" | tail -1
mpirun --oversubscribe -np 2 -x OMP_WAIT_POLICY "${cli[@]}" bench step --batch "$batch" --steps "$steps" --warmup 1 --threads 1 --json "$out/two.json" | tail -1
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out/one.json" "$out/two.json" <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
a, b = one["median_step_seconds"], two["median_step_seconds"]
print(f"1 process x 2 threads: {a:.3f} s/step ({one['images_per_second']:.2f} images/s)")
print(f"2 processes x 1 thread: {b:.3f} s/step ({two['images_per_second']:.2f} images/s); "
      f"gradient all-reduce {two['allreduce_seconds_per_step']:.3f} s ({100*two['allreduce_seconds_per_step']/b:.1f} %), "
      f"all collectives incl. SyncBN {two['collective_seconds_per_step']:.3f} s ({100*two['collective_seconds_per_step']/b:.1f} %)")
print(f"ratio (2 processes / 1 process, time per step) = {b/a:.2f}")
PY
rm -rf "$out"
