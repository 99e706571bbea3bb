#!/usr/bin/env python3
"""Golden numbers for Soco.Structures.Rle: pycocotools' own `mask` module (common/maskApi.c through _mask.pyx) on a
committed set of masks, polygons, boxes and RLEs.

Usage: /usr/bin/python3 tools/pycocotools_rle_fixtures.py [--cocoapi DIR] [--out tests/fixtures/coco/rle_golden.json]

pycocotools is built from the cocoapi source exactly as tools/pycocotools_fixtures.py does (that script's
import_pycocotools; nothing of the source is copied into the repository). The inputs are generated here from fixed
seeds and written into the fixture together with pycocotools' answers, so the tests need no Python:

  masks:    {h, w, bits}              bits = the mask row-major as '0'/'1' characters (bits[y*w + x]);
            -> counts (compressed string of maskUtils.encode on the Fortran-order array), area, bbox
  polygons: {h, w, polys}             a COCO polygon segmentation (list of [x1, y1, ...])
            -> per polygon frPyObjects counts, merged (annToRLE: frPyObjects + merge) counts, area, bbox
  boxes:    {h, w, box}               -> frBbox counts, area, bbox
  uncompressed: {h, w, counts[list]}  -> frPyObjects counts string, area, bbox
  merges:   {h, w, rles[strings]}     -> union and intersection counts
  ious:     {dt[strings], gt[strings], iscrowd, sizes} -> maskUtils.iou matrix [D][G]
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycocotools_fixtures import ROOT, import_pycocotools  # noqa: E402


def s(b):
    return b.decode("ascii") if isinstance(b, bytes) else b


def mask_cases(rng):
    cases = []

    def add(m, note):
        m = np.asarray(m, dtype=np.uint8)
        cases.append((m, note))

    add(np.zeros((5, 7)), "empty")
    add(np.ones((5, 7)), "full")
    z = np.zeros((6, 4)); z[0, 0] = 1; add(z, "one pixel top-left")
    z = np.zeros((6, 4)); z[5, 3] = 1; add(z, "one pixel bottom-right")
    z = np.zeros((6, 4)); z[2, 1] = 1; add(z, "one pixel inside")
    add(np.ones((1, 1)), "1x1 full")
    add(np.zeros((1, 1)), "1x1 empty")
    add(np.array([[0, 1, 1, 0, 1, 0, 0, 1, 1]]), "one row")
    add(np.array([[0], [1], [1], [0], [1], [1], [1]]), "one column")
    z = np.zeros((9, 11)); z[:, 0] = 1; z[:, -1] = 1; z[0, :] = 1; z[-1, :] = 1; add(z, "frame touching all borders")
    z = np.zeros((8, 5)); z[6:, 1] = 1; z[:3, 2] = 1; add(z, "run wrapping from one column into the next")
    z = np.zeros((13, 17)); z[3:9, 4:12] = 1; add(z, "rectangle")
    z = np.zeros((7, 9)); z[::2, ::3] = 1; add(z, "grid of points")
    z = np.zeros((31, 29)); z[:, 28] = 1; add(z, "last column")
    z = np.zeros((2, 3)); z[0, :] = 1; add(z, "top row of a 2x3")
    for i in range(20):
        h, w = int(rng.randint(1, 60)), int(rng.randint(1, 60))
        p = [0.02, 0.1, 0.5, 0.9, 0.98][i % 5]
        add(rng.rand(h, w) < p, f"random {h}x{w} p={p}")
    # blobs: smooth shapes (few runs per column)
    for i in range(6):
        h, w = int(rng.randint(20, 80)), int(rng.randint(20, 80))
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 30)
        add(((yy - cy) ** 2 + (xx - cx) ** 2) < r * r, f"disc {h}x{w}")
    # a large mask: long runs need several characters per count, and differences go negative
    h, w = 230, 310
    yy, xx = np.mgrid[0:h, 0:w]
    big = (((yy - 100) ** 2 / 80.0 ** 2 + (xx - 140) ** 2 / 150.0 ** 2) < 1) & ~(((yy - 110) ** 2 + (xx - 130) ** 2) < 30 ** 2)
    add(big, "large ellipse with a hole")
    return cases


def polygon_cases(rng):
    c = []

    def add(h, w, polys, note):
        c.append({"h": h, "w": w, "polys": [[float(v) for v in p] for p in polys], "note": note})

    add(10, 10, [[1, 1, 8, 1, 8, 8, 1, 8]], "integer square")
    add(10, 10, [[1.5, 1.5, 8.5, 1.5, 8.5, 8.5, 1.5, 8.5]], "half-pixel square")
    add(10, 10, [[2, 2, 7, 2, 4.5, 8]], "triangle (3 points)")
    add(12, 9, [[0.3, 0.7, 6.2, 1.1, 7.9, 9.4, 2.2, 11.6, 0.1, 5.5]], "fractional pentagon")
    add(10, 10, [[-3, -2, 14, -1, 13, 12, -2, 13]], "polygon larger than the image")
    add(10, 10, [[-5, -5, -1, -5, -1, -1, -5, -1]], "polygon entirely outside (negative)")
    add(10, 10, [[12, 3, 15, 3, 15, 6]], "polygon entirely outside (right)")
    add(10, 10, [[-0.15, -0.15, 5, -0.3, 5, 5, -0.05, 5]], "small negative coordinates (C truncation toward zero)")
    add(10, 10, [[0, 0, 10, 0, 10, 10, 0, 10]], "exactly the image")
    add(10, 10, [[2, 2, 8, 2, 8, 8, 2, 8, 2, 2]], "closed: last point repeats the first")
    add(10, 10, [[2, 2, 8, 2, 8, 2, 8, 8, 2, 8]], "repeated vertex")
    add(10, 10, [[2, 2, 8, 8, 8, 2, 2, 8]], "self-intersecting bow tie")
    add(10, 10, [[1, 1, 8, 1, 8, 8, 1, 8, 5]], "odd number of coordinates (last ignored)")
    add(10, 10, [[1, 1, 8, 1, 8, 8, 1, 8], [3, 3, 5, 3]], "second polygon of two points")
    add(10, 10, [[1, 1, 8, 1, 8, 8, 1, 8], [2, 2]], "second polygon of one point")
    add(10, 10, [[1, 4, 9, 4.2, 1, 4.4]], "thin sliver")
    add(20, 30, [[1, 1, 10, 1, 10, 10, 1, 10], [15, 5, 28, 5, 28, 18, 15, 18]], "two disjoint polygons")
    add(20, 30, [[1, 1, 20, 1, 20, 15, 1, 15], [10, 5, 28, 5, 28, 18, 10, 18]], "two overlapping polygons")
    add(1, 1, [[0, 0, 1, 0, 1, 1, 0, 1]], "1x1 image")
    add(1, 7, [[0.5, 0, 5.5, 0, 5.5, 1, 0.5, 1]], "one-row image")
    add(7, 1, [[0, 0.5, 1, 0.5, 1, 5.5, 0, 5.5]], "one-column image")
    add(11, 13, [[0.1, 0.1, 0.3, 0.1, 0.3, 0.3]], "tiny polygon inside one pixel")
    add(11, 13, [[6.4, 2.6, 6.6, 2.6, 6.6, 8.4, 6.4, 8.4]], "narrow vertical strip across a pixel centre")
    add(480, 640, [[100.25, 50.5, 400.75, 60.1, 520.3, 300.9, 350.6, 470.2, 90.4, 420.7, 40.8, 200.3]], "COCO-size hexagon")
    for i in range(30):
        h, w = int(rng.randint(1, 120)), int(rng.randint(1, 120))
        n = int(rng.randint(3, 12))
        polys = []
        for _ in range(1 + int(rng.rand() < 0.3)):
            cx, cy = rng.uniform(-0.2 * w, 1.2 * w), rng.uniform(-0.2 * h, 1.2 * h)
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = rng.uniform(0.05, 0.6, n) * max(h, w)
            xs = np.round(cx + rad * np.cos(ang), int(rng.randint(0, 3)))
            ys = np.round(cy + rad * np.sin(ang), int(rng.randint(0, 3)))
            polys.append(np.stack([xs, ys], 1).reshape(-1).tolist())
        add(h, w, polys, f"random #{i}")
    return c


def box_cases(rng):
    c = [{"h": 10, "w": 10, "box": [2, 3, 4, 5]}, {"h": 10, "w": 10, "box": [2.5, 3.5, 4.2, 5.1]},
         {"h": 10, "w": 10, "box": [-2, -3, 20, 30]}, {"h": 10, "w": 10, "box": [0, 0, 0, 0]},
         {"h": 10, "w": 10, "box": [3, 3, 0.1, 0.1]}, {"h": 10, "w": 10, "box": [9.9, 9.9, 5, 5]}]
    for _ in range(10):
        h, w = int(rng.randint(1, 100)), int(rng.randint(1, 100))
        c.append({"h": h, "w": w, "box": [float(np.round(rng.uniform(-5, w), 2)), float(np.round(rng.uniform(-5, h), 2)),
                                          float(np.round(rng.uniform(0, w), 2)), float(np.round(rng.uniform(0, h), 2))]})
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoapi", default="/work/.mirror/cocodataset+cocoapi/repo")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "coco", "rle_golden.json"))
    a = ap.parse_args()
    rng = np.random.RandomState(11)
    with tempfile.TemporaryDirectory(prefix="pycocotools-") as tmp:
        import_pycocotools(a.cocoapi, tmp)
        from pycocotools import mask as mu
        from pycocotools import _mask

        out = {"reference": "pycocotools mask module (cocodataset/cocoapi common/maskApi.c + PythonAPI/_mask.pyx, "
                            "built from source with cython3); numpy " + np.__version__}
        masks = []
        pool = []  # (h, w, counts) for merges and IoUs
        for m, note in mask_cases(rng):
            h, w = m.shape
            r = mu.encode(np.asfortranarray(m.reshape(h, w, 1)))[0]
            assert (mu.decode([r])[:, :, 0] == m).all()
            masks.append({"note": note, "h": h, "w": w, "bits": "".join("1" if v else "0" for v in m.reshape(-1)),
                          "counts": s(r["counts"]), "area": int(mu.area(r)), "bbox": mu.toBbox(r).tolist()})
            pool.append((h, w, s(r["counts"])))
        out["masks"] = masks

        polys = []
        for c in polygon_cases(rng):
            h, w = c["h"], c["w"]
            # pycocotools treats a list whose first polygon has 4 numbers as boxes; none of ours starts so.
            assert len(c["polys"][0]) > 4
            each = mu.frPyObjects(c["polys"], h, w)
            merged = mu.merge(each)
            c.update({"each": [s(r["counts"]) for r in each], "counts": s(merged["counts"]),
                      "area": int(mu.area(merged)), "bbox": mu.toBbox(merged).tolist()})
            polys.append(c)
            pool.append((h, w, s(merged["counts"])))
        out["polygons"] = polys

        boxes = []
        for c in box_cases(rng):
            r = _mask.frBbox(np.array([c["box"]], dtype=np.double), c["h"], c["w"])[0]
            c.update({"counts": s(r["counts"]), "area": int(mu.area(r)), "bbox": mu.toBbox(r).tolist()})
            boxes.append(c)
        out["boxes"] = boxes

        unc = []
        for cnts, h, w in [([6, 1, 40, 4, 5, 4, 5, 4, 21], 9, 10), ([0, 12], 3, 4), ([12], 3, 4), ([0, 3, 0, 3, 6], 4, 3),
                           ([2, 0, 0, 3, 7], 3, 4),
                           ([300000, 5, 329995], 700, 900), ([0, 70000, 1, 2, 559990, 0, 0, 0, 0, 5, 2], 700, 900)]:
            r = mu.frPyObjects({"size": [h, w], "counts": cnts}, h, w)
            unc.append({"h": h, "w": w, "counts_list": cnts, "counts": s(r["counts"]), "area": int(mu.area(r)),
                        "bbox": mu.toBbox(r).tolist()})
        out["uncompressed"] = unc

        # Merges and IoUs among masks of one size: random sets of same-size masks made here, plus polygons.
        merges, ious = [], []
        for i in range(12):
            h, w = int(rng.randint(5, 40)), int(rng.randint(5, 40))
            k = int(rng.randint(2, 5))
            ms = []
            for _ in range(k):
                m = np.zeros((h, w), np.uint8)
                y0, x0 = int(rng.randint(0, h)), int(rng.randint(0, w))
                m[y0:y0 + int(rng.randint(1, h)), x0:x0 + int(rng.randint(1, w))] = 1
                m &= (rng.rand(h, w) < [1.0, 0.8, 0.5][i % 3]).astype(np.uint8)
                ms.append(mu.encode(np.asfortranarray(m.reshape(h, w, 1)))[0])
            merges.append({"h": h, "w": w, "rles": [s(r["counts"]) for r in ms],
                           "union": s(mu.merge(ms, intersect=0)["counts"]),
                           "intersection": s(mu.merge(ms, intersect=1)["counts"])})
        out["merges"] = merges
        for i in range(14):
            h, w = int(rng.randint(8, 50)), int(rng.randint(8, 50))

            def rnd_rle():
                kind = rng.randint(0, 3)
                if kind == 0:  # polygon
                    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                    ang = np.sort(rng.uniform(0, 2 * np.pi, 6))
                    rad = rng.uniform(0.1, 0.5, 6) * max(h, w)
                    p = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).reshape(-1).tolist()
                    return mu.frPyObjects([p], h, w)[0]
                if kind == 1:  # box
                    return _mask.frBbox(np.array([[rng.uniform(-2, w), rng.uniform(-2, h), rng.uniform(0, w), rng.uniform(0, h)]]), h, w)[0]
                m = (rng.rand(h, w) < rng.uniform(0.05, 0.6)).astype(np.uint8)  # scattered pixels
                return mu.encode(np.asfortranarray(m.reshape(h, w, 1)))[0]
            dts = [rnd_rle() for _ in range(int(rng.randint(1, 6)))]
            gts = [rnd_rle() for _ in range(int(rng.randint(1, 6)))]
            if i == 0:
                dts.append(mu.encode(np.asfortranarray(np.zeros((h, w, 1), np.uint8)))[0])  # an empty detection
                gts.append(mu.encode(np.asfortranarray(np.ones((h, w, 1), np.uint8)))[0])   # a full crowd region
            if i == 1:  # a ground truth of another size whose box overlaps: -1
                gts.append(mu.encode(np.asfortranarray(np.ones((h + 1, w, 1), np.uint8)))[0])
            crowd = [int(rng.rand() < 0.4) for _ in gts]
            if i == 0:
                crowd[-1] = 1
            o = mu.iou(dts, gts, crowd)
            ious.append({"dt": [{"h": r["size"][0], "w": r["size"][1], "counts": s(r["counts"])} for r in dts],
                         "gt": [{"h": r["size"][0], "w": r["size"][1], "counts": s(r["counts"])} for r in gts],
                         "iscrowd": crowd, "iou": np.asarray(o).tolist()})
        out["ious"] = ious
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{a.out}: {len(masks)} masks, {len(polys)} polygon sets, {len(boxes)} boxes, {len(merges)} merges, "
          f"{len(ious)} IoU matrices, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
