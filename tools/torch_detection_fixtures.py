#!/usr/bin/python3
"""Golden fixtures for SoCo.NET's detector parts (src/Soco/Ops, src/Soco/Structures, src/Soco/Modeling/Detection).

Run with Debian's reference stack (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 tools/torch_detection_fixtures.py [out_dir]     # default tests/fixtures/detection

Every expected value comes from torchvision 0.14 itself (torchvision.ops, torchvision.models.detection._utils,
anchor_utils, rpn, roi_heads, poolers) on small fixed inputs drawn here from seeded generators; the inputs are saved
with the outputs so the C# tests never re-draw them. Each fixture is a flat {name: tensor} dict saved with
torch.save(..., _use_new_zipfile_serialization=True), readable by TorchSharp.PyBridge.
"""
import math
import os
import sys

import torch
import torchvision
from torchvision.ops import boxes as box_ops

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "detection")
assert torchvision.__version__.startswith("0.14"), f"reference is torchvision 0.14, found {torchvision.__version__}"


def save(name, d):
    for k, v in d.items():
        assert isinstance(v, torch.Tensor), k
    d = {k: v.contiguous() for k, v in d.items()}
    path = os.path.join(OUT, name)
    torch.save(d, path, _use_new_zipfile_serialization=True)
    print(f"{name}: {len(d)} tensors, {os.path.getsize(path) / 1024:.1f} KiB")


def random_boxes(n, gen, extent=100.0, max_size=40.0, dtype=torch.float32):
    """Boxes with x1 < x2, y1 < y2 inside [-10, extent], some degenerate (zero width or height)."""
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * extent - 10
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * max_size
    wh[::7, 0] = 0  # a few zero-width boxes
    wh[3::11, 1] = 0.25
    return torch.cat([xy, xy + wh], 1).to(dtype)


def clustered_boxes(n, gen, clusters=12, dtype=torch.float32):
    """Boxes jittered around a few centres, so NMS has real overlaps to suppress at every threshold."""
    centres = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * 200
    sizes = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * 60 + 8
    which = torch.randint(0, clusters, (n,), generator=gen)
    c = centres[which] + torch.randn(n, 2, generator=gen, dtype=torch.float64) * 6
    s = sizes[which] * (1 + 0.3 * torch.randn(n, 2, generator=gen, dtype=torch.float64)).clamp(min=0.2)
    return torch.cat([c - s / 2, c + s / 2], 1).to(dtype)


# ---------------------------------------------------------------------------------------------- step 1: box ops, NMS
def box_ops_fixture():
    gen = torch.Generator().manual_seed(101)
    d = {}
    for dt, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        b1 = random_boxes(13, gen, dtype=dt)
        b2 = random_boxes(9, gen, dtype=dt)
        d[f"{tag}.boxes1"], d[f"{tag}.boxes2"] = b1, b2
        d[f"{tag}.area1"] = box_ops.box_area(b1)
        d[f"{tag}.iou"] = box_ops.box_iou(b1, b2)
        d[f"{tag}.clip"] = box_ops.clip_boxes_to_image(b1, (50, 70))
        d[f"{tag}.small"] = box_ops.remove_small_boxes(b1, 1.5)
        # per-class layout (N, K*4) as the ROI heads clip it
        pc = random_boxes(10 * 3, gen, dtype=dt).reshape(10, 12)
        d[f"{tag}.perclass"] = pc
        d[f"{tag}.perclass_clip"] = box_ops.clip_boxes_to_image(pc, (60, 45))
    # NMS: float32 and float64, several thresholds, with exact ties in score among some boxes
    for dt, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        b = clustered_boxes(400, gen, dtype=dt)
        s = torch.rand(400, generator=gen, dtype=torch.float64).to(dt)
        s[50:60] = s[10]  # ties: stable order decides
        d[f"nms.{tag}.boxes"], d[f"nms.{tag}.scores"] = b, s
        for t in (0.3, 0.5, 0.7):
            d[f"nms.{tag}.keep{int(t * 10)}"] = torchvision.ops.nms(b, s, t)
    # batched NMS: below (coordinate trick) and above (per-class loop) torchvision's 4000-coordinate CPU switch
    for n, tag in ((300, "small"), (1500, "large")):
        b = clustered_boxes(n, gen)
        s = torch.rand(n, generator=gen)
        idx = torch.randint(0, 5, (n,), generator=gen)
        d[f"bnms.{tag}.boxes"], d[f"bnms.{tag}.scores"], d[f"bnms.{tag}.idxs"] = b, s, idx
        d[f"bnms.{tag}.keep"] = box_ops.batched_nms(b, s, idx, 0.5)
        d[f"bnms.{tag}.trick"] = box_ops._batched_nms_coordinate_trick(b, s, idx, 0.5)
        d[f"bnms.{tag}.vanilla"] = box_ops._batched_nms_vanilla(b, s, idx, 0.5)
    save("box_ops.pt", d)


def main():
    os.makedirs(OUT, exist_ok=True)
    box_ops_fixture()


if __name__ == "__main__":
    main()
