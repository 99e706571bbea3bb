#!/usr/bin/env python3
"""pycocotools' COCOeval (bbox, or segm with --iou-type segm) on DIR/gt.json + DIR/dt.json, timed, with pycocotools built from source the way
tools/pycocotools_fixtures.py builds it. Prints one JSON line: seconds for load (COCO() + loadRes), evaluate,
accumulate, summarize, total (wall and CPU), and the 12 stats.

Usage: /usr/bin/python3 bench/eval/reference.py DIR [--cocoapi DIR] [--iou-type bbox|segm]"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import pycocotools_fixtures as fx  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
ap.add_argument("--iou-type", default="bbox", choices=["bbox", "segm"])
a = ap.parse_args()
with tempfile.TemporaryDirectory(prefix="pycocotools-") as tmp:
    COCO, COCOeval = fx.import_pycocotools(a.cocoapi, tmp)

    t = {}
    with contextlib.redirect_stdout(io.StringIO()):
        c0 = time.process_time()
        t0 = time.perf_counter()
        gt = COCO(os.path.join(a.dir, "gt.json"))
        dt = gt.loadRes(os.path.join(a.dir, "dt.json"))
        t1 = time.perf_counter()
        e = COCOeval(gt, dt, a.iou_type)
        e.evaluate()
        t2 = time.perf_counter()
        e.accumulate()
        t3 = time.perf_counter()
        e.summarize()
        t4 = time.perf_counter()
        c4 = time.process_time()
    print(json.dumps({"impl": "pycocotools", "load_s": t1 - t0, "evaluate_s": t2 - t1, "accumulate_s": t3 - t2,
                      "summarize_s": t4 - t3, "total_s": t4 - t0, "total_cpu_s": c4 - c0, "stats": [float(s) for s in e.stats]}))
