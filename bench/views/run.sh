#!/usr/bin/env bash
# SoCo FPN view recipe: samples/s on one core, .NET vs Python (PIL + torchvision, bench/views/reference.py), same
# photos, decoding included; then the .NET loader with 1 and 2 worker threads. Prints the ratio.
# Usage: bench/views/run.sh [passes]   (needs `./soco demo` once for runs/demo/proposals)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
passes=${1:-3}
store=runs/demo/proposals/ratio3size0308post
json=tests/fixtures/views/proposals_ratio3size0308post.json
[ -d "$store" ] || ./soco demo >/dev/null
py=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/views/reference.py samples/photos "$json" "$passes")
net=$(./soco views bench --images samples/photos --proposals "$store" --recipe fpn --passes "$passes" --workers 1,2 --epochs 3)
echo "$py"
echo "$net"
/usr/bin/python3 - "$py" "$(echo "$net" | grep '"impl": "dotnet"')" <<'PY'
import json, sys
p, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"one core: .NET {n['per_second']:.1f} samples/s, Python {p['per_second']:.1f} samples/s, ratio .NET/Python = {n['per_second'] / p['per_second']:.2f}")
PY
