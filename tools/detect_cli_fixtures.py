#!/usr/bin/python3
"""Fixtures for the detector commands (`soco import` of a torchvision state_dict, `soco detect`, `soco evaluate
--checkpoint`), tests/Soco.Tests/Cli/DetectCliTests.cs.

Run with Debian's reference stack (python3-torch 1.13, python3-torchvision 0.14, python3-opencv):

    /usr/bin/python3 tools/detect_cli_fixtures.py [out_dir]     # default tests/fixtures/detection/detcli

Writes:
- fasterrcnn_v2_tiny.pth: a plain torchvision `FasterRCNN.state_dict()` (torch.save, as users save one) of the
  `fasterrcnn_resnet50_fpn_v2` layout (torchvision's own Bottleneck ResNet-50 at stem width 2, BackboneWithFPN with
  BatchNorm, RPNHead conv_depth 2, FastRCNNConvFCHead with BatchNorm, FastRCNNPredictor), FPN 16 channels, 5 classes,
  seeded random weights with BN statistics calibrated on the photos (tools/torch_detection_fixtures.py helpers).
- maskrcnn_v2_tiny.pth: the same box path plus `maskrcnn_resnet50_fpn_v2`'s mask head / predictor keys.
- dog.png, horses.png: two small photos (lossless, so .NET decodes exactly the pixels torchvision saw).
- golden.pt: torchvision's detections for each photo run alone (model([image]) in eval mode, short side 128, max 200).
- voc_gt.json: the three labelme-examples VOC photos (samples/voc) as a COCO instances file (non-contiguous image
  ids; categories 1 person, 2 bus, 3 car, 4 dog — dog has no boxes), boxes by VOC's 1-based convention.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

import cv2
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "fixtures", "detection", "detcli")
sys.argv = sys.argv[:1]  # torch_detection_fixtures reads its own out dir from argv at import
import torch_detection_fixtures as tdf  # noqa: E402
from torchvision.models.detection.backbone_utils import BackboneWithFPN  # noqa: E402
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNConvFCHead, FastRCNNPredictor, RPNHead  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool  # noqa: E402

torch.set_num_threads(1)
PHOTOS = os.path.join(HERE, "..", "samples", "photos")
VOC = os.path.join(HERE, "..", "samples", "voc")


def load_png(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    # contiguous CHW float in [0, 1] as torchvision's to_tensor gives it (float32 division by 255)
    return (torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255).contiguous()


def main():
    os.makedirs(OUT, exist_ok=True)
    photos = []
    for name, size in (("dog.jpg", (120, 90)), ("horses.jpg", (96, 75))):
        bgr = cv2.resize(cv2.imread(os.path.join(PHOTOS, name), cv2.IMREAD_COLOR), size, interpolation=cv2.INTER_AREA)
        png = os.path.join(OUT, os.path.splitext(name)[0] + ".png")
        cv2.imwrite(png, bgr)
        photos.append(load_png(png))

    g = torch.Generator().manual_seed(707)
    torch.manual_seed(707)
    width, fpn_ch, K = 2, 16, 5
    body = tdf.TinyResNet(width)
    backbone = BackboneWithFPN(body, {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [width * 4, width * 8, width * 16, width * 32], fpn_ch,
                               extra_blocks=LastLevelMaxPool(), norm_layer=torch.nn.BatchNorm2d)
    anchor_gen = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    model = FasterRCNN(backbone, num_classes=None, min_size=128, max_size=200, rpn_anchor_generator=anchor_gen,
                       rpn_head=RPNHead(fpn_ch, 3, conv_depth=2),
                       box_head=FastRCNNConvFCHead((fpn_ch, 7, 7), [fpn_ch] * 4, [32], norm_layer=torch.nn.BatchNorm2d),
                       box_predictor=FastRCNNPredictor(32, K))
    tdf.randomize(model, g, 0.15)
    tdf.calibrate_bn(model, photos)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(OUT, "fasterrcnn_v2_tiny.pth"))

    mask_head = MaskRCNNHeads(fpn_ch, [fpn_ch] * 4, 1, norm_layer=torch.nn.BatchNorm2d)
    mask_pred = MaskRCNNPredictor(fpn_ch, fpn_ch, K)
    mask_state = dict(state)
    for prefix, m in (("roi_heads.mask_head.", mask_head), ("roi_heads.mask_predictor.", mask_pred)):
        for k, v in m.state_dict().items():
            mask_state[prefix + k] = v.detach().clone().contiguous()
    torch.save(mask_state, os.path.join(OUT, "maskrcnn_v2_tiny.pth"))

    golden = {}
    model.eval()
    with torch.no_grad():
        for i, im in enumerate(photos):
            out = model([im])[0]  # one image at a time, as `soco detect` runs them
            golden[f"boxes.{i}"], golden[f"scores.{i}"], golden[f"labels.{i}"] = out["boxes"], out["scores"], out["labels"]
            print(f"photo {i} {tuple(im.shape)}: {len(out['scores'])} detections, top score {out['scores'][0]:.4f}")
    torch.save({k: v.detach().clone().contiguous() for k, v in golden.items()}, os.path.join(OUT, "golden.pt"),
               _use_new_zipfile_serialization=True)

    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "bus"}, {"id": 3, "name": "car"}, {"id": 4, "name": "dog"}]
    cat_id = {c["name"]: c["id"] for c in cats}
    images, anns = [], []
    for n, xml in enumerate(sorted(os.listdir(os.path.join(VOC, "Annotations")))):
        root = ET.parse(os.path.join(VOC, "Annotations", xml)).getroot()
        img_id = 101 + 7 * n
        size = root.find("size")
        images.append({"id": img_id, "file_name": root.find("filename").text,
                       "width": int(size.find("width").text), "height": int(size.find("height").text)})
        for o in root.findall("object"):
            b = o.find("bndbox")
            x1, y1, x2, y2 = (float(b.find(t).text) for t in ("xmin", "ymin", "xmax", "ymax"))
            w, h = x2 - x1 + 1, y2 - y1 + 1  # VOC: 1-based inclusive pixel indices
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat_id[o.find("name").text],
                         "bbox": [x1 - 1, y1 - 1, w, h], "area": w * h, "iscrowd": 0})
    with open(os.path.join(OUT, "voc_gt.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f, indent=1)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name)) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
