#!/usr/bin/env bash
# Records the golden losses of the `demo` preset: its first 300 steps on samples/photos with the released-filter
# proposals of tests/fixtures/views, one torch thread, one loader thread (the loader's batches do not depend on the
# worker count), run by the CURRENT build of `soco pretrain`. Writes tests/fixtures/training/demo_losses_300.json:
# per step the loss as logged (a double holding the float32 loss) as its exact IEEE bits in hex and as a round-trip
# decimal. DemoLossRegressionTests asserts that training still gives these bit for bit. Re-record only when a change
# is MEANT to change the numbers, and say so in the commit.
# Usage: tools/demo_losses_fixture.sh [steps]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=${1:-300}
out=$(mktemp -d -t soco-demo-losses.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/soco" proposals import --from "$here/tests/fixtures/views/proposals_ratio3size0308post.json" --out "$out/proposals" >/dev/null
"$here/soco" pretrain --config demo --images "$here/samples/photos" --proposals "$out/proposals" --out "$out/run" \
  --threads 1 --workers 1 --stop-after "$steps" > "$out/stdout.txt"
/usr/bin/python3 - "$out/run/metrics.jsonl" "$steps" "$(git -C "$here" rev-parse HEAD)" > "$here/tests/fixtures/training/demo_losses_$steps.json" <<'PY'
import json, struct, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
assert [r["step"] for r in rows] == list(range(1, n + 1)), "metrics.jsonl does not hold steps 1..n"
print(json.dumps({
    "what": "loss of the demo preset at steps 1..%d on samples/photos (proposals: tests/fixtures/views/proposals_ratio3size0308post.json), "
            "1 torch thread, 1 loader thread; made by tools/demo_losses_fixture.sh" % n,
    "commit": sys.argv[3],
    "loss_bits": [struct.pack(">d", r["loss"]).hex() for r in rows],
    "loss": [repr(r["loss"]) for r in rows],
}, indent=1))
PY
echo "wrote tests/fixtures/training/demo_losses_$steps.json"
