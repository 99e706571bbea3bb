#!/usr/bin/python3
"""Golden fixtures for the C# port of SoCo's selective search (Soco.Proposals.SocoSearch).

Runs SoCo's own ``selective_search/selective_search.py`` (official repository hologerry/SoCo, HEAD 2be1229; a
vendored, modified AlpacaDB ``selectivesearch``) on sample photos at their original size, exactly as
``generate_imagenet_ss_proposals.py`` calls it: ``selective_search(img, scale=300, sigma=0.9, min_size=100)`` with
``img = numpy.array(PIL.Image.open(p).convert('RGB'))``.

SoCo's code is NOT part of this repository. Copy it somewhere outside the repo and point to it:

    git -C <SoCo mirror> show HEAD:selective_search/selective_search.py > /tmp/soco_ss/selective_search.py
    /usr/bin/python3 tools/soco_ss_fixtures.py --soco /tmp/soco_ss            # or SOCO_SS_DIR=/tmp/soco_ss

Reference stack used for the committed fixtures: Debian python3 (3.11), numpy 1.24.2, scipy 1.10.1,
scikit-image 0.19.3, Pillow 9.4.0.

Writes to tests/fixtures/soco_ss/ (or --out):
  <name>.labels.gz   Felzenszwalb label map: gzip of  b"SSLB" | int32 width | int32 height | int32 nlabels
                     | uint16 labels row-major (little endian)
  <name>.json        {"image", "width", "height", "rgb_sha256", "seconds", "nlabels", "regions": [[x, y, w, h], ...]}
                     regions = SoCo's full ``regions`` list (initial segments, then merges), rect = (min_x, min_y,
                     max_x - min_x, max_y - min_y), in SoCo's order.
  manifest.json      versions and the list of images.
  lbp.gz             skimage local_binary_pattern(channel, 8, 1.0) of each channel of a 203x150 crop of chelsea.png
                     (float 0..255 input, as SoCo): gzip of b"LBP8" | int32 w | int32 h | 3 uint8 planes.
  fh_<image>_<scale>_<sigma>_<min_size>.labels.gz  skimage felzenszwalb(img_as_float(img), ...) with other
                     parameters than SoCo's (same label format), for the general segmentation port.
  argsort.json       tie-heavy float64 arrays and numpy.argsort's (introsort, unstable) permutation of each.
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import sys
import time

import numpy
import PIL
import scipy
import skimage
from PIL import Image

# every sample photo whose longer side is <= 640 px (SoCo's Python takes 0.3-0.8 s each at that size)
DEFAULT_IMAGES = [
    "aero1.jpg", "apple.jpg", "astronaut.png", "baboon.jpg", "butterfly.jpg", "camera.png", "chelsea.png",
    "china.jpg", "coffee.png", "flower.jpg", "fruits.jpg", "giraffe.jpg", "messi5.jpg", "orange.jpg",
    "person.jpg", "plant.jpg", "rocket.jpg", "squirrel_cls.jpg",
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--soco", default=os.environ.get("SOCO_SS_DIR"),
                    help="directory holding SoCo's selective_search.py (outside the repo)")
    ap.add_argument("--photos", default=os.path.join(repo, "samples", "photos"))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "fixtures", "soco_ss"))
    ap.add_argument("images", nargs="*", default=DEFAULT_IMAGES)
    args = ap.parse_args()
    if not args.soco:
        sys.exit("give --soco DIR or SOCO_SS_DIR (directory with SoCo's selective_search.py)")
    sys.path.insert(0, args.soco)
    import selective_search as soco_ss  # noqa: E402  (SoCo's module, not vendored here)

    os.makedirs(args.out, exist_ok=True)
    manifest = {
        "source": "hologerry/SoCo@2be1229 selective_search/selective_search.py",
        "call": "selective_search(img, scale=300, sigma=0.9, min_size=100)",
        "versions": {"python": sys.version.split()[0], "numpy": numpy.__version__, "scipy": scipy.__version__,
                     "skimage": skimage.__version__, "PIL": PIL.__version__},
        "images": [],
    }
    for name in args.images:
        path = os.path.join(args.photos, name)
        img = numpy.array(Image.open(path).convert("RGB"))
        h, w = img.shape[:2]
        t0 = time.perf_counter()
        labeled, regions, boxes = soco_ss.selective_search(img, scale=300, sigma=0.9, min_size=100)
        secs = time.perf_counter() - t0
        labels = labeled[:, :, 3].astype(numpy.int64)
        nlab = int(labels.max()) + 1
        assert nlab < 65536
        stem = os.path.splitext(name)[0]
        raw = b"SSLB" + struct.pack("<iii", w, h, nlab) + labels.astype("<u2").tobytes()
        with open(os.path.join(args.out, stem + ".labels.gz"), "wb") as f:
            # mtime=0 keeps the file byte-stable across runs
            f.write(gzip.compress(raw, compresslevel=9, mtime=0))
        rects = [[int(v) for v in r["rect"]] for r in regions]
        assert rects == boxes
        doc = {"image": name, "width": w, "height": h,
               "rgb_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
               "seconds": round(secs, 3), "nlabels": nlab, "regions": rects}
        with open(os.path.join(args.out, stem + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        manifest["images"].append({"image": name, "width": w, "height": h, "nlabels": nlab,
                                   "nregions": len(rects), "seconds": round(secs, 3)})
        print(f"{name}: {w}x{h} labels={nlab} regions={len(rects)} {secs:.2f}s", flush=True)
    write_argsort(args.out)
    write_lbp(args.out, args.photos)
    write_fh_variants(args.out, args.photos)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


FH_VARIANTS = [("chelsea.png", 1, 0.8, 20), ("messi5.jpg", 100, 0.5, 50), ("coffee.png", 500, 1.3, 200)]


def write_fh_variants(out, photos):
    import skimage.segmentation
    import skimage.util
    for name, scale, sigma, min_size in FH_VARIANTS:
        img = numpy.array(Image.open(os.path.join(photos, name)).convert("RGB"))
        h, w = img.shape[:2]
        labels = skimage.segmentation.felzenszwalb(skimage.util.img_as_float(img), scale=scale, sigma=sigma,
                                                   min_size=min_size)
        nlab = int(labels.max()) + 1
        raw = b"SSLB" + struct.pack("<iii", w, h, nlab) + labels.astype("<u2").tobytes()
        stem = "fh_%s_%g_%g_%d" % (os.path.splitext(name)[0], scale, sigma, min_size)
        with open(os.path.join(out, stem + ".labels.gz"), "wb") as f:
            f.write(gzip.compress(raw, compresslevel=9, mtime=0))


def write_lbp(out, photos):
    import skimage.feature
    img = numpy.array(Image.open(os.path.join(photos, "chelsea.png")).convert("RGB"))[100:250, 150:353]
    h, w = img.shape[:2]
    f = img.astype(numpy.float64)
    planes = [skimage.feature.local_binary_pattern(f[:, :, c], 8, 1.0) for c in range(3)]
    raw = b"LBP8" + struct.pack("<ii", w, h) + b"".join(p.astype(numpy.uint8).tobytes() for p in planes)
    with open(os.path.join(out, "lbp.gz"), "wb") as fh:
        fh.write(gzip.compress(raw, compresslevel=9, mtime=0))


def write_argsort(out):
    """numpy.argsort (default kind) on arrays with many ties: the order of equal keys is the introsort's."""
    rng = numpy.random.default_rng(20211108)
    cases = [
        rng.integers(0, 40, 5000).astype(numpy.float64) / 8.0,       # exact ties
        numpy.round(rng.random(12000) * 3.0, 2),                     # ties + near ties
        numpy.concatenate([numpy.zeros(300), numpy.arange(500, 0, -1) / 4.0, numpy.ones(200)]),
        numpy.sort(rng.integers(0, 9, 700).astype(numpy.float64)),   # presorted with ties
    ]
    doc = [{"values": [float(v) for v in c], "argsort": [int(i) for i in numpy.argsort(c)]} for c in cases]
    with open(os.path.join(out, "argsort.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
