#!/usr/bin/env python3
"""Golden repeat factors: Detectron2's own RepeatFactorTrainingSampler.repeat_factors_from_category_frequency on a
fixed category histogram.

Usage: /usr/bin/python3 tools/repeat_factor_fixtures.py [--detectron2 DIR] [--out tests/fixtures/lvis/repeat_factors.json]

--detectron2 is the facebookresearch/detectron2 source (a checkout or a bare git directory, whose HEAD is read; default
/work/.mirror/facebookresearch+detectron2/repo, fetched with the `fetch` tool as github:facebookresearch/detectron2).
Only detectron2/data/samplers/distributed_sampler.py is read, into a temporary folder, and run with Debian's
python3-torch; the one detectron2 module it imports (detectron2.utils.comm: rank and world size, used by the
sampler's constructor, not by the static method run here) gets a stand-in. Nothing of detectron2 is committed.

The histogram: groups of images sharing one set of categories, [categories, number of images]; the fixture lists
them in image order (each group's images consecutive) with Detectron2's float32 factor for each group's images, for
several (threshold, sqrt) settings.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# 5,455 images. At t = 0.001 a category is repeated when it is in fewer than 5.455 images.
GROUPS = [
    [[1], 5000],        # frequent
    [[1, 2], 300],
    [[2], 100],
    [[3], 9],           # f = 9/N: above 0.001, factor 1
    [[4], 1],
    [[1, 4], 2],        # a frequent and a rare category: the rare one's factor
    [[5, 6], 3],
    [[8], 1],           # with the image below, 2 images: the rarest, sqrt(0.001 * N / 2)
    [[9], 5],           # with the image below, 6 images: just above the threshold at t = 0.001
    [[7], 20],
    [[], 10],           # no annotations: factor 1.0 (max default)
    [[9, 8, 3], 1],     # categories listed in any order; the rarest decides
    [[3, 3, 7], 3],     # a category twice in one image counts once
]
SETTINGS = [(0.001, True), (0.01, True), (0.01, False), (0.5, True)]


def load_sampler(src, tmp):
    rel = "detectron2/data/samplers/distributed_sampler.py"
    if os.path.isfile(os.path.join(src, rel)):
        text = open(os.path.join(src, rel)).read()
    else:
        text = subprocess.run(["git", "--git-dir", src, "show", "HEAD:" + rel], check=True, capture_output=True, text=True).stdout
    path = os.path.join(tmp, "distributed_sampler.py")
    with open(path, "w") as f:
        f.write(text)
    comm = types.ModuleType("detectron2.utils.comm")
    comm.get_rank = lambda: 0
    comm.get_world_size = lambda: 1
    comm.get_local_size = lambda: 1
    comm.shared_random_seed = lambda: 0
    for name in ("detectron2", "detectron2.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["detectron2.utils"].comm = comm
    sys.modules["detectron2.utils.comm"] = comm
    spec = importlib.util.spec_from_file_location("d2_distributed_sampler", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.RepeatFactorTrainingSampler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--detectron2", default="/work/.mirror/facebookresearch+detectron2/repo")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "lvis", "repeat_factors.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="d2-sampler-") as tmp:
        Sampler = load_sampler(a.detectron2, tmp)
        dicts = []
        for cats, count in GROUPS:
            for _ in range(count):
                dicts.append({"annotations": [{"category_id": c} for c in cats]})
        cases = []
        for t, sq in SETTINGS:
            factors = Sampler.repeat_factors_from_category_frequency(dicts, t, sqrt=sq)
            assert factors.dtype == torch.float32
            values = factors.tolist()
            per_group, i = [], 0
            for cats, count in GROUPS:
                assert len(set(values[i:i + count])) == 1
                per_group.append(values[i])
                i += count
            cases.append({"threshold": t, "sqrt": sq, "group_factors": per_group,
                          "expected_epoch_length": float(factors.double().sum())})
            print(f"t={t} sqrt={sq}: " + ", ".join(f"{g[0]}:{v:.6g}" for g, v in zip(GROUPS, per_group)))
    out = {"reference": "detectron2 (facebookresearch/detectron2 detectron2/data/samplers/distributed_sampler.py) "
                        "RepeatFactorTrainingSampler.repeat_factors_from_category_frequency, torch " + torch.__version__,
           "groups": GROUPS, "cases": cases}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
