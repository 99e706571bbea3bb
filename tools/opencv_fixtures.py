#!/usr/bin/python3
"""Golden fixtures for the C# port of OpenCV's selective search (src/Soco/Proposals/OpenCv).

Run with Debian's interpreter (python3-opencv 4.6 with contrib ximgproc):

    /usr/bin/python3 tools/opencv_fixtures.py [--out tests/fixtures/opencv] [--no-quality]

Writes, for a fixed set of byte-exact sample photos used at their original size (no resizing: resamplers differ
between libraries):
  seg_<image>_<space>_k<k>.u16.gz  FH label maps of the Fast preset's segmentation stage
                                   (createGraphSegmentation(0.8, k, 100) on the 8-bit HSV / Lab image).
                                   Layout (before gzip): int32 LE width, int32 LE height, then width*height uint16 LE
                                   labels, row-major.
  boxes.json                       per image: OpenCV's fast (and for a few images quality) box sets, [x, y, w, h]
                                   (w, h as boundingRect gives them), plus OpenCV's time per image on one thread.
  colour.json                      SHA-256 of OpenCV's 8-bit BGR2HSV, BGR2Lab and BGR2GRAY outputs over the full
                                   256^3 BGR cube and per fixture image.
Images are decoded with cv2.imread (BGR; grayscale PNGs come back as 3 equal channels).
"""
import argparse, gzip, hashlib, json, os, struct, sys, time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = [
    "samples/photos/chelsea.png",
    "samples/photos/butterfly.jpg",
    "samples/photos/plant.jpg",
    "samples/photos/messi5.jpg",
    "samples/photos/camera.png",
    "samples/voc/JPEGImages/2011_000003.jpg",
]
QUALITY_IMAGES = {"chelsea", "butterfly", "2011_000003"}
KS = [150, 300, 450]
SIGMA = 0.8
# The cube: pixel index = (r * 256 + g) * 256 + b, stored as B, G, R bytes (OpenCV order).
CUBE_ORDER = "index = (r*256 + g)*256 + b; channels B,G,R"


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def write_labels(path, labels):
    h, w = labels.shape
    assert labels.min() >= 0 and labels.max() < 65536
    payload = struct.pack("<ii", w, h) + labels.astype("<u2").tobytes()
    with open(path, "wb") as f:
        # mtime=0 keeps the file byte-stable between runs
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(payload)


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def cube_bgr():
    r, g, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8),
                          np.arange(256, dtype=np.uint8), indexing="ij")
    return np.stack([b.ravel(), g.ravel(), r.ravel()], axis=1).reshape(4096, 4096, 3)


def run_ss(img, mode):
    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(img)
    if mode == "fast":
        ss.switchToSelectiveSearchFast()
    else:
        ss.switchToSelectiveSearchQuality()
    t = time.perf_counter()
    rects = ss.process()
    dt = time.perf_counter() - t
    return sorted(map(lambda r: [int(v) for v in r], rects)), dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests/fixtures/opencv"))
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-boxes", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    os.makedirs(args.out, exist_ok=True)
    print("OpenCV", cv2.__version__, file=sys.stderr)

    cube = cube_bgr()
    colour = {"opencv": cv2.__version__, "cube_order": CUBE_ORDER,
              "cube": {"hsv": sha(cv2.cvtColor(cube, cv2.COLOR_BGR2HSV)),
                       "lab": sha(cv2.cvtColor(cube, cv2.COLOR_BGR2Lab)),
                       "gray": sha(cv2.cvtColor(cube, cv2.COLOR_BGR2GRAY))},
              "images": {}}
    boxes = {"opencv": cv2.__version__, "note": "sets sorted by (x,y,w,h); OpenCV's own order is random (rand())",
             "images": {}}
    for rel in IMAGES:
        name = stem(rel)
        img = cv2.imread(os.path.join(REPO, rel), cv2.IMREAD_COLOR)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        lab = cv2.cvtColor(img, cv2.COLOR_BGR2Lab)
        colour["images"][name] = {"hsv": sha(hsv), "lab": sha(lab), "gray": sha(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))}
        for space, im in (("hsv", hsv), ("lab", lab)):
            for k in KS:
                gs = cv2.ximgproc.segmentation.createGraphSegmentation(SIGMA, float(k), 100)
                labels = gs.processImage(im)
                write_labels(os.path.join(args.out, f"seg_{name}_{space}_k{k}.u16.gz"), labels)
                print(f"{name} {space} k={k}: {labels.max() + 1} segments", file=sys.stderr)
        if args.no_boxes:
            continue
        entry = {"path": rel, "width": img.shape[1], "height": img.shape[0]}
        entry["fast"], entry["fast_seconds"] = run_ss(img, "fast")
        print(f"{name} fast: {len(entry['fast'])} boxes, {entry['fast_seconds']:.2f} s", file=sys.stderr)
        if not args.no_quality and name in QUALITY_IMAGES:
            entry["quality"], entry["quality_seconds"] = run_ss(img, "quality")
            print(f"{name} quality: {len(entry['quality'])} boxes, {entry['quality_seconds']:.2f} s", file=sys.stderr)
        boxes["images"][name] = entry
    with open(os.path.join(args.out, "colour.json"), "w") as f:
        json.dump(colour, f, indent=1)
    if not args.no_boxes:
        with open(os.path.join(args.out, "boxes.json"), "w") as f:
            json.dump(boxes, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
