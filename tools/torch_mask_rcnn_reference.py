#!/usr/bin/python3
"""torchvision's maskrcnn_resnet50_fpn_v2 at full size (91 classes, short side 800, max 1333) with seeded random
weights, and its detections with pasted masks on two sample photos.

    /usr/bin/python3 tools/torch_mask_rcnn_reference.py OUT_DIR
      -> OUT_DIR/maskrcnn_v2_full.pth (a plain state_dict, ~180 MB), OUT_DIR/photos/{person,horses}.png (the sample
         JPEGs as decoded by OpenCV, so both sides read the same pixels), OUT_DIR/golden.pt (per photo: boxes, scores,
         labels, the masks thresholded at > 0.5 and the pixels within 1e-2 of 0.5, bit-packed, the 28×28
         probabilities before the paste; see mask_rcnn_fixtures.golden_detections; and the float64 model's boxes,
         scores and labels)

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
# near_eps 1e-2: at 800 px our pasted probabilities and torchvision's differ by up to ~5e-3 where both paste into the
# same rectangle (docs/mask-rcnn-results.md §Whole-model mask parity), so only pixels that close to 0.5 are undecided.
golden = mf.golden_detections(model, photos, near_eps=1e-2, with_m28=True)
# The same model in float64 (as tools/torch_detection_reference.py does for the box test): the value both float32
# implementations approximate, against which the test judges our boxes and scores.
model64 = model.double()
with torch.no_grad():
    for i, im in enumerate(photos):
        d = model64([im.double()])[0]
        for k in ("boxes", "scores", "labels"):
            golden[f"{k}64.{i}"] = d[k].clone()
mf.save(os.path.join(out, "golden.pt"), golden)
