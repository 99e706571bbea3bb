#!/usr/bin/env python3
"""A synthetic COCO-val-sized evaluation set: N images (default 5000), COCO's 80 category ids (1..90 with gaps),
~7 objects per image with COCO-like sizes, and 100 detections per image (hits with jitter, duplicates, false
positives; scores with 3 decimals, so ties occur). Seeded: the same files every time.
With --segm, objects also get masks as COCO writes them (a 12-point polygon inside the box, `area` = its area; crowd
regions as uncompressed RLE) and every detection a compressed-RLE mask (a jittered polygon, rasterised by pycocotools
built from cocoapi's source as tools/pycocotools_fixtures.py builds it), as Mask R-CNN results carry them.

Usage: /usr/bin/python3 bench/eval/make_set.py OUT_DIR [--images N] [--seed S] [--segm [--cocoapi DIR]]
Writes OUT_DIR/gt.json and OUT_DIR/dt.json."""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

COCO_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
            34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
            62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--images", type=int, default=5000)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--segm", action="store_true")
ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
a = ap.parse_args()
mu = None
if a.segm:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
    import pycocotools_fixtures as pcf  # noqa: E402
    _tmp = tempfile.TemporaryDirectory(prefix="pycocotools-")
    pcf.import_pycocotools(a.cocoapi, _tmp.name)
    from pycocotools import mask as mu  # noqa: E402


def polygon(b, jitter=0.0):
    """12 points on the ellipse inscribed in box b, radii scaled by 0.75..1 (and jittered for detections)."""
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    r = rng.uniform(0.75, 1.0, 12)
    cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
    px = cx + r * b[2] / 2 * np.cos(t) + rng.normal(0, jitter * b[2] + 1e-9, 12)
    py = cy + r * b[3] / 2 * np.sin(t) + rng.normal(0, jitter * b[3] + 1e-9, 12)
    return np.round(np.stack([px, py], 1).reshape(-1), 2).tolist()


def shoelace(p):
    x, y = np.array(p[0::2]), np.array(p[1::2])
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def crowd_rle(b, H, W):
    m = np.zeros((H, W), np.uint8)
    m[int(b[1]):int(np.ceil(b[1] + b[3])), int(b[0]):int(np.ceil(b[0] + b[2]))] = 1
    flat = m.T.reshape(-1)
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return {"size": [H, W], "counts": [int(v) for v in runs]}


def det_mask(b, H, W):
    r = mu.frPyObjects([polygon(b, 0.05)], H, W)[0]
    return {"size": [H, W], "counts": r["counts"].decode("ascii")}

rng = np.random.RandomState(a.seed)
os.makedirs(a.out, exist_ok=True)
images, anns, dets = [], [], []
aid = 1
for i in range(1, a.images + 1):
    W, H = int(rng.choice([640, 480, 500, 427])), int(rng.choice([480, 640, 375, 333]))
    images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": W, "height": H})
    n = int(rng.poisson(7))
    w = np.minimum(W - 1, np.exp(rng.uniform(np.log(6), np.log(400), n)))
    h = np.clip(w * np.exp(rng.uniform(-0.8, 0.8, n)), 2, H - 1)
    x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
    c = rng.choice(COCO_IDS[:40] if i % 2 else COCO_IDS, n)
    crowd = rng.rand(n) < 0.01
    boxes = []
    for j in range(n):
        b = [round(float(x[j]), 2), round(float(y[j]), 2), round(float(w[j]), 2), round(float(h[j]), 2)]
        anns.append({"id": aid, "image_id": i, "category_id": int(c[j]), "bbox": b,
                     "area": round(float(w[j] * h[j] * rng.uniform(0.5, 1)), 2), "iscrowd": int(crowd[j]), "segmentation": []})
        if a.segm:
            if crowd[j]:
                anns[-1]["segmentation"] = crowd_rle(b, H, W)
            else:
                poly = polygon(b)
                anns[-1]["segmentation"], anns[-1]["area"] = [poly], round(shoelace(poly), 2)
        aid += 1
        boxes.append((b, int(c[j])))
    k = 0
    for b, cj in boxes:
        for _ in range(1 + int(rng.rand() < 0.3)):
            if k >= 100:
                break
            jit = rng.normal(0, 0.08, 4) * [b[2], b[3], b[2], b[3]]
            dets.append({"image_id": i, "category_id": cj, "score": round(float(rng.uniform(0.3, 1)), 3),
                         "bbox": [round(b[0] + jit[0], 2), round(b[1] + jit[1], 2), round(max(1, b[2] + jit[2]), 2), round(max(1, b[3] + jit[3]), 2)]})
            if a.segm:
                dets[-1]["segmentation"] = det_mask(dets[-1]["bbox"], H, W)
            k += 1
    m = 100 - k
    fw, fh = rng.uniform(4, 300, m), rng.uniform(4, 300, m)
    fx, fy = rng.uniform(0, W, m), rng.uniform(0, H, m)
    fc = rng.choice(COCO_IDS, m)
    fs = rng.uniform(0, 0.7, m)
    for j in range(m):
        dets.append({"image_id": i, "category_id": int(fc[j]), "score": round(float(fs[j]), 3),
                     "bbox": [round(float(fx[j]), 2), round(float(fy[j]), 2), round(float(fw[j]), 2), round(float(fh[j]), 2)]})
        if a.segm:
            dets[-1]["segmentation"] = det_mask(dets[-1]["bbox"], H, W)
cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in COCO_IDS]
with open(os.path.join(a.out, "gt.json"), "w") as f:
    json.dump({"images": images, "annotations": anns, "categories": cats}, f)
with open(os.path.join(a.out, "dt.json"), "w") as f:
    json.dump(dets, f)
print(f"{len(images)} images, {len(anns)} annotations, {len(dets)} detections in {a.out}")
