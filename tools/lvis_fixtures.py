#!/usr/bin/env python3
"""Golden numbers for the LVIS evaluator: the LVIS API's own LVISResults + LVISEval (iou_type bbox; segm for the
segm_* sets, whose detections are compressed RLE without bbox) on committed LVIS-format ground truth + detections.

Usage: /usr/bin/python3 tools/lvis_fixtures.py [--lvis-api DIR] [--cocoapi DIR] [--out tests/fixtures/lvis]

--lvis-api is the lvis-dataset/lvis-api source (a checkout or a bare git directory, whose HEAD is read with `git
archive`; default /work/.mirror/lvis-dataset+lvis-api/repo, fetched with the `fetch` tool as
github:lvis-dataset/lvis-api). The LVIS API needs pycocotools (mask_utils.iou): it is built from cocoapi's source
exactly as tools/pycocotools_fixtures.py does (same function). Nothing of either source is copied into the
repository: both are extracted into a temporary folder and imported from there. lvis/vis.py (drawing only) imports
matplotlib, which gets the same empty stand-ins as pycocotools' coco.py.

Writes, into --out:
  <set>_gt.json, <set>_dt.json  the inputs (a hand-designed set and seeded random sets), deterministic;
  lvis_golden.json              per set: the 13 results in LVISEval.results order, the lines print_results() prints,
                                per-category AP (precision[:, :, k, 0] > -1 averaged, null when none), precision
                                averaged over the recall points per [T][K][A] (-1 kept where the category has no
                                counted ground truth), recall [T][K][A], and how many detections LVISResults kept.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycocotools_fixtures import import_pycocotools  # noqa: E402  (builds pycocotools from source)


def import_lvis(src, tmp):
    if os.path.isdir(os.path.join(src, "lvis")):
        tar = subprocess.run(["tar", "-C", src, "-cf", "-", "lvis"], check=True, capture_output=True).stdout
    else:
        tar = subprocess.run(["git", "--git-dir", src, "archive", "HEAD", "lvis"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(tmp)
    sys.path.insert(0, tmp)
    from lvis import LVIS, LVISResults, LVISEval
    return LVIS, LVISResults, LVISEval


# ---------------------------------------------------------------------------------------------------------------
# The hand-designed set: every federated rule, each on its own image where it can be.
# Categories: 1-3 frequent, 4-6 common, 7-9 rare; 9 has no ground truth anywhere (only negatives).
CATS = [(1, "person", "f"), (2, "car", "f"), (3, "dog", "f"), (4, "kite", "c"), (5, "zebra", "c"), (6, "vase", "c"),
        (7, "aardvark", "r"), (8, "armoire", "r"), (9, "bait", "r")]


def hand_set():
    images, anns, dets = [], [], []
    aid = [100]

    def img(i, neg=(), nel=(), w=640, h=480):
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h,
                       "neg_category_ids": list(neg), "not_exhaustive_category_ids": list(nel)})

    def gt(i, c, box, area=None, **extra):
        aid[0] += 1
        a = {"id": aid[0], "image_id": i, "category_id": c, "bbox": list(box),
             "area": float(box[2] * box[3]) if area is None else area, "segmentation": []}
        a.update(extra)
        anns.append(a)

    def dt(i, c, box, s):
        dets.append({"image_id": i, "category_id": c, "bbox": list(box), "score": s})

    # 1: perfect detections of a frequent and a common category; a false positive of category 2, which is verified
    #    absent (negative) -> counted; one of category 3, which is neither present nor negative -> dropped.
    img(1, neg=[2, 9])
    gt(1, 1, [10, 10, 200, 150])
    gt(1, 4, [300, 40, 60, 50])
    dt(1, 1, [10, 10, 200, 150], 0.9)
    dt(1, 4, [302, 41, 60, 50], 0.8)
    dt(1, 2, [400, 300, 100, 80], 0.95)
    dt(1, 3, [10, 300, 100, 100], 0.99)
    dt(1, 9, [500, 10, 50, 50], 0.4)  # rare category without gt anywhere: negative here, its AP stays -1
    # 2: not exhaustive for category 1: the unmatched detections of it are ignored, the matched one counts.
    img(2, nel=[1])
    gt(2, 1, [50, 50, 100, 100])
    dt(2, 1, [52, 50, 100, 100], 0.7)
    dt(2, 1, [300, 300, 80, 80], 0.85)
    dt(2, 1, [52, 52, 100, 100], 0.6)  # duplicate of the matched one: unmatched, ignored
    # 3: rare categories; one missed rare object; a crowd-marked annotation (LVIS has no crowd: an ordinary object).
    img(3, neg=[5])
    gt(3, 7, [20, 20, 80, 60])
    gt(3, 8, [200, 200, 150, 120])
    gt(3, 8, [400, 50, 60, 60], iscrowd=1)
    dt(3, 7, [25, 22, 80, 60], 0.5)
    dt(3, 8, [410, 55, 30, 30], 0.45)  # inside the "crowd" box: IoU 0.25, a false positive (COCO would ignore it)
    dt(3, 5, [10, 10, 30, 30], 0.3)    # negative category: a false positive of 5
    # 4: area ranges by the annotation's area, boundaries in both neighbouring ranges; ground truth with area 0 (the
    #    LVIS API loads only area > 0, so the image has no positive 6 and the detection of 6 is dropped).
    img(4)
    gt(4, 2, [10, 10, 50, 50], area=500.0)
    gt(4, 2, [100, 10, 32, 32], area=1024.0)
    gt(4, 2, [200, 10, 96, 96], area=9216.0)
    gt(4, 6, [300, 300, 40, 40], area=0.0)
    dt(4, 2, [10, 10, 50, 50], 0.7)
    dt(4, 2, [100, 10, 32, 32], 0.6)
    dt(4, 2, [205, 12, 96, 96], 0.55)
    dt(4, 2, [300, 100, 60, 60], 0.35)  # unmatched, medium: ignored in small/large
    dt(4, 6, [300, 300, 40, 40], 0.9)
    dt(4, 2, [450, 100, 0, 40], 0.8)    # zero width: area 0, dropped by get_ann_ids
    # 5: an annotation marked ignore, and one whose id is 0 (matches are stored as ids: a match to it reads as none).
    img(5, nel=[4])
    gt(5, 3, [10, 10, 100, 100], ignore=1)
    gt(5, 3, [200, 10, 100, 100])
    anns.append({"id": 0, "image_id": 5, "category_id": 4, "bbox": [50, 200, 100, 80], "area": 8000.0, "segmentation": []})
    dt(5, 3, [10, 10, 100, 100], 0.9)   # matches the ignored one: ignored
    dt(5, 3, [200, 10, 100, 100], 0.8)
    dt(5, 4, [50, 200, 100, 80], 0.66)  # "unmatched" (gt id 0) on a not-exhaustive image: ignored
    # 6: the 300-per-image cap across categories: 340 detections of five categories; some true positives rank below
    #    300 and are cut, others survive; exact score ties at the cut keep file order.
    img(6, neg=[5, 6], w=1000, h=800)
    objs = {1: [20, 30, 90, 70], 2: [200, 30, 90, 70], 4: [400, 30, 90, 70]}
    for c, b in objs.items():
        gt(6, c, b)
    rng = np.random.RandomState(6)
    for r in range(340):
        s = round(0.99 - 0.0025 * r, 4)
        c = [1, 2, 4, 5, 6][r % 5]
        if r == 3:
            b = objs[1]
        elif r == 299 or r == 300:  # tie at the cut: the first in file order stays
            s = 0.2
            b = objs[2] if r == 300 else [float(rng.randint(0, 900)), float(rng.randint(300, 700)), 40.0, 40.0]
            c = 2
        elif r == 320:
            b, c = objs[4], 4  # a true positive cut by the cap
        else:
            b = [float(rng.randint(0, 900)), float(rng.randint(300, 700)), 40.0, 40.0]
        dt(6, c, b, s)
    # 7: an empty image; 8: an image whose objects are all missed.
    img(7)
    img(8, neg=[1])
    gt(8, 5, [10, 10, 100, 100])
    gt(8, 6, [150, 20, 30, 90])
    # 9: score ties across images with image 1's detections.
    img(9)
    gt(9, 1, [100, 100, 50, 50])
    dt(9, 1, [300, 300, 50, 50], 0.9)
    dt(9, 1, [100, 100, 50, 50], 0.9)
    cats = [{"id": c, "name": n, "synset": n + ".n.01", "frequency": f, "image_count": {"f": 150, "c": 40, "r": 3}[f],
             "instance_count": 1, "synonyms": [n], "def": ""} for c, n, f in CATS]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def random_set(seed, n_images, n_cats, cap_images):
    """LVIS-like: each image has a few positive categories, some verified negatives, some not-exhaustive ones, and
    detections of positive, negative and unverified categories; cap_images images get more than 300 detections."""
    rng = np.random.RandomState(seed)
    freq = ["r", "c", "f"]
    cat_ids = sorted(rng.choice(np.arange(1, 4 * n_cats), n_cats, replace=False).tolist())
    cats = [{"id": int(c), "name": f"class{c}", "frequency": freq[k % 3], "image_count": [5, 50, 500][k % 3]}
            for k, c in enumerate(cat_ids)]
    images, anns, dets = [], [], []
    aid = 1
    img_ids = sorted(rng.choice(np.arange(1, 10 * n_images), n_images, replace=False).tolist())
    rng.shuffle(img_ids)
    for n, i in enumerate(img_ids):
        w, h = int(rng.randint(200, 1000)), int(rng.randint(200, 1000))
        pos = [int(c) for c in rng.choice(cat_ids, int(rng.randint(0, 4)), replace=False)]
        rest = [c for c in cat_ids if c not in pos]
        neg = [int(c) for c in rng.choice(rest, int(rng.randint(0, min(5, len(rest)))), replace=False)]
        nel = [c for c in pos if rng.rand() < 0.3]
        images.append({"id": int(i), "file_name": f"{i:012d}.jpg", "width": w, "height": h,
                       "neg_category_ids": neg, "not_exhaustive_category_ids": nel})
        for c in pos:
            for _ in range(int(rng.randint(1, 5))):
                bw = float(np.round(min(w - 1, np.exp(rng.uniform(np.log(4), np.log(400)))), 2))
                bh = float(np.round(max(1.0, min(h - 1, bw * np.exp(rng.uniform(-1, 1)))), 2))
                x = float(np.round(rng.uniform(0, w - bw), 2))
                y = float(np.round(rng.uniform(0, h - bh), 2))
                area = float(np.round(bw * bh * rng.uniform(0.5, 1.0), 2))
                anns.append({"id": aid, "image_id": int(i), "category_id": c, "bbox": [x, y, bw, bh], "area": area,
                             "segmentation": []})
                aid += 1
                if rng.rand() < 0.8:
                    for _ in range(1 + int(rng.rand() < 0.2)):
                        j = rng.normal(0, 0.1, 4) * [bw, bh, bw, bh]
                        dets.append({"image_id": int(i), "category_id": c if rng.rand() < 0.9 else int(rng.choice(cat_ids)),
                                     "bbox": [float(np.round(x + j[0], 2)), float(np.round(y + j[1], 2)),
                                              float(np.round(max(1.0, bw + j[2]), 2)), float(np.round(max(1.0, bh + j[3]), 2))],
                                     "score": float(np.round(rng.uniform(0.05, 1.0), 2))})
        n_fp = 330 if n < cap_images else int(rng.randint(0, 15))
        for _ in range(n_fp):
            bw, bh = float(np.round(rng.uniform(5, 300), 2)), float(np.round(rng.uniform(5, 300), 2))
            dets.append({"image_id": int(i), "category_id": int(rng.choice(cat_ids)),
                         "bbox": [float(np.round(rng.uniform(0, w), 2)), float(np.round(rng.uniform(0, h), 2)), bw, bh],
                         "score": float(np.round(rng.uniform(0.0, 0.8), 2))})  # 2 decimals: many ties
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def segm_set(mu, seed, n_images=30, n_cats=9, cap_image=3):
    """LVIS-like masks: star-shaped polygon ground truth (one object per image as uncompressed RLE), detections as
    compressed RLE without bbox (so LVISResults gives them the mask's area, as Detectron2 passes them), jittered
    true positives, false positives of positive, negative and unverified categories, and one image over 300."""
    rng = np.random.RandomState(seed)
    freq = ["r", "c", "f"]
    cat_ids = sorted(rng.choice(np.arange(1, 4 * n_cats), n_cats, replace=False).tolist())
    cats = [{"id": int(c), "name": f"class{c}", "frequency": freq[k % 3], "image_count": [5, 50, 500][k % 3]}
            for k, c in enumerate(cat_ids)]
    images, anns, dets = [], [], []
    aid = [1]

    def star(cx, cy, r, n):
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = r * rng.uniform(0.6, 1.0, n)
        return np.round(np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).reshape(-1), 2).tolist()

    def rle_of(poly, h, w):
        return mu.merge(mu.frPyObjects([poly], h, w))

    def det(i, c, r, score):
        dets.append({"image_id": int(i), "category_id": int(c), "score": score,
                     "segmentation": {"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")}})

    for n in range(n_images):
        i = 5 * n + 3
        h, w = int(rng.randint(100, 360)), int(rng.randint(100, 480))
        pos = [int(c) for c in rng.choice(cat_ids, int(rng.randint(0, 4)), replace=False)]
        rest = [c for c in cat_ids if c not in pos]
        neg = [int(c) for c in rng.choice(rest, int(rng.randint(0, 4)), replace=False)]
        nel = [c for c in pos if rng.rand() < 0.3]
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h,
                       "neg_category_ids": neg, "not_exhaustive_category_ids": nel})
        for c in pos:
            for _ in range(int(rng.randint(1, 4))):
                r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) / 2))))
                poly = star(rng.uniform(r, w - r), rng.uniform(r, h - r), r, int(rng.randint(5, 12)))
                m = rle_of(poly, h, w)
                bb = [float(v) for v in mu.toBbox(m)]
                if aid[0] % 7 == 0:  # uncompressed RLE, as crowd-style files write it
                    flat = mu.decode(m).T.reshape(-1)
                    counts, prev, run = [], 0, 0
                    for v in flat:
                        if v != prev:
                            counts.append(run)
                            prev, run = v, 0
                        run += 1
                    counts.append(run)
                    seg = {"size": [h, w], "counts": [int(x) for x in counts]}
                else:
                    seg = [poly]
                anns.append({"id": aid[0], "image_id": i, "category_id": c, "segmentation": seg,
                             "area": float(mu.area(m)), "bbox": bb})
                aid[0] += 1
                if rng.rand() < 0.8:
                    q = (np.array(poly) + rng.normal(0, max(0.5, r / 8), len(poly))).round(2).tolist()
                    det(i, c if rng.rand() < 0.9 else int(rng.choice(cat_ids)), rle_of(q, h, w), float(np.round(rng.uniform(0.05, 1.0), 2)))
        for _ in range(330 if n == cap_image else int(rng.randint(0, 10))):
            r = float(rng.uniform(3, min(h, w) / 3))
            det(i, int(rng.choice(cat_ids)), rle_of(star(rng.uniform(r, w - r), rng.uniform(r, h - r), r, 6), h, w),
                float(np.round(rng.uniform(0.0, 0.8), 2)))
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def evaluate(LVIS, LVISResults, LVISEval, gt_path, dt_path, iou_type="bbox"):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = LVIS(gt_path)
        res = LVISResults(gt, dt_path, max_dets=300)
        e = LVISEval(gt, res, iou_type)
        e.run()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        e.print_results()
    prec = e.eval["precision"]  # [T, R, K, A]
    rec = e.eval["recall"]      # [T, K, A]
    per_cat = []
    for k, cid in enumerate(e.params.cat_ids):
        p = prec[:, :, k, 0]
        p = p[p > -1]
        per_cat.append({"id": int(cid), "ap": float(np.mean(p)) if p.size else None})
    pm = np.where((prec > -1).all(axis=1), prec.mean(axis=1), -1.0)
    return {
        "results": {k: float(v) for k, v in e.results.items()},
        "summary_lines": buf.getvalue().rstrip("\n").split("\n"),
        "per_category_ap": per_cat,
        "precision_mean_over_recall": pm.tolist(),
        "recall": rec.tolist(),
        "precision_shape": list(prec.shape),
        "detections_after_cap": len(res.dataset["annotations"]),
        "iou_type": iou_type,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lvis-api", default="/work/.mirror/lvis-dataset+lvis-api/repo")
    ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "lvis"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lvis-api-") as tmp:
        import_pycocotools(a.cocoapi, os.path.join(tmp, "cocoapi"))
        LVIS, LVISResults, LVISEval = import_lvis(a.lvis_api, os.path.join(tmp, "lvis-api"))
        sets = {"hand": hand_set(),
                "random_s0": random_set(0, 60, 12, cap_images=2),
                "random_s1": random_set(1, 150, 30, cap_images=3)}
        from pycocotools import mask as mu
        sets["segm_s0"] = segm_set(mu, 0)
        golden = {"reference": "lvis-api (lvis-dataset/lvis-api lvis/, with pycocotools built from cocoapi's source), "
                               "LVISResults(max_dets=300) + LVISEval(iou_type='bbox', or 'segm' for segm_*).run(); numpy " + np.__version__,
                  "sets": {}}
        for name, (gt_json, dets) in sets.items():
            gt_path, dt_path = os.path.join(a.out, f"{name}_gt.json"), os.path.join(a.out, f"{name}_dt.json")
            with open(gt_path, "w") as f:
                json.dump(gt_json, f, separators=(",", ":"))
            with open(dt_path, "w") as f:
                json.dump(dets, f, separators=(",", ":"))
            golden["sets"][name] = g = evaluate(LVIS, LVISResults, LVISEval, gt_path, dt_path, "segm" if name.startswith("segm") else "bbox")
            r = g["results"]
            print(f"{name}: {len(gt_json['images'])} images, {len(gt_json['annotations'])} gt, {len(dets)} dets "
                  f"({g['detections_after_cap']} after the cap); AP {r['AP']:.4f} APr {r['APr']:.4f} "
                  f"APc {r['APc']:.4f} APf {r['APf']:.4f} AR@300 {r['AR@300']:.4f}")
        with open(os.path.join(a.out, "lvis_golden.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
