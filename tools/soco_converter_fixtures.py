#!/usr/bin/env python3
"""Golden renaming tables from SoCo's own converters (converter_detectron2/*.py, converter_mmdetection/*.py).

Usage: /usr/bin/python3 tools/soco_converter_fixtures.py <SoCo checkout> [out.json]

SoCo's code is not part of this repository; point the first argument at a checkout of the official repository.
A checkpoint in the official layout (every key of an R50 SoCo_FPN DDP state dict: online and target encoder, neck,
head, projector, predictor; tiny tensors, since only names matter) goes through the three official converter
functions; the fixture records, per input key, the name each converter gives it (or null when it drops it).
"""
import importlib.util
import json
import os
import sys
import tempfile

import torch
import torchvision

repo = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "interop", "official_converters.json")


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(repo, path))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
encoder = [k for k in torchvision.models.resnet50().state_dict() if not k.startswith("fc.")]
neck = [f"{kind}.{i}.conv.weight" for kind in ("lateral_convs", "fpn_convs") for i in range(4)]
neck += [f"{kind}.{i}.bn.{p}" for kind in ("lateral_convs", "fpn_convs") for i in range(4) for p in bn]
head = [f"conv{k}.weight" for k in range(1, 5)] + [f"bn{k}.{p}" for k in range(1, 5) for p in bn] + ["fc1.weight", "fc1.bias"]
mlp = ["linear1.weight", "linear1.bias"] + [f"bn1.{p}" for p in bn] + ["linear2.weight", "linear2.bias"]
keys = [f"module.encoder.{k}" for k in encoder] + [f"module.neck.{k}" for k in neck] + [f"module.head.{k}" for k in head]
keys += [f"module.projector.{k}" for k in mlp] + [f"module.predictor.{k}" for k in mlp]
keys += [f"module.encoder_k.{k}" for k in encoder] + [f"module.neck_k.{k}" for k in neck] + [f"module.head_k.{k}" for k in head]
keys += [f"module.projector_k.{k}" for k in mlp]

tmp = tempfile.mkdtemp()
ckpt = os.path.join(tmp, "current.pth")
# Each tensor holds its own key index so the mapping can be read back from the converted files.
torch.save({"model": {k: torch.tensor([float(i)]) for i, k in enumerate(keys)}}, ckpt)

c4 = load("converter_detectron2/convert_detectron2_C4.py", "c4")
hd = load("converter_detectron2/convert_detectron2_Head.py", "hd")
mm = load("converter_mmdetection/convert_mmdetection_Head.py", "mm")
import contextlib, io, pickle  # noqa: E401,E402
with contextlib.redirect_stdout(io.StringIO()):
    c4.convert_detectron2_C4(ckpt, os.path.join(tmp, "c4.pkl"))
    hd.convert_detectron2_Head(ckpt, os.path.join(tmp, "head.pkl"), 2, 4)
    mm.convert_mmdetection_Head(ckpt, os.path.join(tmp, "mm.pth"))


def mapping(names_to_values):
    by_index = {int(float(v.reshape(-1)[0])): name for name, v in names_to_values.items()}
    return [by_index.get(i) for i in range(len(keys))]


c4_out = pickle.load(open(os.path.join(tmp, "c4.pkl"), "rb"))
head_out = pickle.load(open(os.path.join(tmp, "head.pkl"), "rb"))
mm_out = torch.load(os.path.join(tmp, "mm.pth"))
res = {
    "keys": [k[len("module."):] for k in keys],
    "detectron2_c4": mapping(c4_out["model"]), "detectron2_c4_author": c4_out["__author__"],
    "detectron2_head": mapping(head_out["model"]), "detectron2_head_author": head_out["__author__"],
    "mmdetection": mapping({k: v.numpy() for k, v in mm_out["state_dict"].items()}),
}
with open(out, "w") as f:
    json.dump(res, f, indent=0)
print(f"{len(keys)} keys -> {out}")
