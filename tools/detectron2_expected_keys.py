#!/usr/bin/env python3
"""The parameter names and shapes Detectron2 gives an R50-C4 backbone and an R50-FPN backbone + 4conv1fc box head,
written from Detectron2's own naming (facebookresearch/detectron2, detectron2/modeling/backbone/resnet.py:
BasicStem.conv1, stages "res2".."res5", BottleneckBlock conv1/conv2/conv3/shortcut, each a Conv2d with a `norm`
child when a norm is configured; backbone/fpn.py: add_module("fpn_lateral{stage}"), add_module("fpn_output{stage}")
with stage = log2(stride), bias only without norm; roi_heads/box_head.py: add_module("conv{k+1}") with norm and no
bias, add_module("fc{k+1}") a Linear with bias). Names are the suffixes Detectron2's matching heuristics align
(the SoCo .pkl files carry no "backbone."/"roi_heads." prefix). Norm = (Sync)BatchNorm: weight, bias,
running_mean, running_var (float32) and num_batches_tracked (int64, 0-d).

Independent of our exporter: tests compare our .pkl files against this list.
Usage: python3 tools/detectron2_expected_keys.py > tests/fixtures/interop/detectron2_expected_keys.json
"""
import json


def norm(prefix, c):
    return [(f"{prefix}.norm.{p}", [c], "float32") for p in ("weight", "bias", "running_mean", "running_var")] + \
           [(f"{prefix}.norm.num_batches_tracked", [], "int64")]


def conv(prefix, cout, cin, k):
    return [(f"{prefix}.weight", [cout, cin, k, k], "float32")] + norm(prefix, cout)


def resnet50(with_res5=True):
    keys = conv("stem.conv1", 64, 3, 7)
    cin = 64
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=2):
        if stage == 5 and not with_res5:
            break
        out = width * 4
        for b in range(blocks):
            p = f"res{stage}.{b}"
            if b == 0:
                keys += conv(f"{p}.shortcut", out, cin, 1)
            keys += conv(f"{p}.conv1", width, cin if b == 0 else out, 1)
            keys += conv(f"{p}.conv2", width, width, 3)
            keys += conv(f"{p}.conv3", out, width, 1)
        cin = out
    return keys


fpn = []
for stage, c in zip(range(2, 6), (256, 512, 1024, 2048)):
    fpn += conv(f"fpn_lateral{stage}", 256, c, 1)
    fpn += conv(f"fpn_output{stage}", 256, 256, 3)
head = []
for k in range(1, 5):
    head += conv(f"box_head.conv{k}", 256, 256, 3)
head += [("box_head.fc1.weight", [1024, 256 * 7 * 7], "float32"), ("box_head.fc1.bias", [1024], "float32")]


def table(keys):
    return {n: {"shape": s, "dtype": d} for n, s, d in keys}


print(json.dumps({"R50-C4": table(resnet50()), "R50-FPN-4conv1fc": table(resnet50() + fpn + head)}, indent=0))
