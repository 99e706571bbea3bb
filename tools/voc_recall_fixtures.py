#!/usr/bin/env python3
"""Reference recall on ground truth: best IoU of each ground-truth box among the proposals of the reference
implementations, on the VOC photos in samples/voc (labelme-examples).

Usage: /usr/bin/python3 tools/voc_recall_fixtures.py --soco <folder holding SoCo's selective_search.py> [--out F]

References: OpenCV 4.6 (Debian python3-opencv) SelectiveSearchSegmentation Fast and Quality on cv2.imread's BGR image;
SoCo's own selective_search(img, scale=300, sigma=0.9, min_size=100) on PIL's convert('RGB') (SoCo's code is not
part of this repository: copy selective_search/selective_search.py from the official repo to a folder outside it),
raw and after the released ratio3size0308post filter.
Boxes are compared as continuous pixel extents: an OpenCV rect (x, y, w, h) covers [x, x+w); a SoCo rect, whose w is
max_x − min_x, covers [x, x+w+1). A VOC box covers [xmin, xmax] as given.
"""
import argparse
import glob
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("--soco", required=True)
ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
ap.add_argument("--out", default=None)
a = ap.parse_args()
sys.path.insert(0, a.soco)
import selective_search as S  # noqa: E402  (the official file, from outside the repo)

cv2.setNumThreads(1)
voc = os.path.join(a.root, "samples", "voc")
out = a.out or os.path.join(a.root, "tests", "fixtures", "recall", "voc_recall.json")


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best(gt, boxes):
    return [max([iou(g, b) for b in boxes] or [0.0]) for g in gt]


def released_filter(rects, W, H):
    def keep(r, ratio, size):
        w, h = r[2], r[3]
        if not (w >= 32 and h >= 32):
            return False
        if ratio and not (1.0 / 3 <= w / h <= 3):
            return False
        if size and not (0.3 <= math.sqrt(w * h) / math.sqrt(W * H) <= 0.8):
            return False
        return True
    for ratio, size in ((True, True), (True, False), (False, False)):
        kept = [r for r in rects if keep(r, ratio, size)]
        if kept:
            return kept
    return []


result = {}
for xml in sorted(glob.glob(os.path.join(voc, "Annotations", "*.xml"))):
    root = ET.parse(xml).getroot()
    name = root.find("filename").text
    gt = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")] for o in root.iter("object")]
    labels = [o.find("name").text for o in root.iter("object")]
    path = os.path.join(voc, "JPEGImages", name)
    entry = {"gt": gt, "labels": labels}
    bgr = cv2.imread(path)
    for preset in ("fast", "quality"):
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        ss.switchToSelectiveSearchFast() if preset == "fast" else ss.switchToSelectiveSearchQuality()
        rects = [tuple(int(v) for v in r) for r in ss.process()]
        entry[preset] = {"count": len(rects), "best_iou": best(gt, [[x, y, x + w, y + h] for x, y, w, h in rects])}
    rgb = np.asarray(Image.open(path).convert("RGB"))
    _, regions, _ = S.selective_search(rgb, scale=300, sigma=0.9, min_size=100)
    rects = [r["rect"] for r in regions]
    H, W = rgb.shape[:2]
    for key, rs in (("soco", rects), ("soco_ratio3size0308post", released_filter(rects, W, H))):
        entry[key] = {"count": len(rs), "best_iou": best(gt, [[x, y, x + w + 1, y + h + 1] for x, y, w, h in rs])}
    result[os.path.splitext(name)[0]] = entry
    print(name, {k: (v["count"], [round(x, 3) for x in v["best_iou"]]) for k, v in entry.items() if isinstance(v, dict)})

os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(result, f, indent=1)
