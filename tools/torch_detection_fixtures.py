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
    d = {k: v.detach().clone().contiguous() for k, v in d.items()}  # own storage each: PyBridge mis-reads offset views
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


# ---------------------------------------------------------------------------------------------- step 2: parts
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.poolers import LevelMapper


def anchors_fixture():
    d = {}
    sizes = ((32,), (64,), (128,), (256,), (512,))
    ratios = ((0.5, 1.0, 2.0),) * 5
    gen = AnchorGenerator(sizes, ratios)
    for l, a in enumerate(gen.cell_anchors):
        d[f"cell.{l}"] = a
    # a small padded batch: 96x128 with feature maps as an FPN would give them (P6 2x2 -> stride 48 x 64)
    images = ImageList(torch.zeros(2, 3, 96, 128), [(90, 120), (96, 100)])
    feats = [torch.zeros(2, 1, h, w) for h, w in ((24, 32), (12, 16), (6, 8), (3, 4), (2, 2))]
    out = gen(images, feats)
    d["small.anchors"] = out[0]
    assert torch.equal(out[0], out[1])
    # the P6 of an 800x1216 batch (13x19: stride 800 // 13 = 61 vertically, 64 horizontally)
    gen6 = AnchorGenerator(((512,),), ((0.5, 1.0, 2.0),))
    d["p6.anchors"] = gen6(ImageList(torch.zeros(1, 3, 800, 1216), [(800, 1216)]), [torch.zeros(1, 1, 13, 19)])[0]
    # several sizes and ratios on one level (sizes-minor order)
    genm = AnchorGenerator(((16, 40),), ((0.25, 1.0, 3.0),))
    d["multi.cell"] = genm.cell_anchors[0]
    d["multi.anchors"] = genm(ImageList(torch.zeros(1, 3, 40, 56), [(40, 56)]), [torch.zeros(1, 1, 5, 7)])[0]
    save("anchors.pt", d)


def coder_matcher_sampler_fixture():
    g = torch.Generator().manual_seed(202)
    d = {}
    # box coder: positive-size boxes; codes with dw/dh beyond the clamp; per-class (N, 4k) codes
    props = random_boxes(40, g) + torch.tensor([0.0, 0.0, 2.0, 2.0])
    gts = random_boxes(40, g) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    d["coder.proposals"], d["coder.gt"] = props, gts
    for name, w in (("rpn", (1.0, 1.0, 1.0, 1.0)), ("roi", (10.0, 10.0, 5.0, 5.0))):
        coder = det_utils.BoxCoder(w)
        d[f"coder.{name}.encoded"] = coder.encode_single(gts, props)
        codes = torch.randn(40, 12, generator=g) * 3
        codes[0, 2] = 9.0  # above log(1000/16) * 1 and * 5: clamped
        codes[1, 3] = 30.0
        codes[2, 2] = -12.0  # no lower clamp
        d[f"coder.{name}.codes"] = codes
        d[f"coder.{name}.decoded"] = coder.decode(codes, [props])  # (40, 3, 4)
        d[f"coder.{name}.roundtrip"] = coder.decode_single(coder.encode_single(gts, props), props)
    # matcher: 6 gt boxes, 300 predictions; duplicated predictions make exact ties for a gt's best IoU,
    # and one gt overlaps nothing (its best IoU is 0: every prediction "ties" at 0)
    gt = clustered_boxes(5, g)
    gt = torch.cat([gt, torch.tensor([[900.0, 900.0, 950.0, 960.0]])])
    preds = torch.cat([clustered_boxes(290, g), gt[:3] + 0.5, gt[:3] + 0.5, torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 4)])
    q = box_ops.box_iou(gt[:5], preds)
    d["matcher.quality"] = q
    for name, m in (("rpn", det_utils.Matcher(0.7, 0.3, True)), ("roi", det_utils.Matcher(0.5, 0.5, False)),
                    ("mid", det_utils.Matcher(0.6, 0.2, True))):
        d[f"matcher.{name}"] = m(q)
    qfar = box_ops.box_iou(gt, preds)
    d["matcher.far.quality"] = qfar
    d["matcher.far.rpn"] = det_utils.Matcher(0.7, 0.3, True)(qfar)
    # sampler counts: torchvision's numbers of positives / negatives for several label mixes
    rows = []
    for bs, frac in ((256, 0.5), (512, 0.25), (16, 0.3)):
        s = det_utils.BalancedPositiveNegativeSampler(bs, frac)
        for npos, nneg, nign in ((10, 1000, 50), (300, 1000, 5), (0, 20, 3), (400, 10, 0), (5, 0, 7)):
            labels = torch.cat([torch.ones(npos), torch.zeros(nneg), -torch.ones(nign)])
            labels = labels[torch.randperm(labels.numel(), generator=g)]
            pos, neg = s([labels])
            assert bool((labels[pos[0].bool()] >= 1).all()) and bool((labels[neg[0].bool()] == 0).all())
            rows.append([bs, frac, npos, nneg, nign, int(pos[0].sum()), int(neg[0].sum())])
    d["sampler.counts"] = torch.tensor(rows, dtype=torch.float64)
    save("parts.pt", d)


def pooler_fixture():
    g = torch.Generator().manual_seed(303)
    d = {}
    sizes = [(480, 600), (452, 560)]  # unpadded; batch padded to 480x608
    feats = [torch.randn(2, 2, 480 // s, 608 // s, generator=g) for s in (4, 8, 16, 32)]
    boxes = []
    for i, (h, w) in enumerate(sizes):
        # sides from 4 px to ~560 px so every level 2..5 is used, plus boxes exactly at the level boundaries
        side = torch.exp(torch.rand(30, generator=g) * math.log(560 / 4)) * 4
        aspect = torch.exp((torch.rand(30, generator=g) - 0.5) * 1.5)
        bw, bh = side * aspect.sqrt(), side / aspect.sqrt()
        x1 = torch.rand(30, generator=g) * (w - bw).clamp(min=1)
        y1 = torch.rand(30, generator=g) * (h - bh).clamp(min=1)
        b = torch.stack([x1, y1, x1 + bw, y1 + bh], 1)
        if i == 0:
            b = torch.cat([b, torch.tensor([[10.0, 10.0, 122.0, 122.0], [0.0, 0.0, 224.0, 224.0], [5.0, 5.0, 453.0, 453.0],
                                            [0.0, 0.0, 111.9, 112.0], [1.0, 2.0, 3.0, 2.0]])])
        boxes.append(b)
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    out = pooler({str(i): f for i, f in enumerate(feats)}, boxes, sizes)
    for i, f in enumerate(feats):
        d[f"feat.{i}"] = f
    for i, b in enumerate(boxes):
        d[f"boxes.{i}"] = b
    d["image_sizes"] = torch.tensor(sizes)
    d["scales"] = torch.tensor(pooler.scales, dtype=torch.float64)
    d["levels"] = pooler.map_levels(boxes)
    d["out"] = out
    save("pooler.pt", d)


# ---------------------------------------------------------------------------------------------- step 3: RPN
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead


class RecordingSampler(det_utils.BalancedPositiveNegativeSampler):
    """torchvision's sampler drawing from a fixed generator; the masks it returns are saved so the C# side can compute
    the losses on the very same sample (the subsets themselves come from a different generator there)."""

    def __init__(self, *a, gen):
        super().__init__(*a)
        self.gen = gen
        self.masks = None

    def __call__(self, matched_idxs):
        pos_idx, neg_idx = [], []
        for m in matched_idxs:
            positive = torch.where(m >= 1)[0]
            negative = torch.where(m == 0)[0]
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            p = positive[torch.randperm(positive.numel(), generator=self.gen)[:num_pos]]
            n = negative[torch.randperm(negative.numel(), generator=self.gen)[:num_neg]]
            pm = torch.zeros_like(m, dtype=torch.uint8)
            nm = torch.zeros_like(m, dtype=torch.uint8)
            pm[p] = 1
            nm[n] = 1
            pos_idx.append(pm)
            neg_idx.append(nm)
        self.masks = (pos_idx, neg_idx)
        return pos_idx, neg_idx


def rpn_fixture():
    g = torch.Generator().manual_seed(404)
    d = {}
    sizes = [(60, 90), (64, 72)]
    images = ImageList(torch.zeros(2, 3, 64, 96), sizes)
    feats = [torch.randn(2, 4, h, w, generator=g) for h, w in ((16, 24), (8, 12), (4, 6), (2, 3), (1, 2))]
    anchor_gen = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    for depth in (1, 2):
        head = RPNHead(4, 3, conv_depth=depth)
        with torch.no_grad():
            for k, p in head.named_parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (0.3 if k.endswith("weight") else 0.1))
        for k, v in head.state_dict().items():
            d[f"depth{depth}.head.{k}"] = v
        logits, deltas = head(feats)
        for l in range(5):
            d[f"depth{depth}.logits.{l}"], d[f"depth{depth}.deltas.{l}"] = logits[l].detach(), deltas[l].detach()
    # the RPN itself (depth 2): small top-k numbers so the finest levels are cut and the coarse ones are not
    rpn = RegionProposalNetwork(anchor_gen, head, 0.7, 0.3, 256, 0.5,
                                dict(training=300, testing=200), dict(training=250, testing=150), 0.7)
    for i, f in enumerate(feats):
        d[f"feat.{i}"] = f
    d["image_sizes"] = torch.tensor(sizes)
    rpn.eval()
    with torch.no_grad():
        boxes, _ = rpn(images, {str(i): f for i, f in enumerate(feats)})
        # scores: recompute through filter_proposals (forward returns boxes only)
        objectness, pred = rpn.head(feats)
        anchors = rpn.anchor_generator(images, feats)
        npl = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        obj, pb = det_utils.concat_box_prediction_layers(objectness, pred) if hasattr(det_utils, "concat_box_prediction_layers") else \
            torchvision.models.detection.rpn.concat_box_prediction_layers(objectness, pred)
        props = rpn.box_coder.decode(pb.detach(), anchors).view(2, -1, 4)
        fb, fs = rpn.filter_proposals(props, obj, images.image_sizes, npl)
    for i in range(2):
        assert torch.equal(fb[i], boxes[i])
        d[f"eval.boxes.{i}"], d[f"eval.scores.{i}"] = fb[i], fs[i]
    d["eval.objectness"] = obj
    # training: proposals with the training top-k, labels, targets and the losses on a recorded sample
    gt = [torch.tensor([[5.0, 6.0, 30.0, 35.0], [35.0, 10.0, 70.0, 55.0], [2.0, 40.0, 15.0, 59.0]]),
          torch.tensor([[10.0, 15.0, 45.0, 60.0]])]
    for i, b in enumerate(gt):
        d[f"train.gt.{i}"] = b
    rpn.fg_bg_sampler = RecordingSampler(256, 0.5, gen=torch.Generator().manual_seed(5))
    rpn.train()
    boxes_t, losses = rpn(images, {str(i): f for i, f in enumerate(feats)}, [dict(boxes=b) for b in gt])
    for i in range(2):
        d[f"train.boxes.{i}"] = boxes_t[i].detach()
        d[f"train.pos.{i}"] = rpn.fg_bg_sampler.masks[0][i].bool()
        d[f"train.neg.{i}"] = rpn.fg_bg_sampler.masks[1][i].bool()
    labels, matched = rpn.assign_targets_to_anchors(anchors, [dict(boxes=b) for b in gt])
    for i in range(2):
        d[f"train.labels.{i}"] = labels[i]
        d[f"train.targets.{i}"] = rpn.box_coder.encode([matched[i]], [anchors[i]])[0]
    d["train.loss_objectness"] = losses["loss_objectness"].detach()
    d["train.loss_rpn_box_reg"] = losses["loss_rpn_box_reg"].detach()
    # an image without boxes: all anchors background
    labels_e, _ = rpn.assign_targets_to_anchors(anchors[:1], [dict(boxes=torch.zeros(0, 4))])
    assert bool((labels_e[0] == 0).all())
    save("rpn.pt", d)


# ---------------------------------------------------------------------------------------------- step 4: ROI heads
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads


def roi_heads_fixture():
    g = torch.Generator().manual_seed(505)
    d = {}
    C, F_, K = 4, 16, 5  # channels, box-head width, classes incl. background
    sizes = [(250, 310), (256, 280)]  # unpadded; batch padded to 256x320
    feats = [torch.randn(2, C, 256 // s, 320 // s, generator=g) for s in (4, 8, 16, 32)]
    for i, f in enumerate(feats):
        d[f"feat.{i}"] = f
    d["image_sizes"] = torch.tensor(sizes)
    # proposals: sides 8..250 px so several levels are used; gt boxes with labels 1..4
    props, gts, labels = [], [], []
    for i, (h, w) in enumerate(sizes):
        n = 70 if i == 0 else 50
        side = torch.exp(torch.rand(n, generator=g) * math.log(250 / 8)) * 8
        asp = torch.exp((torch.rand(n, generator=g) - 0.5))
        bw, bh = (side * asp.sqrt()).clamp(max=w - 1), (side / asp.sqrt()).clamp(max=h - 1)
        x1, y1 = torch.rand(n, generator=g) * (w - bw), torch.rand(n, generator=g) * (h - bh)
        props.append(torch.stack([x1, y1, x1 + bw, y1 + bh], 1))
        ng = 4 if i == 0 else 2
        gsel = props[-1][torch.randperm(n, generator=g)[:ng]] + torch.randn(ng, 4, generator=g) * 4
        gts.append(box_ops.clip_boxes_to_image(gsel, (h, w)))
        labels.append(torch.randint(1, K, (ng,), generator=g))
        d[f"proposals.{i}"], d[f"gt.{i}"], d[f"gt_labels.{i}"] = props[-1], gts[-1], labels[-1]
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    head = FastRCNNConvFCHead((C, 7, 7), [C] * 4, [F_], norm_layer=torch.nn.BatchNorm2d)
    pred = FastRCNNPredictor(F_, K)
    with torch.no_grad():
        for m, wscale in ((head, 0.3), (pred, 0.08)):  # a sharp predictor: well separated scores, several labels
            for k, p in m.named_parameters():
                r = torch.randn(p.shape, generator=g)
                p.copy_(r * wscale if p.dim() > 1 else (1 + 0.2 * r if k.endswith("weight") else 0.1 * r))  # BN gamma near 1
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    for k, v in head.state_dict().items():
        d[f"box_head.{k}"] = v.clone()
    for k, v in pred.state_dict().items():
        d[f"box_predictor.{k}"] = v.clone()
    rh = RoIHeads(pooler, head, pred, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 30)
    fmap = {str(i): f for i, f in enumerate(feats)}
    # inference (BN running statistics)
    rh.eval()
    with torch.no_grad():
        dets, _ = rh(fmap, props, sizes)
        bf = rh.box_head(rh.box_roi_pool(fmap, props, sizes))
        logits, deltas = rh.box_predictor(bf)
    d["eval.logits"], d["eval.deltas"] = logits, deltas
    for i in range(2):
        d[f"eval.boxes.{i}"], d[f"eval.scores.{i}"], d[f"eval.labels.{i}"] = dets[i]["boxes"], dets[i]["scores"], dets[i]["labels"]
    # training (BN batch statistics) on a recorded sample
    rh.fg_bg_sampler = RecordingSampler(512, 0.25, gen=torch.Generator().manual_seed(6))
    rh.train()
    targets = [dict(boxes=b, labels=l) for b, l in zip(gts, labels)]
    sp, matched, slabels, stargets = rh.select_training_samples([p.clone() for p in props], targets)
    for i in range(2):
        d[f"train.pos.{i}"] = rh.fg_bg_sampler.masks[0][i].bool()
        d[f"train.neg.{i}"] = rh.fg_bg_sampler.masks[1][i].bool()
        d[f"train.sampled.{i}"], d[f"train.labels.{i}"], d[f"train.targets.{i}"] = sp[i], slabels[i], stargets[i]
    # the full labels before sampling (proposals + gt appended)
    with_gt = rh.add_gt_proposals([p.clone() for p in props], gts)
    m_all, l_all = rh.assign_targets_to_proposals(with_gt, gts, labels)
    for i in range(2):
        d[f"train.all_labels.{i}"], d[f"train.all_matched.{i}"] = l_all[i], m_all[i]
    bf = rh.box_head(rh.box_roi_pool(fmap, sp, sizes))
    logits, deltas = rh.box_predictor(bf)
    loss_cls, loss_box = torchvision.models.detection.roi_heads.fastrcnn_loss(logits, deltas, slabels, stargets)
    d["train.logits"] = logits.detach()
    d["train.loss_classifier"], d["train.loss_box_reg"] = loss_cls.detach(), loss_box.detach()
    (loss_cls + loss_box).backward()
    for k, p in head.named_parameters():
        d[f"grad.box_head.{k}"] = p.grad.clone()
    for k, p in pred.named_parameters():
        d[f"grad.box_predictor.{k}"] = p.grad.clone()
    for k, v in head.state_dict().items():
        if "running" in k:
            d[f"after.box_head.{k}"] = v.clone()
    save("roi_heads.pt", d)


# ---------------------------------------------------------------------------------------------- step 5: whole model
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.transform import GeneralizedRCNNTransform, _resize_image_and_masks
from torchvision.models.resnet import Bottleneck
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool


class TinyResNet(torch.nn.Module):
    """torchvision's ResNet-50 layout (its own Bottleneck blocks, stride in the 3x3, torchvision names and child order)
    with the stem width a parameter instead of 64, so a whole detector fits in a small fixture."""

    def __init__(self, width):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = width
        self.layer1 = self._make_layer(width, 3, 1)
        self.layer2 = self._make_layer(width * 2, 4, 2)
        self.layer3 = self._make_layer(width * 4, 6, 2)
        self.layer4 = self._make_layer(width * 8, 3, 2)

    def _make_layer(self, planes, blocks, stride):
        nn = torch.nn
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def randomize(model, g, predictor_scale):
    """Seeded weights with O(1) activations everywhere (He-scaled convs / linears, BN statistics away from 0/1)."""
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                continue
            r = torch.randn(v.shape, generator=g)
            if k.endswith("running_var"):
                v.copy_(torch.rand(v.shape, generator=g) + 0.5)
            elif k.endswith("running_mean"):
                v.copy_(0.1 * r)
            elif v.dim() > 1:
                fan_in = v[0].numel()
                scale = predictor_scale if "box_predictor" in k else math.sqrt(2.0 / fan_in)
                v.copy_(r * scale)
            elif k.endswith("weight"):
                v.copy_(1 + 0.2 * r)
            else:
                v.copy_(0.1 * r)


def calibrate_bn(model, images):
    """Sets every BatchNorm's running statistics to the batch statistics of `images` (one cumulative pass), so a
    randomly weighted deep network keeps O(1) activations in eval mode, as a trained one does."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        model.eval()
        batch, _ = model.transform(images)
        model.backbone.train()
        feats = model.backbone(batch.tensors)
        model.backbone.eval()
        feats = model.backbone(batch.tensors)
        props, _ = model.rpn(batch, feats)
        model.roi_heads.box_head.train()
        model.roi_heads.box_head(model.roi_heads.box_roi_pool(feats, props, batch.image_sizes))
    for m in bns:
        m.momentum = 0.1
        # A channel that is (nearly) dead on these images would divide rounding noise by sqrt(eps): give every
        # channel a variance floor, as a trained network's statistics over many images have.
        m.running_var.add_(0.1)
    model.eval()


def photo(name, size):
    import cv2
    path = os.path.join(os.path.dirname(__file__), "..", "samples", "photos", name)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    small = bgr if size is None else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    # contiguous CHW, as torchvision's to_tensor / read_image give it: a channels-last view would send
    # interpolate to PyTorch's channels-last bilinear kernel, which rounds differently
    return (torch.from_numpy(small[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255).contiguous()


def faster_rcnn_fixture():
    d = {}
    # resize arithmetic of GeneralizedRCNNTransform (float32 scale, floor), at 800 / 1333 and at a small setting
    rows = []
    for h, w in ((427, 640), (375, 500), (480, 640), (640, 359), (333, 1500), (1000, 1000), (801, 1201), (97, 131), (5, 900)):
        for mn, mx in ((800, 1333), (128, 200), (640, 1333)):
            img, _ = _resize_image_and_masks(torch.zeros(1, h, w), float(mn), float(mx), None, None)
            rows.append([h, w, mn, mx, img.shape[-2], img.shape[-1]])
    d["resize.cases"] = torch.tensor(rows)
    # bilinear resampling itself (align_corners False, no antialias): up, down, mixed and unchanged axes
    gb = torch.Generator().manual_seed(607)
    src = torch.rand(3, 13, 17, generator=gb) * 4 - 2
    d["bilinear.in"] = src
    for i, (h, w) in enumerate(((29, 40), (7, 9), (13, 30), (26, 17), (1, 1))):
        d[f"bilinear.out.{i}"] = torch.nn.functional.interpolate(src[None], size=(h, w), mode="bilinear", align_corners=False)[0]

    g = torch.Generator().manual_seed(606)
    torch.manual_seed(606)
    width, fpn_ch, K = 2, 16, 5
    body = TinyResNet(width)
    backbone = BackboneWithFPN(body, {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [width * 4, width * 8, width * 16, width * 32], fpn_ch,
                               extra_blocks=LastLevelMaxPool(), norm_layer=torch.nn.BatchNorm2d)
    anchor_gen = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    rpn_head = RPNHead(fpn_ch, 3, conv_depth=2)
    box_head = FastRCNNConvFCHead((fpn_ch, 7, 7), [fpn_ch] * 4, [32], norm_layer=torch.nn.BatchNorm2d)
    model = FasterRCNN(backbone, num_classes=None, min_size=128, max_size=200, rpn_anchor_generator=anchor_gen, rpn_head=rpn_head,
                       box_head=box_head, box_predictor=FastRCNNPredictor(32, K))
    randomize(model, g, 0.15)
    images = [photo("dog.jpg", (80, 60)), photo("horses.jpg", (56, 72))]  # (W, H) for cv2: 60x80 and 72x56
    calibrate_bn(model, images)
    with torch.no_grad():
        out = model(images)
        batch, _ = model.transform(images)
    for i, im in enumerate(images):
        d[f"image.{i}"] = im
        d[f"out.boxes.{i}"], d[f"out.scores.{i}"], d[f"out.labels.{i}"] = out[i]["boxes"], out[i]["scores"], out[i]["labels"]
    d["batch.sizes"] = torch.tensor([list(s) for s in batch.image_sizes])
    d["batch.sampled"] = batch.tensors[:, :, ::8, ::8]
    d["batch.shape"] = torch.tensor(batch.tensors.shape)
    for k, v in model.state_dict().items():
        d[f"state.{k}"] = v
    save("faster_rcnn_tiny.pt", d)


def main():
    os.makedirs(OUT, exist_ok=True)
    box_ops_fixture()
    anchors_fixture()
    coder_matcher_sampler_fixture()
    pooler_fixture()
    rpn_fixture()
    roi_heads_fixture()
    faster_rcnn_fixture()


if __name__ == "__main__":
    main()
