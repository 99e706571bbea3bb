#!/usr/bin/env bash
# An old run folder for the resume-compatibility test: the CURRENT build of `soco pretrain` (the code before pretraining
# moved onto the training engine) trains the tiny test config (TrainingData.TinyOverrides: ResNet-18 width 4, views
# 64/32, batch 2, 3 steps per epoch on TrainingData's six photos, 9 steps) with one torch thread, stops after step 3 and
# keeps its config.json, run.json and the step-3 checkpoint in tests/fixtures/training/old_run/; then it runs the same
# config uninterrupted and records the losses of steps 4..9 (exact bits) in old_run/losses.json.
# OldRunResumeTests resumes the fixture with today's code and asserts the same losses bit for bit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d -t soco-old-run.XXXXXX)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/images"
for p in aero1.jpg apple.jpg butterfly.jpg messi5.jpg orange.jpg squirrel_cls.jpg; do cp "$here/samples/photos/$p" "$out/images/"; done
"$here/soco" proposals import --from "$here/tests/fixtures/views/proposals_ratio3size0308post.json" --out "$out/proposals" >/dev/null
sets=(depth=18 base_width=4 fpn_channels=8 head_conv_dim=8 head_fc_dim=16 mlp_hidden_dim=32 embedding_dim=8
      image_size=64 batch_size=2 epochs=3 warmup_epochs=1 checkpoint_steps=2 keep_last=2 save_freq=2)
args=(--config demo); for s in "${sets[@]}"; do args+=(--set "$s"); done
args+=(--images "$out/images" --proposals "$out/proposals" --threads 1 --workers 1)
"$here/soco" pretrain "${args[@]}" --out "$out/stopped" --stop-after 3 > /dev/null
"$here/soco" pretrain "${args[@]}" --out "$out/full" > /dev/null
dst="$here/tests/fixtures/training/old_run"
rm -rf "$dst"; mkdir -p "$dst/checkpoints"
cp "$out/stopped/config.json" "$out/stopped/run.json" "$dst/"
cp "$out/stopped/checkpoints/ckpt_step_00000003.pth" "$dst/checkpoints/"
/usr/bin/python3 - "$out/full/metrics.jsonl" "$(git -C "$here" rev-parse HEAD)" > "$dst/losses.json" <<'PY'
import json, struct, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [r["step"] for r in rows] == list(range(1, 10))
print(json.dumps({"what": "losses of steps 4..9 of the tiny config run uninterrupted; made by tools/old_run_fixture.sh",
                  "commit": sys.argv[2], "first_step": 4,
                  "loss_bits": [struct.pack(">d", r["loss"]).hex() for r in rows[3:]]}, indent=1))
PY
du -sh "$dst"
