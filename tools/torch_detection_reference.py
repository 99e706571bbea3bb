#!/usr/bin/python3
"""torchvision's fasterrcnn_resnet50_fpn_v2 and maskrcnn_resnet50_fpn_v2 at full size with seeded random weights, and
their detections on two sample photos.

    /usr/bin/python3 tools/torch_detection_reference.py OUT_DIR
      -> OUT_DIR/faster.pth, OUT_DIR/mask.pth (state dicts, ~170 MB each), OUT_DIR/io.pth (images and detections)

The weights are the models' own architecture filled by torch_detection_fixtures.randomize (He-scaled, seeded) with
BatchNorm statistics calibrated on the two photos (torch_detection_fixtures.calibrate_bn), so activations stay O(1)
as in a trained detector and the comparison measures the implementation, not float noise blown up by random layers.
The Mask R-CNN state dict shares every box-path tensor with the Faster R-CNN; its mask branch is random. Used by
FasterRcnnTests.FullSizeFasterRcnnV2MatchesTorchvision when SOCO_FULL_DETECTOR_PARITY=1 (the weights are too large
to commit, and on 2 shared cores the reference takes minutes).
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_detection_fixtures as fx  # noqa: E402

torch.set_num_threads(1)
out = sys.argv[1]
torch.manual_seed(0)
g = torch.Generator().manual_seed(808)
images = [fx.photo("person.jpg", None), fx.photo("horses.jpg", None)]

faster = torchvision.models.detection.fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
fx.randomize(faster, g, 0.1)
fx.calibrate_bn(faster, images)
# Mask R-CNN: the same box path (every Faster R-CNN tensor) plus a random mask branch; its boxes, scores and labels are
# the Faster R-CNN's by construction (torchvision's RoIHeads runs the same box code), so only the state dict is saved.
mask = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
fx.randomize(mask, g, 0.1)
state = mask.state_dict()
state.update({k: v for k, v in faster.state_dict().items()})

io = {}
with torch.no_grad():
    dets = faster(images)
    for i, d in enumerate(dets):
        for k in ("boxes", "scores", "labels"):
            io[f"faster.{k}.{i}"] = d[k].clone()
    print("detections per image:", [int(d["scores"].numel()) for d in dets])
    # The same model in float64: the value both float32 implementations approximate, so a test can tell whether our
    # float32 error is of the size PyTorch's own is (deep random networks amplify summation-order differences).
    faster64 = faster.double()
    dets64 = faster64([im.double() for im in images])
    for i, d in enumerate(dets64):
        for k in ("boxes", "scores", "labels"):
            io[f"faster64.{k}.{i}"] = d[k].clone()
    faster.float()
for i, im in enumerate(images):
    io[f"image.{i}"] = im.clone()
torch.save({k: v.clone() for k, v in faster.state_dict().items()}, os.path.join(out, "faster.pth"), _use_new_zipfile_serialization=True)
torch.save({k: v.clone() for k, v in state.items()}, os.path.join(out, "mask.pth"), _use_new_zipfile_serialization=True)
torch.save(io, os.path.join(out, "io.pth"), _use_new_zipfile_serialization=True)
