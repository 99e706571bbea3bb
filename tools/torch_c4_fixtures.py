#!/usr/bin/python3
"""Golden fixture for SoCo.NET's R-C4 detector (FasterRcnn with DetectorArch.C4, docs/detector-c4.md).

    /usr/bin/python3 tools/torch_c4_fixtures.py [out_dir]     # default tests/fixtures/detection

torchvision 0.14 has no C4 model, but its FasterRCNN machinery (GeneralizedRCNNTransform, AnchorGenerator, RPN,
RoIHeads with postprocess) accepts any backbone, pooler and box head. Assembled here as Detectron2's R-C4 with SoCo's
changes: ResNet-50 layout trunk up to C4 (torchvision's own Bottleneck, stride in the 3x3), one RPN level on C4 with
anchors 32..512 x ratios 0.5/1/2 (15 per location), a pooler doing torchvision.ops.roi_align(aligned=True,
sampling_ratio=0, scale 1/16, 14x14) -- the same operation as Detectron2's ROIAlignV2 -- and a box head res5 ->
BatchNorm (SoCo's Res5ROIHeadsExtraNorm) -> mean over 7x7. Stem width 2 so the whole model fits in a small file.
Saves: the pieces on fixed inputs (anchors, pooled RoIs, head output and gradients) and the detections of the whole
model on two small sample photos, with the seeded weights. Reuses tools/torch_detection_fixtures.py's helpers.
"""
import os
import sys
from collections import OrderedDict

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_detection_fixtures as base  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor  # noqa: E402
from torchvision.models.detection.image_list import ImageList  # noqa: E402
from torchvision.models.detection.rpn import RPNHead  # noqa: E402
from torchvision.ops import roi_align  # noqa: E402

torch.set_num_threads(1)
if len(sys.argv) > 1:
    base.OUT = sys.argv[1]


class C4Trunk(torch.nn.Module):
    """Stem + layer1..layer3 of the tiny ResNet-50 layout, returning {"0": C4}; state keys body.*."""

    def __init__(self, width):
        super().__init__()
        body = base.TinyResNet(width)
        del body.layer4
        self.body = body
        self.out_channels = width * 16

    def forward(self, x):
        b = self.body
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return OrderedDict([("0", b.layer3(b.layer2(b.layer1(x))))])


class C4Pool(torch.nn.Module):
    """Detectron2's R-C4 pooler: ROIAlignV2 (aligned) 14x14, adaptive sampling, on C4 at scale 1/16."""

    def forward(self, features, proposals, image_shapes):
        return roi_align(features["0"], proposals, output_size=14, spatial_scale=1.0 / 16, sampling_ratio=0, aligned=True)


class Res5Head(torch.nn.Module):
    """res5 (the ResNet's 4th stage, torchvision blocks) -> SoCo's extra BatchNorm -> mean over the cells."""

    def __init__(self, width):
        super().__init__()
        maker = base.TinyResNet(width)  # layer4 built with inplanes = 16 * width, as the trunk leaves them
        self.res5 = maker.layer4
        self.norm = torch.nn.BatchNorm2d(width * 32)

    def forward(self, x):
        return self.norm(self.res5(x)).mean(dim=[2, 3])


def main():
    os.makedirs(base.OUT, exist_ok=True)
    d = {}
    g = torch.Generator().manual_seed(707)
    torch.manual_seed(707)
    width, K = 2, 5

    # anchors: one level, for two padded sizes and their C4 grids
    ag = AnchorGenerator(((32, 64, 128, 256, 512),), ((0.5, 1.0, 2.0),))
    for i, (h, w) in enumerate(((128, 192), (224, 160))):
        feat = torch.zeros(1, 1, h // 16, w // 16)
        a = ag(ImageList(torch.zeros(1, 3, h, w), [(h, w)]), [feat])[0]
        d[f"anchors.{i}.size"] = torch.tensor([h, w])
        d[f"anchors.{i}"] = a

    # pooler on fixed features and boxes (inside, at the border, past it, tiny)
    feats = torch.randn(2, 3, 9, 12, generator=g)
    boxes = [torch.tensor([[3.0, 5.0, 70.0, 90.0], [0.0, 0.0, 190.0, 140.0], [100.0, 20.5, 101.0, 21.0], [-8.0, 30.0, 40.0, 160.0]]),
             torch.tensor([[12.25, 7.5, 44.0, 60.75], [150.0, 100.0, 185.0, 139.0]])]
    d["pool.feat"] = feats
    for i, b in enumerate(boxes):
        d[f"pool.boxes.{i}"] = b
    d["pool.out"] = C4Pool()({"0": feats}, boxes, [(140, 190), (140, 190)])

    # the head alone, train mode (batch statistics), forward and gradients for a fixed weighting of its output
    head = Res5Head(width)
    base.randomize(head, g, 0.15)
    x = torch.randn(6, width * 16, 14, 14, generator=g, requires_grad=True)
    wts = torch.randn(6, width * 32, generator=g)
    head.train()
    y = head(x)
    (y * wts).sum().backward()
    d["head.in"], d["head.weights"], d["head.out"] = x.detach(), wts, y.detach()
    d["head.grad_in"] = x.grad
    for k, p in head.named_parameters():
        d[f"head.grad.{k}"] = p.grad
    for k, v in head.state_dict().items():
        d[f"head.state.{k}"] = v  # after the forward: running statistics updated as BatchNorm's momentum 0.1 says
    head.eval()
    d["head.eval_out"] = head(x.detach()).detach()

    # the whole R-C4 detector
    model = FasterRCNN(C4Trunk(width), num_classes=None, min_size=128, max_size=200, rpn_anchor_generator=ag,
                       rpn_head=RPNHead(width * 16, 15, conv_depth=1), rpn_pre_nms_top_n_test=6000, rpn_post_nms_top_n_test=1000,
                       box_roi_pool=torchvision.ops.MultiScaleRoIAlign(["0"], 14, 0), box_head=Res5Head(width),
                       box_predictor=FastRCNNPredictor(width * 32, K))
    model.roi_heads.box_roi_pool = C4Pool()  # the constructor type-checks the pooler; RoIHeads only calls it
    base.randomize(model, g, 0.15)
    images = [base.photo("dog.jpg", (80, 60)), base.photo("horses.jpg", (56, 72))]
    base.calibrate_bn(model, images)
    with torch.no_grad():
        out = model(images)
    for i, im in enumerate(images):
        d[f"image.{i}"] = im
        d[f"out.boxes.{i}"], d[f"out.scores.{i}"], d[f"out.labels.{i}"] = out[i]["boxes"], out[i]["scores"], out[i]["labels"]
        print(f"image {i}: {len(out[i]['scores'])} detections")
    for k, v in model.state_dict().items():
        d[f"state.{k}"] = v
    base.save("faster_rcnn_c4_tiny.pt", d)


if __name__ == "__main__":
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    main()
