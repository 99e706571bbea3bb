#!/usr/bin/python3
"""torchvision's maskrcnn_resnet50_fpn_v2 at full size (91 classes, short side 800, max 1333) with seeded random
weights, and its detections with pasted masks on two sample photos.

    /usr/bin/python3 tools/torch_mask_rcnn_reference.py OUT_DIR
      -> OUT_DIR/maskrcnn_v2_full.pth (a plain state_dict, ~180 MB), OUT_DIR/photos/{person,horses}.png (the sample
         JPEGs as decoded by OpenCV, so both sides read the same pixels), OUT_DIR/golden.pt (per photo: boxes, scores,
         labels, the masks thresholded at > 0.5 and the pixels within 1e-3 of 0.5, bit-packed; see
         mask_rcnn_fixtures.golden_detections)

Weights: torch_detection_fixtures.randomize (He-scaled, seeded) with every BatchNorm's statistics calibrated on the
two photos (box path: torch_detection_fixtures.calibrate_bn; mask head: mask_rcnn_fixtures.calibrate_mask_head_bn),
so activations stay O(1) as in a trained detector. Used by FullSizeMaskRcnnParityTests when
SOCO_FULL_DETECTOR_PARITY=1 (the weights are too large to commit; on 2 shared cores the reference takes minutes).
"""
import os
import sys

import cv2
import torch
import torchvision

out = sys.argv[1]  # read before the fixture modules reset argv
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mask_rcnn_fixtures as mf  # noqa: E402
import torch_detection_fixtures as tdf  # noqa: E402

torch.set_num_threads(1)
photo_dir = os.path.join(out, "photos")
os.makedirs(photo_dir, exist_ok=True)
photos = []
for name in ("person", "horses"):
    png = os.path.join(photo_dir, name + ".png")
    cv2.imwrite(png, cv2.imread(os.path.join(os.path.dirname(__file__), "..", "samples", "photos", name + ".jpg"), cv2.IMREAD_COLOR))
    photos.append(mf.load_png(png))

torch.manual_seed(1111)
g = torch.Generator().manual_seed(1111)
model = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
tdf.randomize(model, g, 0.1)
tdf.calibrate_bn(model, photos)
mf.calibrate_mask_head_bn(model, photos)
torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, os.path.join(out, "maskrcnn_v2_full.pth"),
           _use_new_zipfile_serialization=True)
mf.save(os.path.join(out, "golden.pt"), mf.golden_detections(model, photos))
