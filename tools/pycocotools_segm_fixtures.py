#!/usr/bin/env python3
"""Golden numbers for `segm` evaluation: pycocotools' own COCOeval(iouType='segm') on committed ground truth (polygons,
uncompressed-RLE crowd regions, compressed RLEs) and mask detections.

Usage: /usr/bin/python3 tools/pycocotools_segm_fixtures.py [--cocoapi DIR] [--out tests/fixtures/coco]

pycocotools is built from the cocoapi source as tools/pycocotools_fixtures.py does (its import_pycocotools and
evaluate; nothing of the source is copied). Writes, into --out:
  segm_gt.json        ground truth: every area range, crowd regions as uncompressed RLE, objects as polygons (one or
                      several) or compressed RLE, `area` = the polygon's area (not its pixel count), an RLE of the
                      wrong size, an image with more than 100 detections;
  segm_dt.json        detections {image_id, category_id, segmentation: compressed RLE, score} (no bbox, as Detectron2
                      and torchvision's evaluators write them for segm: loadRes then takes the mask's area);
  segm_dt_bbox.json   the same detections with a `bbox` as well (loadRes then gives every result the box's area);
  pycocotools_segm_golden.json  per file: what pycocotools_fixtures.evaluate records (stats, summary lines,
                      per-category AP, precision averaged over recall points, recall) for segm, and for
                      segm_dt_bbox.json also for bbox.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycocotools_fixtures import ROOT, evaluate, import_pycocotools  # noqa: E402


def shoelace(p):
    x, y = np.array(p[0::2]), np.array(p[1::2])
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def star(rng, cx, cy, r, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.0, n)
    return np.round(np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).reshape(-1), 2).tolist()


def make(mu, rng):
    cats = [{"id": c, "name": n, "supercategory": "thing"} for c, n in [(1, "person"), (2, "bicycle"), (5, "airplane"), (9, "boat"), (44, "bottle")]]
    images, anns, dets = [], [], []
    aid = [1]

    def rle_str(r):
        return {"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")}

    def encode(m):
        return mu.encode(np.asfortranarray(m.astype(np.uint8).reshape(m.shape[0], m.shape[1], 1)))[0]

    def gt(img, cat, seg, area, crowd=0):
        h, w = img["height"], img["width"]
        if isinstance(seg, list):
            r = mu.merge(mu.frPyObjects(seg, h, w))
        elif isinstance(seg["counts"], list):
            r = mu.frPyObjects(seg, seg["size"][0], seg["size"][1])
        else:
            r = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
        bb = [float(v) for v in mu.toBbox(r)]
        anns.append({"id": aid[0], "image_id": img["id"], "category_id": cat, "segmentation": seg, "area": area,
                     "bbox": bb, "iscrowd": crowd})
        aid[0] += 1
        return r

    def det(img, cat, r, score):
        bb = [float(v) for v in mu.toBbox(r)]
        dets.append({"image_id": img["id"], "category_id": cat, "segmentation": rle_str(r), "score": score, "_bbox": bb})

    def jittered(img, poly, s):
        h, w = img["height"], img["width"]
        q = (np.array(poly) + rng.normal(0, s, len(poly))).round(2).tolist()
        return mu.merge(mu.frPyObjects([q], h, w))

    for i in range(24):
        img = {"id": 3 * i + 7, "file_name": f"{3 * i + 7:06d}.jpg", "height": int(rng.randint(120, 480)), "width": int(rng.randint(120, 640))}
        images.append(img)
        h, w = img["height"], img["width"]
        if i == 5:
            continue  # an image without objects or detections
        n = int(rng.randint(1, 7))
        for j in range(n):
            cat = int(rng.choice([1, 2, 5, 9]))
            # radius spread over every area range: small (< 32²), medium, large (> 96²)
            r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) / 2))))
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            kind = rng.rand()
            if kind < 0.12:
                # crowd region, written as uncompressed RLE (as COCO does)
                m = np.zeros((h, w), bool)
                m[int(max(0, cy - r)):int(cy + r), int(max(0, cx - r)):int(cx + r)] = True
                m &= rng.rand(h, w) < 0.85
                rr = encode(m)
                counts = []
                # the uncompressed counts of m (column-major runs starting with 0s)
                flat = m.T.reshape(-1)
                p, c = False, 0
                for v in flat:
                    if v != p:
                        counts.append(c)
                        c, p = 0, v
                    c += 1
                counts.append(c)
                g = gt(img, cat, {"size": [h, w], "counts": [int(x) for x in counts]}, float(mu.area(rr)), crowd=1)
                # detections inside the crowd region (matched to it and ignored) and one half out of it
                for k in range(int(rng.randint(0, 4))):
                    det(img, cat, jittered(img, star(rng, cx + rng.normal(0, r / 3), cy + rng.normal(0, r / 3), r / 3, 6), 0.3),
                        float(np.round(rng.uniform(0.1, 0.95), 2)))
                continue
            if kind < 0.3:
                # compressed RLE object (as LVIS and converted datasets write them)
                poly = star(rng, cx, cy, r, int(rng.randint(5, 12)))
                rr = mu.merge(mu.frPyObjects([poly], h, w))
                g = gt(img, cat, rle_str(rr), float(mu.area(rr)))
            else:
                polys = [star(rng, cx, cy, r, int(rng.randint(3, 14)))]
                if rng.rand() < 0.25:  # a second part
                    polys.append(star(rng, cx + rng.uniform(-2, 2) * r, cy + rng.uniform(-2, 2) * r, r / 2, 5))
                area = float(np.round(sum(shoelace(p) for p in polys), 2))
                g = gt(img, cat, polys, area)
                poly = polys[0]
            # detections: a good one, sometimes a duplicate, a loose one, sometimes the wrong class
            u = rng.rand()
            if u < 0.85:
                det(img, cat, jittered(img, poly, max(0.3, r * 0.05)), float(np.round(rng.uniform(0.3, 1.0), 2)))
            if u < 0.25:
                det(img, cat, jittered(img, poly, max(0.5, r * 0.2)), float(np.round(rng.uniform(0.05, 0.9), 2)))
            if rng.rand() < 0.1:
                det(img, int(rng.choice([1, 2, 5, 9])), jittered(img, poly, r * 0.1), float(np.round(rng.uniform(0.05, 0.9), 2)))
        # false positives of every size
        for _ in range(int(rng.randint(0, 5))):
            r = float(np.exp(rng.uniform(np.log(2), np.log(min(h, w) / 2))))
            det(img, int(rng.choice([1, 2, 5, 9])), mu.merge(mu.frPyObjects([star(rng, rng.uniform(0, w), rng.uniform(0, h), r, 7)], h, w)),
                float(np.round(rng.uniform(0.0, 0.7), 2)))
        if i == 3:
            # an object whose RLE has another size than its image: IoU -1 with overlapping detections
            rr = encode(np.pad(np.ones((20, 30), bool), ((10, h - 29), (10, w - 40))))
            gt(img, 2, rle_str(rr), float(mu.area(rr)))
            det(img, 2, encode(np.pad(np.ones((20, 30), bool), ((10, h - 30), (10, w - 40)))), 0.77)
        if i == 7:
            # more than 100 detections on one image and category: only the best 100 count
            for k in range(130):
                det(img, 44, mu.merge(mu.frPyObjects([star(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, 40), 6)], h, w)),
                    float(np.round(0.99 - 0.007 * k, 3)))
            poly = star(rng, w / 2, h / 2, min(h, w) / 4, 8)
            gt(img, 44, [poly], float(np.round(shoelace(poly), 2)))
            det(img, 44, jittered(img, poly, 0.5), 0.2)
        if i == 11:
            # score ties across images (file order decides) and an empty detection mask
            det(img, 1, encode(np.zeros((h, w), bool)), 0.5)
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    gt_json = {"images": images, "annotations": anns, "categories": cats}
    no_box = [{k: v for k, v in d.items() if k != "_bbox"} for d in dets]
    with_box = [dict({k: v for k, v in d.items() if k != "_bbox"}, bbox=d["_bbox"]) for d in dets]
    return gt_json, no_box, with_box


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "coco"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycocotools-") as tmp:
        COCO, COCOeval = import_pycocotools(a.cocoapi, tmp)
        from pycocotools import mask as mu
        gt_json, no_box, with_box = make(mu, np.random.RandomState(1111))
        files = {"segm_gt.json": gt_json, "segm_dt.json": no_box, "segm_dt_bbox.json": with_box}
        for name, obj in files.items():
            with open(os.path.join(a.out, name), "w") as f:
                json.dump(obj, f, separators=(",", ":"))
        golden = {"reference": "pycocotools (cocodataset/cocoapi PythonAPI, built from source with cython3), "
                               "COCOeval(iouType='segm' / 'bbox') evaluate/accumulate/summarize; numpy " + np.__version__,
                  "segm_dt": {"segm": evaluate(COCO, COCOeval, gt_json, no_box, "segm")},
                  "segm_dt_bbox": {"segm": evaluate(COCO, COCOeval, gt_json, with_box, "segm"),
                                   "bbox": evaluate(COCO, COCOeval, gt_json, with_box, "bbox")}}
        with open(os.path.join(a.out, "pycocotools_segm_golden.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))
        crowd = sum(x["iscrowd"] for x in gt_json["annotations"])
        print(f"{len(gt_json['images'])} images, {len(gt_json['annotations'])} gt ({crowd} crowd), {len(no_box)} dets")
        for k, v in golden.items():
            if isinstance(v, dict):
                for t, r in v.items():
                    print(k, t, " ".join(f"{x:.4f}" for x in r["stats"]))


if __name__ == "__main__":
    main()
