#!/usr/bin/env python3
"""Golden fixtures for PIL's bilinear resize (what torchvision's Resize/RandomResizedCrop do on PIL images).

Usage: /usr/bin/python3 tools/pil_resize_fixtures.py <repo root>
Writes tests/fixtures/resize/: source.rgb.gz (a 120x90 crop of samples/photos/chelsea.png as raw RGB) and one
raw RGB file per case, with an index JSON of sizes and boxes.
"""
import gzip
import json
import os
import sys

import numpy as np
from PIL import Image


def write_gz(path, data):
    with open(path, 'wb') as f:
        f.write(gzip.compress(data, mtime=0))


root = sys.argv[1]
out = os.path.join(root, 'tests', 'fixtures', 'resize')
os.makedirs(out, exist_ok=True)
img = Image.open(os.path.join(root, 'samples', 'photos', 'chelsea.png')).convert('RGB').crop((150, 60, 270, 150))
assert img.size == (120, 90)
write_gz(os.path.join(out, 'source.rgb.gz'), np.asarray(img).tobytes())
cases = [
    {'size': [56, 56], 'box': None},          # downscale, aspect changes
    {'size': [224, 224], 'box': None},        # upscale
    {'size': [120, 45], 'box': None},         # vertical pass only
    {'size': [37, 90], 'box': None},          # horizontal pass only
    {'size': [112, 112], 'box': [10, 5, 97, 80]},   # crop box then resize (RandomResizedCrop)
    {'size': [17, 23], 'box': [3, 7, 118, 88]},
]
for i, c in enumerate(cases):
    r = img.resize(tuple(c['size']), Image.BILINEAR, box=tuple(c['box']) if c['box'] else None)
    c['file'] = f'case{i}.rgb.gz'
    write_gz(os.path.join(out, c['file']), np.asarray(r).tobytes())
with open(os.path.join(out, 'index.json'), 'w') as f:
    json.dump({'source': {'file': 'source.rgb.gz', 'size': [120, 90]}, 'cases': cases}, f, indent=1)
print('ok', len(cases))
