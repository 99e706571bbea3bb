#!/usr/bin/python3
"""Reads SoCo.NET's exports back with Python, as the tools that consume them do. Used by tests/Soco.Tests/Interop.
Prints "OK" on success; otherwise a reason, and exits 1.

  check_exports.py same-pickle  OURS.pkl GOLDEN.pkl      Detectron2 pickles: same keys, dtypes, shapes, values, author
  check_exports.py same-torch   OURS.pth GOLDEN.pth      torch.save files ({"state_dict", "meta"} or flat): same tensors
  check_exports.py d2-keys      OURS.pkl KEYS.json TABLE  every expected Detectron2 key with its shape and dtype, no other
  check_exports.py torchvision  OURS.pth INPUT.pth OUT.pth  load into torchvision resnet50 (only fc missing), write C5
"""
import json
import pickle
import sys

import numpy as np


def fail(msg):
    print(msg)
    sys.exit(1)


cmd = sys.argv[1]
if cmd == "same-pickle":
    a, b = (pickle.load(open(p, "rb")) for p in sys.argv[2:4])
    if set(a) != set(b):
        fail(f"top-level keys differ: {sorted(a)} vs {sorted(b)}")
    for k in a:
        if k != "model" and a[k] != b[k]:
            fail(f"{k}: {a[k]!r} vs {b[k]!r}")
    ma, mb = a["model"], b["model"]
    if set(ma) != set(mb):
        fail(f"model keys differ: only ours {sorted(set(ma) - set(mb))[:5]}, only golden {sorted(set(mb) - set(ma))[:5]}")
    for k in ma:
        x, y = np.asarray(ma[k]), np.asarray(mb[k])
        if not isinstance(ma[k], np.ndarray):
            fail(f"{k}: not a numpy array ({type(ma[k])})")
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
            fail(f"{k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}, equal values: {x.shape == y.shape and np.array_equal(x, y)}")
    print("OK")
elif cmd == "same-torch":
    import torch
    a, b = (torch.load(p) for p in sys.argv[2:4])
    if "state_dict" in b:
        if a.get("meta") != b.get("meta"):
            fail(f"meta differs: {a.get('meta')} vs {b.get('meta')}")
        a, b = a["state_dict"], b["state_dict"]
    if set(a) != set(b):
        fail(f"keys differ: only ours {sorted(set(a) - set(b))[:5]}, only golden {sorted(set(b) - set(a))[:5]}")
    for k in a:
        if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not torch.equal(a[k], b[k]):
            fail(f"{k}: {a[k].dtype}{tuple(a[k].shape)} vs {b[k].dtype}{tuple(b[k].shape)}")
    print("OK")
elif cmd == "d2-keys":
    d = pickle.load(open(sys.argv[2], "rb"))
    expected = json.load(open(sys.argv[3]))[sys.argv[4]]
    if d.get("matching_heuristics") is not True:
        fail("matching_heuristics is not True")
    m = d["model"]
    missing, extra = sorted(set(expected) - set(m)), sorted(set(m) - set(expected))
    if missing or extra:
        fail(f"missing {missing[:5]} ({len(missing)}), unexpected {extra[:5]} ({len(extra)})")
    for k, e in expected.items():
        v = m[k]
        if not isinstance(v, np.ndarray) or list(v.shape) != e["shape"] or str(v.dtype) != e["dtype"]:
            fail(f"{k}: {type(v).__name__} {getattr(v, 'dtype', '?')}{getattr(v, 'shape', '?')}, expected {e['dtype']}{tuple(e['shape'])}")
    print("OK")
elif cmd == "torchvision":
    import torch
    import torchvision
    torch.set_num_threads(1)
    net = torchvision.models.resnet50()
    res = net.load_state_dict(torch.load(sys.argv[2]), strict=False)
    if sorted(res.missing_keys) != ["fc.bias", "fc.weight"] or res.unexpected_keys:
        fail(f"missing {res.missing_keys}, unexpected {res.unexpected_keys}")
    net.eval()
    x = torch.load(sys.argv[3])["image"]
    with torch.no_grad():
        y = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x))))))))
    torch.save({"c5": y}, sys.argv[4])
    print("OK")
else:
    fail(f"unknown command {cmd}")
