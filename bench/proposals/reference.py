#!/usr/bin/env python3
"""Times the reference selective-search implementations on prepared images, one core, search only (no decoding).

Usage: /usr/bin/python3 bench/proposals/reference.py <images dir> <which: fast|quality|soco> [<SoCo checkout>]
Prints one JSON object: {"impl": ..., "per_image": {name: seconds}, "boxes": {name: count}}.
`soco` needs the official SoCo repository (its selective_search/selective_search.py); it is not part of this repo.
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

images_dir, which = sys.argv[1], sys.argv[2]
names = sorted(f for f in os.listdir(images_dir) if f.lower().endswith((".png", ".jpg", ".jpeg")))
per_image, boxes = {}, {}

if which in ("fast", "quality"):
    import cv2
    cv2.setNumThreads(1)
    for n in names:
        img = cv2.imread(os.path.join(images_dir, n))
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(img)
        ss.switchToSelectiveSearchFast() if which == "fast" else ss.switchToSelectiveSearchQuality()
        t = time.perf_counter()
        rects = ss.process()
        per_image[n] = time.perf_counter() - t
        boxes[n] = int(len(rects))
elif which == "soco":
    sys.path.insert(0, os.path.join(sys.argv[3], "selective_search"))
    import selective_search as S  # the official file, imported from the user's checkout
    from PIL import Image
    for n in names:
        img = np.asarray(Image.open(os.path.join(images_dir, n)).convert("RGB"))
        t = time.perf_counter()
        _, regions, _ = S.selective_search(img, scale=300, sigma=0.9, min_size=100)
        per_image[n] = time.perf_counter() - t
        boxes[n] = len(regions)
else:
    raise SystemExit("which must be fast, quality or soco")

print(json.dumps({"impl": which, "per_image": per_image, "boxes": boxes}))
