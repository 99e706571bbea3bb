#!/usr/bin/env python3
"""Golden fixtures for SoCo's colour ops (docs/soco-reference.md §4.10) on fixed parameters, with torchvision's PIL code paths.

Usage: /usr/bin/python3 tools/torchvision_color_fixtures.py <repo root>
Needs Pillow 9.4 and torchvision (Debian python3-torchvision 0.14; its PIL colour functions are those of 0.7).
Writes tests/fixtures/views/color/: for each source (crops of samples/photos, plus tiny images for the blur's edge
paths) src_<name>.rgb.gz (raw RGB), out_<name>.bin.gz (every case's output concatenated in index order: RGB bytes, or
float32 little-endian CHW for 'normalize'), and index.json listing sources and cases.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image, ImageFilter, ImageOps
import PIL


def gz(path, data):
    with open(path, 'wb') as f:
        f.write(gzip.compress(data, mtime=0))


root = sys.argv[1]
out = os.path.join(root, 'tests', 'fixtures', 'views', 'color')
os.makedirs(out, exist_ok=True)
photos = os.path.join(root, 'samples', 'photos')


def crop(name, box):
    return Image.open(os.path.join(photos, name)).convert('RGB').crop(box)


sources = {
    'fruits': crop('fruits.jpg', (100, 80, 164, 128)),      # 64x48, saturated colours
    'baboon': crop('baboon.jpg', (200, 40, 248, 88)),       # 48x48, texture
    'chelsea': crop('chelsea.png', (150, 60, 206, 100)),    # 56x40
    'tiny': crop('dog.jpg', (300, 300, 303, 302)),          # 3x2: blur radius above the image size
    'line': crop('flower.jpg', (100, 100, 140, 101)),       # 40x1
}

cases = []
for v in [0.0, 0.6, 0.8731, 1.0, 1.2345, 1.4]:
    cases.append(('brightness', v, lambda im, v=v: F.adjust_brightness(im, v)))
for v in [0.0, 0.6, 0.9172, 1.0, 1.3, 1.4]:
    cases.append(('contrast', v, lambda im, v=v: F.adjust_contrast(im, v)))
for v in [0.0, 0.8, 0.9517, 1.0, 1.2]:
    cases.append(('saturation', v, lambda im, v=v: F.adjust_saturation(im, v)))
for v in [-0.5, -0.1, -0.0371, 0.0, 0.0123, 0.05, 0.1, 0.5]:
    cases.append(('hue', v, lambda im, v=v: F.adjust_hue(im, v)))
cases.append(('grayscale', 0, lambda im: F.rgb_to_grayscale(im, num_output_channels=3)))
for v in [0.1, 0.3337, 0.5, 1.0, 1.4142, 2.0, 4.7]:
    cases.append(('blur', v, lambda im, v=v: im.filter(ImageFilter.GaussianBlur(radius=v))))
cases.append(('solarize', 128, lambda im: ImageOps.solarize(im, threshold=128)))
cases.append(('flip', 0, lambda im: F.hflip(im)))
mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
cases.append(('normalize', 0, lambda im: F.normalize(F.to_tensor(im), mean, std)))

index = {'pillow': PIL.__version__, 'torchvision': torchvision.__version__, 'torch': torch.__version__,
         'sources': [], 'cases': [{'op': c[0], 'param': c[1]} for c in cases]}
for name, im in sources.items():
    gz(os.path.join(out, f'src_{name}.rgb.gz'), np.asarray(im).tobytes())
    blobs = []
    for op, param, fn in cases:
        r = fn(im)
        if op == 'normalize':
            blobs.append(r.numpy().astype('<f4').tobytes())
        else:
            assert r.mode == 'RGB' and r.size == im.size, (op, r.mode, r.size)
            blobs.append(np.asarray(r).tobytes())
    gz(os.path.join(out, f'out_{name}.bin.gz'), b''.join(blobs))
    index['sources'].append({'name': name, 'width': im.size[0], 'height': im.size[1]})
with open(os.path.join(out, 'index.json'), 'w') as f:
    json.dump(index, f, indent=1)
print(f'{len(sources)} sources x {len(cases)} cases -> {out}')
