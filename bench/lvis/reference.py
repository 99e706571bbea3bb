#!/usr/bin/env python3
"""LVIS bench reference: writes a synthetic LVIS-format set (tools/lvis_fixtures.random_set) into DIR and times the LVIS
API on it (LVISResults + LVISEval bbox run(), lvis-api and pycocotools built from source as tools/lvis_fixtures.py
does). Prints one JSON line: the 13 results, seconds and CPU seconds.

Usage: /usr/bin/python3 bench/lvis/reference.py DIR [--images N] [--categories K] [--cap-images M]
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import lvis_fixtures as lf  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--images", type=int, default=1000)
ap.add_argument("--categories", type=int, default=300)
ap.add_argument("--cap-images", type=int, default=50)
ap.add_argument("--lvis-api", default="/work/.mirror/lvis-dataset+lvis-api/repo")
ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
a = ap.parse_args()
gt_json, dets = lf.random_set(7, a.images, a.categories, cap_images=a.cap_images)
gt_path, dt_path = os.path.join(a.dir, "gt.json"), os.path.join(a.dir, "dt.json")
with open(gt_path, "w") as f:
    json.dump(gt_json, f)
with open(dt_path, "w") as f:
    json.dump(dets, f)
with tempfile.TemporaryDirectory(prefix="lvis-bench-") as tmp:
    lf.import_pycocotools(a.cocoapi, os.path.join(tmp, "cocoapi"))
    LVIS, LVISResults, LVISEval = lf.import_lvis(a.lvis_api, os.path.join(tmp, "lvis-api"))
    t0, c0 = time.time(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = LVIS(gt_path)
        e = LVISEval(gt, LVISResults(gt, dt_path, max_dets=300), "bbox")
        e.run()
    t1, c1 = time.time(), time.process_time()
print(json.dumps({"results": {k: float(v) for k, v in e.results.items()}, "seconds": t1 - t0, "cpu_seconds": c1 - c0,
                  "images": a.images, "categories": a.categories, "detections": len(dets)}))
