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
ls -R "$dst"
