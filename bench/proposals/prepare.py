#!/usr/bin/env python3
"""Prepares the benchmark input: sample photos resized so the longer side is 500 px (PIL bilinear), saved as PNG so
every reader (OpenCV, PIL, ours) sees identical pixels.
Usage: /usr/bin/python3 bench/proposals/prepare.py <samples/photos> <out dir> [names...]"""
import os
import sys
from PIL import Image

src, out = sys.argv[1], sys.argv[2]
names = sys.argv[3:] or ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg", "china.jpg",
                         "flower.jpg", "coffee.png", "astronaut.png"]
os.makedirs(out, exist_ok=True)
for n in names:
    im = Image.open(os.path.join(src, n)).convert("RGB")
    s = 500 / max(im.size)
    im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BILINEAR)
    im.save(os.path.join(out, os.path.splitext(n)[0] + ".png"))
print(len(names))
