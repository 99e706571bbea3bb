#!/usr/bin/env python3
"""cv2 (OpenCV 4.6, one thread) selective-search Fast timings to compare with opencv_profile.cs in the same run.
Usage: /usr/bin/python3 bench/proposals/opencv_profile.py <reps> <images...>  -> "<name> cv2_fast_ms <median>" lines."""
import os
import sys
import time

import cv2

cv2.setNumThreads(1)
reps = int(sys.argv[1])
for path in sys.argv[2:]:
    img = cv2.imread(path)
    ts = []
    for _ in range(reps):
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(img)
        ss.switchToSelectiveSearchFast()
        t = time.perf_counter()
        ss.process()
        ts.append(time.perf_counter() - t)
    ts.sort()
    print(f"{os.path.splitext(os.path.basename(path))[0]} cv2_fast_ms {ts[len(ts) // 2] * 1000:.1f}", flush=True)
