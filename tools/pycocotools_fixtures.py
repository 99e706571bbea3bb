#!/usr/bin/env python3
"""Golden numbers for the COCO evaluator: pycocotools' own COCOeval (iouType bbox) on committed ground truth +
detections.

Usage: /usr/bin/python3 tools/pycocotools_fixtures.py [--cocoapi DIR] [--out tests/fixtures/coco]

--cocoapi is the cocodataset/cocoapi source: a checkout or a bare git directory (then HEAD is read with `git
archive`; default /work/.mirror/cocodataset+cocoapi/repo). Nothing of it is copied into the repository: the script
extracts PythonAPI/ and common/ into a temporary folder, compiles pycocotools._mask there (Debian's cython3 on
_mask.pyx, then cc with common/maskApi.c, as PythonAPI/setup.py would) and imports pycocotools from that folder.
numpy >= 1.24 removed `np.float`, which cocoeval.accumulate still uses; the script sets `np.float = float` (the
alias it was) before running it, and coco.py's top-level matplotlib import (drawing only) gets empty stand-in
modules where matplotlib is not installed.

Writes, into --out:
  <set>_gt.json, <set>_dt.json   the inputs (a hand-designed set and seeded random sets), deterministic;
  pycocotools_golden.json        per set: stats (12), the 12 printed summary lines, per-category AP (Detectron2's:
                                 precision[:, :, k, 0, -1] > -1 averaged, null when none), precision averaged over the
                                 recall points per [T][K][A][M] (-1 kept where the category has no counted ground
                                 truth) and recall [T][K][A][M].
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def build_pycocotools(src, tmp):
    """Extracts PythonAPI/ and common/ into tmp and compiles pycocotools._mask there; returns the PythonAPI folder."""
    if os.path.isdir(os.path.join(src, "PythonAPI")):
        tar = subprocess.run(["tar", "-C", src, "-cf", "-", "PythonAPI", "common"], check=True, capture_output=True).stdout
    else:
        tar = subprocess.run(["git", "--git-dir", src, "archive", "HEAD", "PythonAPI", "common"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(tmp)
    api = os.path.join(tmp, "PythonAPI")
    pkg = os.path.join(api, "pycocotools")
    subprocess.run(["cython3", "-3", "-o", os.path.join(pkg, "_mask.c"), os.path.join(pkg, "_mask.pyx")], check=True)
    out = os.path.join(pkg, "_mask" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-std=c99", "-Wno-cpp", "-Wno-unused-function",
                    "-I", np.get_include(), "-I", sysconfig.get_paths()["include"], "-I", os.path.join(tmp, "common"),
                    os.path.join(pkg, "_mask.c"), os.path.join(tmp, "common", "maskApi.c"), "-o", out], check=True)
    return api


def import_pycocotools(src, tmp):
    """Builds pycocotools into tmp and imports it; returns (COCO, COCOeval)."""
    sys.path.insert(0, build_pycocotools(src, tmp))
    if not hasattr(np, "float"):
        np.float = float  # removed in numpy 1.24; cocoeval.accumulate uses it as the builtin float
    # coco.py imports matplotlib at the top for showAnns() (drawing) only; Debian's python3 here has no
    # matplotlib, so empty stand-ins let it import. Nothing used by COCOeval touches them.
    import types
    for m in ("matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"):
        sys.modules.setdefault(m, types.ModuleType(m))
    if not hasattr(sys.modules["matplotlib.collections"], "PatchCollection"):
        sys.modules["matplotlib.collections"].PatchCollection = None
        sys.modules["matplotlib.patches"].Polygon = None
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return COCO, COCOeval


# ---------------------------------------------------------------------------------------------------------------
# The hand-designed set. Every case the evaluator must get right, each on its own image where it can be.

CATS = [(1, "person"), (3, "car"), (7, "train"), (18, "dog"), (42, "zebra"), (90, "toothbrush")]  # 42, 90: no gt


def hand_set():
    images, anns, dets = [], [], []
    aid = [100]

    def img(i, w=640, h=480):
        images.append({"id": i, "file_name": f"{i:06d}.jpg", "width": w, "height": h})

    def gt(i, c, box, crowd=0, area=None):
        aid[0] += 1
        anns.append({"id": aid[0], "image_id": i, "category_id": c, "bbox": list(box),
                     "area": float(box[2] * box[3]) if area is None else area, "iscrowd": crowd, "segmentation": []})

    def dt(i, c, box, s):
        dets.append({"image_id": i, "category_id": c, "bbox": list(box), "score": s})

    # 1: perfect detections, large / medium / small, two categories; a zero-width and a negative-width detection.
    img(1)
    for box in ([10, 10, 200, 150], [300, 40, 60, 50], [500, 400, 20, 20]):
        gt(1, 1, box)
        dt(1, 1, box, 0.9)
    gt(1, 3, [250, 250, 120, 100])
    dt(1, 3, [250, 250, 120, 100], 0.95)
    dt(1, 1, [50, 300, 0, 40], 0.3)
    dt(1, 1, [60, 300, -5, 40], 0.31)
    # 2: boxes shifted to known IoUs: a 100x100 box moved s px right has IoU (100-s)/(100+s).
    img(2)
    for n, s in enumerate([5, 10, 20, 30, 40]):
        x, y = 20 + 120 * n, 100
        gt(2, 7, [x, y, 100, 100])
        dt(2, 7, [x + s, y, 100, 100], 0.8 - 0.1 * n)
    # 3: duplicates: three detections on one object.
    img(3)
    gt(3, 3, [100, 100, 80, 60])
    for s in (0.85, 0.75, 0.65):
        dt(3, 3, [100, 100, 80, 60], s)
    dt(3, 3, [102, 101, 80, 60], 0.7)
    # 5: crowd region (intersection over detection area; any number of matches) next to an ordinary object.
    img(5)
    gt(5, 1, [0, 0, 400, 400], crowd=1)
    gt(5, 1, [450, 50, 100, 100])
    gt(5, 1, [300, 300, 200, 150])  # half inside the crowd region
    dt(5, 1, [450, 50, 100, 100], 0.6)
    dt(5, 1, [20, 20, 50, 50], 0.88)
    dt(5, 1, [100, 100, 80, 120], 0.87)
    dt(5, 1, [350, 350, 100, 100], 0.86)  # IoU with crowd 0.25, with the half-inside object higher
    dt(5, 1, [300, 300, 200, 150], 0.5)
    # 8: an empty image (no ground truth, no detections) and 9: an image whose objects are all missed.
    img(8)
    img(9, 320, 240)
    gt(9, 18, [10, 10, 100, 100])
    gt(9, 1, [150, 20, 30, 90])
    # 13: detections and no ground truth (false positives of a category present elsewhere), score ties with img 21.
    img(13)
    dt(13, 3, [10, 10, 50, 50], 0.5)
    dt(13, 7, [10, 10, 300, 200], 0.5)
    dt(13, 7, [200, 200, 30, 30], 0.45)
    # 21: score ties inside an image: the first in file order ranks first.
    img(21)
    gt(21, 7, [100, 100, 200, 100])
    gt(21, 7, [350, 100, 200, 100])
    dt(21, 7, [400, 300, 100, 100], 0.5)
    dt(21, 7, [100, 100, 200, 100], 0.5)
    dt(21, 7, [350, 100, 200, 100], 0.5)
    dt(21, 7, [110, 100, 200, 100], 0.5)
    # 34: more than 100 detections on one image (only the best 100 count per image and category).
    img(34, 1000, 800)
    rng = np.random.RandomState(34)
    objs = [[20 + 150 * j, 30, 90, 70] for j in range(6)]
    for b in objs:
        gt(34, 18, b)
    for r in range(130):
        s = round(0.99 - 0.007 * r, 3)
        if r in (0, 7, 50, 99):
            b = objs[[0, 7, 50, 99].index(r)]
            dt(34, 18, [b[0] + 2, b[1] + 1, b[2], b[3]], s)
        elif r in (100, 120):  # matches cut by maxDets 100
            b = objs[4 if r == 100 else 5]
            dt(34, 18, b, s)
        else:
            dt(34, 18, [float(rng.randint(0, 900)), float(rng.randint(300, 700)), 40.0, 40.0], s)
    dt(34, 18, [20, 30, 90, 70], 0.5)  # a second detection of object 0 below many others
    # 55: area ranges by the annotation's `area`, not the box; boundaries 32² and 96² are in both neighbouring ranges.
    img(55)
    gt(55, 1, [10, 10, 50, 50], area=500.0)       # small by area although its box is 2500
    gt(55, 1, [100, 10, 32, 32], area=1024.0)     # small and medium
    gt(55, 1, [200, 10, 96, 96], area=9216.0)     # medium and large
    gt(55, 3, [10, 200, 40, 40], area=1600.0)
    gt(55, 3, [400, 200, 200, 200], crowd=1)
    dt(55, 1, [10, 10, 50, 50], 0.7)
    dt(55, 1, [100, 10, 32, 32], 0.6)
    dt(55, 1, [205, 12, 96, 96], 0.55)
    dt(55, 3, [10, 200, 40, 40], 0.4)
    dt(55, 3, [420, 220, 10, 10], 0.9)   # small, inside the crowd
    dt(55, 3, [300, 350, 60, 60], 0.35)  # unmatched, medium: ignored in small/large, counted in all/medium
    # 89: detections of a category with no ground truth anywhere (42): excluded from every mean.
    img(89)
    dt(89, 42, [10, 10, 100, 100], 0.99)
    dt(89, 1, [10, 10, 100, 100], 0.2)
    # 60: a ground truth whose id is 0. COCOeval stores matches as ids and tests them for non-zero, so a detection
    # matched to it reads as unmatched (a false positive) and the object as not found.
    img(60)
    anns.append({"id": 0, "image_id": 60, "category_id": 7, "bbox": [50, 50, 100, 80], "area": 8000.0, "iscrowd": 0,
                 "segmentation": []})
    dt(60, 7, [50, 50, 100, 80], 0.66)
    gt_json = {"images": images, "annotations": anns,
               "categories": [{"id": c, "name": n, "supercategory": "thing"} for c, n in CATS]}
    return gt_json, dets


def random_set(seed, n_images, cat_ids, crowd_p=0.05):
    rng = np.random.RandomState(seed)
    images, anns, dets = [], [], []
    aid = 1
    img_ids = sorted(rng.choice(np.arange(1, 10 * n_images), n_images, replace=False).tolist())
    rng.shuffle(img_ids)  # file order is not id order
    for i in img_ids:
        w, h = int(rng.randint(200, 1000)), int(rng.randint(200, 1000))
        images.append({"id": int(i), "file_name": f"{i:08d}.jpg", "width": w, "height": h})
        for _ in range(int(rng.randint(0, 9))):
            bw = float(np.round(min(w - 1, np.exp(rng.uniform(np.log(4), np.log(400)))), 2))
            bh = float(np.round(min(h - 1, bw * np.exp(rng.uniform(-1, 1))), 2))
            bh = max(bh, 1.0)
            x = float(np.round(rng.uniform(0, w - bw), 2))
            y = float(np.round(rng.uniform(0, h - bh), 2))
            c = int(rng.choice(cat_ids))
            crowd = int(rng.rand() < crowd_p)
            # area is a segment's area in COCO: a bit less than the box
            area = float(np.round(bw * bh * rng.uniform(0.5, 1.0), 2))
            anns.append({"id": aid, "image_id": int(i), "category_id": c, "bbox": [x, y, bw, bh], "area": area,
                         "iscrowd": crowd, "segmentation": []})
            aid += 1
            if rng.rand() < 0.8:
                for _ in range(1 + int(rng.rand() < 0.2)):  # some duplicates
                    j = rng.normal(0, 0.1, 4) * [bw, bh, bw, bh]
                    dets.append({"image_id": int(i), "category_id": c if rng.rand() < 0.9 else int(rng.choice(cat_ids)),
                                 "bbox": [float(np.round(x + j[0], 2)), float(np.round(y + j[1], 2)),
                                          float(np.round(max(1.0, bw + j[2]), 2)), float(np.round(max(1.0, bh + j[3]), 2))],
                                 "score": float(np.round(rng.uniform(0.05, 1.0), 2))})  # 2 decimals: many ties
        n_fp = int(rng.randint(0, 12)) if rng.rand() > 0.05 else 150  # now and then an image over maxDets
        for _ in range(n_fp):
            bw, bh = float(np.round(rng.uniform(5, 300), 2)), float(np.round(rng.uniform(5, 300), 2))
            dets.append({"image_id": int(i), "category_id": int(rng.choice(cat_ids)),
                         "bbox": [float(np.round(rng.uniform(0, w), 2)), float(np.round(rng.uniform(0, h), 2)), bw, bh],
                         "score": float(np.round(rng.uniform(0.0, 0.8), 2))})
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    cats = [{"id": int(c), "name": f"class{c}", "supercategory": "thing"} for c in cat_ids]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def evaluate(COCO, COCOeval, gt_json, dets, iou_type="bbox"):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(gt_json))
        gt.createIndex()
        dt = gt.loadRes(json.loads(json.dumps(dets)))
        e = COCOeval(gt, dt, iou_type)
        e.evaluate()
        e.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        e.summarize()
    prec = e.eval["precision"]  # [T, R, K, A, M]
    rec = e.eval["recall"]      # [T, K, A, M]
    per_cat = []
    for k, cid in enumerate(e.params.catIds):
        p = prec[:, :, k, 0, -1]
        p = p[p > -1]
        per_cat.append({"id": int(cid), "ap": float(np.mean(p)) if p.size else None})
    # mean over recall points of each [t, k, a, m] (all R entries are -1 together or none is)
    pm = np.where((prec > -1).all(axis=1), prec.mean(axis=1), -1.0)
    return {
        "stats": [float(x) for x in e.stats],
        "summary_lines": buf.getvalue().rstrip("\n").split("\n"),
        "per_category_ap": per_cat,
        "precision_mean_over_recall": pm.tolist(),
        "recall": rec.tolist(),
        "precision_shape": list(prec.shape),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "coco"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pycocotools-") as tmp:
        COCO, COCOeval = import_pycocotools(a.cocoapi, tmp)

        sets = {"hand": hand_set(),
                "random_s0": random_set(0, 60, [2, 5, 11, 17, 60]),
                "random_s1": random_set(1, 200, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]),
                "random_s2": random_set(2, 40, [4, 9], crowd_p=0.2)}
        golden = {"reference": "pycocotools (cocodataset/cocoapi PythonAPI, built from source with cython3), "
                               "COCOeval(iouType='bbox') evaluate/accumulate/summarize; numpy " + np.__version__,
                  "sets": {}}
        for name, (gt_json, dets) in sets.items():
            with open(os.path.join(a.out, f"{name}_gt.json"), "w") as f:
                json.dump(gt_json, f, separators=(",", ":"))
            with open(os.path.join(a.out, f"{name}_dt.json"), "w") as f:
                json.dump(dets, f, separators=(",", ":"))
            golden["sets"][name] = evaluate(COCO, COCOeval, gt_json, dets)
            s = golden["sets"][name]["stats"]
            print(f"{name}: {len(gt_json['images'])} images, {len(gt_json['annotations'])} gt, {len(dets)} dets; "
                  f"AP {s[0]:.4f} AP50 {s[1]:.4f} AR100 {s[8]:.4f}")
        with open(os.path.join(a.out, "pycocotools_golden.json"), "w") as f:
            json.dump(golden, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
