#!/usr/bin/python3
"""Golden fixtures for SoCo.NET's Mask R-CNN branch (src/Soco/Modeling/Detection/MaskHead.cs, RoiHeads, FasterRcnn
with MaskOn, `soco import` / `soco detect` of a maskrcnn_resnet50_fpn_v2 state_dict).

Run with Debian's reference stack (python3-torch 1.13, python3-torchvision 0.14, python3-opencv):

    /usr/bin/python3 tools/mask_rcnn_fixtures.py      # writes tests/fixtures/detection/mask_parts.pt and detcli/mask*

Every expected value comes from torchvision 0.14 itself:
- mask_parts.pt: roi_heads.py project_masks_on_boxes (boxes inside, across and outside the image, tiny and large),
  paste_masks_in_image (fractional, negative, off-image and degenerate boxes), transform.py _resize_image_and_masks
  (target masks resized by nearest neighbour beside the image), and a RoIHeads with MaskRCNNHeads (BatchNorm) +
  MaskRCNNPredictor: eval-mode detections with their 28x28 mask probabilities, and train mode on a recorded RoI
  sample: loss_mask and the mask head's gradients and BN running statistics after the step.
- detcli/maskrcnn_v2_seeded.pth: a plain MaskRCNN.state_dict() (torch.save, as a user saves one) of the
  maskrcnn_resnet50_fpn_v2 layout at the detect-CLI fixture's size (ResNet-50 layout at stem width 2, FPN 16, 5
  classes), seeded random weights, BN statistics calibrated on the two photos (mask head included).
- detcli/golden_masks.pt: that model's detections of detcli/dog.png and detcli/horses.png run one at a time
  (model([image]) in eval mode, short side 128, max 200): boxes, scores, labels, and each detection's pasted mask
  thresholded at > 0.5 (torchvision's COCO evaluator's rule), bit-packed row-major (numpy.packbits) to stay small, and
  likewise the pixels whose probability lies within 1e-3 of 0.5.
"""
import os
import sys

import cv2
import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
OUT = os.path.join(HERE, "..", "tests", "fixtures", "detection")
sys.argv = sys.argv[:1]  # torch_detection_fixtures reads its out dir from argv at import
import torch_detection_fixtures as tdf  # noqa: E402
from torchvision.models.detection import roi_heads as tv_roi  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.backbone_utils import BackboneWithFPN  # noqa: E402
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, RPNHead  # noqa: E402
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor  # noqa: E402
from torchvision.models.detection.roi_heads import RoIHeads  # noqa: E402
from torchvision.models.detection.transform import _resize_image_and_masks  # noqa: E402
from torchvision.ops import MultiScaleRoIAlign  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool  # noqa: E402

assert torchvision.__version__.startswith("0.14"), f"reference is torchvision 0.14, found {torchvision.__version__}"
torch.set_num_threads(1)


def save(path, d):
    d = {k: v.detach().clone().contiguous() for k, v in d.items()}  # own storage each: PyBridge mis-reads offset views
    torch.save(d, path, _use_new_zipfile_serialization=True)
    print(f"{os.path.basename(path)}: {len(d)} tensors, {os.path.getsize(path) / 1024:.1f} KiB")


def blob_masks(g, n, h, w):
    """n binary masks of h x w: unions of random ellipses, so targets have real edges inside the boxes."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    out = torch.zeros(n, h, w, dtype=torch.uint8)
    for i in range(n):
        for _ in range(3):
            cy, cx = torch.rand(2, generator=g, dtype=torch.float64) * torch.tensor([h, w])
            ry, rx = torch.rand(2, generator=g, dtype=torch.float64) * torch.tensor([h / 3, w / 3]) + 2
            out[i] |= (((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1).to(torch.uint8)
    return out


def parts_fixture():
    g = torch.Generator().manual_seed(1101)
    d = {}
    # --- project_masks_on_boxes: 3 gt masks of 60x80; boxes inside, across the edges, beyond, tiny and whole-image
    gm = blob_masks(g, 3, 60, 80)
    boxes = torch.tensor([[10.0, 5.0, 50.0, 40.0], [-8.5, -3.25, 30.0, 20.0], [60.0, 40.0, 95.0, 70.0], [20.2, 30.7, 21.1, 31.0],
                          [0.0, 0.0, 80.0, 60.0], [33.3, 12.9, 71.6, 58.4], [5.0, 50.0, 79.5, 59.9]])
    matched = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    d["project.gt_masks"], d["project.boxes"], d["project.matched"] = gm, boxes, matched
    d["project.targets"] = tv_roi.project_masks_on_boxes(gm, boxes, matched, 28)
    # --- paste_masks_in_image: probabilities 28x28 into a 50x70 image
    probs = torch.rand(6, 1, 28, 28, generator=g)
    pboxes = torch.tensor([[10.3, 5.7, 40.2, 30.9], [-5.5, -2.4, 20.1, 15.0], [60.0, 40.0, 90.0, 65.0], [30.0, 20.0, 30.4, 20.2],
                           [0.0, 0.0, 70.0, 50.0], [69.5, 49.5, 75.0, 60.0]])
    d["paste.masks"], d["paste.boxes"] = probs, pboxes
    d["paste.out"] = tv_roi.paste_masks_in_image(probs, pboxes, (50, 70), padding=1)
    # --- target masks resized beside the image (nearest), at a few sizes
    for i, (h, w, mn, mx) in enumerate(((60, 80, 128, 200), (75, 96, 128, 200), (37, 53, 100, 120), (90, 120, 50, 80))):
        m = blob_masks(g, 2, h, w)
        img, t = _resize_image_and_masks(torch.zeros(3, h, w), float(mn), float(mx), {"masks": m.clone()}, None)
        d[f"resize.{i}.in"], d[f"resize.{i}.out"] = m, t["masks"]
        d[f"resize.{i}.args"] = torch.tensor([mn, mx])

    # --- RoIHeads with the mask branch (inputs as tools/torch_detection_fixtures.py roi_heads_fixture draws them)
    C, F_, K = 4, 16, 5
    sizes = [(250, 310), (256, 280)]
    feats = [torch.randn(2, C, 256 // s, 320 // s, generator=g) for s in (4, 8, 16, 32)]
    for i, f in enumerate(feats):
        d[f"feat.{i}"] = f
    d["image_sizes"] = torch.tensor(sizes)
    props, gts, labels, masks = [], [], [], []
    for i, (h, w) in enumerate(sizes):
        n = 70 if i == 0 else 50
        side = torch.exp(torch.rand(n, generator=g) * np.log(250 / 8)) * 8
        asp = torch.exp((torch.rand(n, generator=g) - 0.5))
        bw, bh = (side * asp.sqrt()).clamp(max=w - 1), (side / asp.sqrt()).clamp(max=h - 1)
        x1, y1 = torch.rand(n, generator=g) * (w - bw), torch.rand(n, generator=g) * (h - bh)
        props.append(torch.stack([x1, y1, x1 + bw, y1 + bh], 1))
        ng = 4 if i == 0 else 2
        gsel = props[-1][torch.randperm(n, generator=g)[:ng]] + torch.randn(ng, 4, generator=g) * 4
        gts.append(torchvision.ops.clip_boxes_to_image(gsel, (h, w)))
        labels.append(torch.randint(1, K, (ng,), generator=g))
        masks.append(blob_masks(g, ng, h, w))
        d[f"proposals.{i}"], d[f"gt.{i}"], d[f"gt_labels.{i}"], d[f"gt_masks.{i}"] = props[-1], gts[-1], labels[-1], masks[-1]
    head = FastRCNNConvFCHead((C, 7, 7), [C] * 4, [F_], norm_layer=torch.nn.BatchNorm2d)
    pred = FastRCNNPredictor(F_, K)
    mhead = MaskRCNNHeads(C, [8] * 4, 1, norm_layer=torch.nn.BatchNorm2d)
    mpred = MaskRCNNPredictor(8, 8, K)
    with torch.no_grad():
        for m, wscale in ((head, 0.3), (pred, 0.08), (mhead, 0.4), (mpred, 0.3)):
            for k, p in m.named_parameters():
                r = torch.randn(p.shape, generator=g)
                p.copy_(r * wscale if p.dim() > 1 else (1 + 0.2 * r if k.endswith("weight") and m is not mpred else 0.1 * r))
        for m in list(head.modules()) + list(mhead.modules()):
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    rh = RoIHeads(MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2), head, pred, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 30,
                  mask_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], 14, 2), mask_head=mhead, mask_predictor=mpred)
    for prefix, m in (("roi_heads.box_head.", head), ("roi_heads.box_predictor.", pred), ("roi_heads.mask_head.", mhead), ("roi_heads.mask_predictor.", mpred)):
        for k, v in m.state_dict().items():
            d["state." + prefix + k] = v.clone()
    fmap = {str(i): f for i, f in enumerate(feats)}
    rh.eval()
    with torch.no_grad():
        dets, _ = rh(fmap, props, sizes)
    for i in range(2):
        for k in ("boxes", "scores", "labels", "masks"):
            d[f"eval.{k}.{i}"] = dets[i][k]
    rh.fg_bg_sampler = tdf.RecordingSampler(512, 0.25, gen=torch.Generator().manual_seed(16))
    rh.train()
    targets = [dict(boxes=b, labels=lab, masks=m) for b, lab, m in zip(gts, labels, masks)]
    losses = rh(fmap, [p.clone() for p in props], sizes, targets)[1]
    for i in range(2):
        d[f"train.pos.{i}"] = rh.fg_bg_sampler.masks[0][i].bool()
        d[f"train.neg.{i}"] = rh.fg_bg_sampler.masks[1][i].bool()
    for k, v in losses.items():
        d[f"train.{k}"] = v.detach()
    losses["loss_mask"].backward()
    for prefix, m in (("mask_head.", mhead), ("mask_predictor.", mpred)):
        for k, p in m.named_parameters():
            d[f"grad.{prefix}{k}"] = p.grad.clone()
    for k, v in mhead.state_dict().items():
        if "running" in k:
            d[f"after.mask_head.{k}"] = v.clone()
    save(os.path.join(OUT, "mask_parts.pt"), d)


def load_png(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return (torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255).contiguous()


def calibrate_mask_head_bn(model, photos):
    """The mask head's BN statistics: its own batch statistics on the proposals' pooled features, with the variance
    floor of torch_detection_fixtures.calibrate_bn (which calibrates the box path only)."""
    bns = [m for m in model.roi_heads.mask_head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        batch, _ = model.transform(photos)
        feats = model.backbone(batch.tensors)
        props, _ = model.rpn(batch, feats)
        model.roi_heads.mask_head.train()
        model.roi_heads.mask_head(model.roi_heads.mask_roi_pool(feats, props, batch.image_sizes))
    for m in bns:
        m.momentum = 0.1
        m.running_var.add_(0.1)
    model.eval()


def golden_detections(model, photos, near_eps=1e-3, with_m28=False):
    """model([image]) one image at a time (eval): boxes, scores, labels and each pasted mask thresholded at > 0.5
    (torchvision's COCO evaluator's rule), bit-packed row-major (numpy.packbits) with its shape and areas, and
    likewise the pixels whose probability lies within near_eps of 0.5. with_m28: also each detection's 28×28
    probabilities before the paste (m28.i, K×28×28 float32: the roi_heads' output, which transform.postprocess pastes)."""
    golden = {}
    captured = {}
    hook = model.roi_heads.register_forward_hook(lambda mod, inp, out: captured.__setitem__("m28", out[0][0]["masks"][:, 0].clone())) if with_m28 else None
    with torch.no_grad():
        for i, im in enumerate(photos):
            out = model([im])[0]
            if with_m28:
                golden[f"m28.{i}"] = captured["m28"].float().contiguous()
            binary = (out["masks"][:, 0] > 0.5).numpy().astype(np.uint8)
            golden[f"boxes.{i}"], golden[f"scores.{i}"], golden[f"labels.{i}"] = out["boxes"], out["scores"], out["labels"]
            golden[f"masks.{i}"] = torch.from_numpy(np.packbits(binary.reshape(binary.shape[0], -1), axis=1))
            golden[f"mask_shape.{i}"] = torch.tensor(binary.shape)
            golden[f"mask_area.{i}"] = torch.from_numpy(binary.reshape(binary.shape[0], -1).sum(1).astype(np.int64))
            # Pixels whose probability is within near_eps of the threshold: float32 summation order may put them on
            # either side, so a difference there is rounding, not semantics.
            near = ((out["masks"][:, 0] - 0.5).abs() < near_eps).numpy().astype(np.uint8)
            golden[f"near.{i}"] = torch.from_numpy(np.packbits(near.reshape(near.shape[0], -1), axis=1))
            print(f"photo {i} {tuple(im.shape)}: {len(out['scores'])} detections, top score {out['scores'][0]:.4f}, "
                  f"mask pixels {int(binary.sum())}, empty masks {int((binary.reshape(len(binary), -1).sum(1) == 0).sum())}")
    if hook is not None:
        hook.remove()
    return golden


def whole_model_fixture():
    detcli = os.path.join(OUT, "detcli")
    photos = [load_png(os.path.join(detcli, n)) for n in ("dog.png", "horses.png")]  # written by detect_cli_fixtures.py
    g = torch.Generator().manual_seed(1107)
    torch.manual_seed(1107)
    width, fpn_ch, K = 2, 16, 5
    backbone = BackboneWithFPN(tdf.TinyResNet(width), {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [width * 4, width * 8, width * 16, width * 32], fpn_ch,
                               extra_blocks=LastLevelMaxPool(), norm_layer=torch.nn.BatchNorm2d)
    model = MaskRCNN(backbone, num_classes=None, min_size=128, max_size=200,
                     rpn_anchor_generator=AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5),
                     rpn_head=RPNHead(fpn_ch, 3, conv_depth=2),
                     box_head=FastRCNNConvFCHead((fpn_ch, 7, 7), [fpn_ch] * 4, [32], norm_layer=torch.nn.BatchNorm2d),
                     box_predictor=FastRCNNPredictor(32, K),
                     mask_head=MaskRCNNHeads(fpn_ch, [fpn_ch] * 4, 1, norm_layer=torch.nn.BatchNorm2d),
                     mask_predictor=MaskRCNNPredictor(fpn_ch, fpn_ch, K))
    tdf.randomize(model, g, 0.15)
    tdf.calibrate_bn(model, photos)
    calibrate_mask_head_bn(model, photos)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(detcli, "maskrcnn_v2_seeded.pth"))
    golden = golden_detections(model, photos)
    save(os.path.join(detcli, "golden_masks.pt"), golden)


if __name__ == "__main__":
    parts_fixture()
    whole_model_fixture()
