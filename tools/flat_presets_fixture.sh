#!/usr/bin/env bash
# The presets as the last version with flat configs wrote them (commit fa758ce, before docs/engine.md §Nested config):
# tests/fixtures/config/flat_presets/{,finetune/}*.json. NestedConfigTests reads each with today's reader and expects
# the record of today's nested preset (the flat→nested key table covers every key the old presets set), and a
# fine-tuning run folder whose config.json is the old flat file resumes.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
old=fa758ce
dst=tests/fixtures/config/flat_presets
mkdir -p "$dst/finetune"
for f in $(git ls-tree --name-only "$old" configs/ configs/finetune/ | grep '\.json$'); do
  git show "$old:$f" > "$dst/${f#configs/}"
done
# finetune_mask_demo's recipe changed on a flat branch merged with the nesting (mask3, e1155a9): its flat form is that one.
git show e1155a9:configs/finetune/finetune_mask_demo.json > "$dst/finetune/finetune_mask_demo.json"
# Since then (maskap) the nested preset turned on class-agnostic masks: the flat form of that one key is added.
sed -i 's/"mask_on": true, "mask_head_conv_dim": 32,/"mask_on": true, "mask_head_conv_dim": 32, "mask_class_agnostic": true,/' "$dst/finetune/finetune_mask_demo.json"
grep -q '"mask_class_agnostic": true' "$dst/finetune/finetune_mask_demo.json"
ls -R "$dst"
