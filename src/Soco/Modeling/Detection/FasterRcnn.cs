using Soco.Data;
using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>The two detector layouts SoCo fine-tunes: R-FPN (RPN on P2–P6, 4conv-1fc head on P2–P5) and R-C4 (RPN on C4,
/// res5 as the RoI head; docs/detector-c4.md).</summary>
public enum DetectorArch { Fpn, C4 }

/// <summary>Shape of a Faster R-CNN R-FPN or R-C4 detector (defaults: torchvision 0.14's <c>fasterrcnn_resnet50_fpn_v2</c>, COCO's 91 classes).</summary>
public sealed record FasterRcnnConfig
{
    public DetectorArch Arch { get; init; } = DetectorArch.Fpn;
    /// <summary>R-C4 only: SoCo's extra BatchNorm after res5 (<c>Res5ROIHeadsExtraNorm</c>); false = Detectron2's <c>Res5ROIHeads</c>.</summary>
    public bool Res5ExtraNorm { get; init; } = true;
    /// <summary>Classes including background (index 0).</summary>
    public int NumClasses { get; init; } = 91;
    public ResNetConfig Backbone { get; init; } = ResNetConfig.R50;
    /// <summary>FPN width (R-FPN only).</summary>
    public int FpnChannels { get; init; } = 256;
    /// <summary>RPN head convs: 2 as torchvision's v2 models, 1 as Detectron2.</summary>
    public int RpnConvDepth { get; init; } = 2;
    public int BoxHeadConvDim { get; init; } = 256;
    public int BoxHeadFcDim { get; init; } = 1024;
    public int[] MinSizes { get; init; } = [800];
    public int MaxSize { get; init; } = 1333;
    public float[] PixelMean { get; init; } = [0.485f, 0.456f, 0.406f];
    public float[] PixelStd { get; init; } = [0.229f, 0.224f, 0.225f];
    public RpnOptions Rpn { get; init; } = new();
    public RoiHeadsOptions RoiHeads { get; init; } = new();
    /// <summary>Mask R-CNN: a mask branch (<see cref="MaskRcnnHead"/>) beside the box branch (Detectron2's MASK_ON).</summary>
    public bool MaskOn { get; init; }
    /// <summary>Width of the mask head's four convs and its transposed conv (torchvision and Detectron2: 256).</summary>
    public int MaskHeadConvDim { get; init; } = 256;
    /// <summary>One mask per RoI for all classes instead of one per class (Detectron2's CLS_AGNOSTIC_MASK).</summary>
    public bool MaskClassAgnostic { get; init; }
}

/// <summary>
/// Faster R-CNN with a ResNet-FPN backbone, assembled from the parts in this folder as torchvision 0.14's
/// <c>FasterRCNN</c> / <c>GeneralizedRCNN</c> runs them (docs/detection-parts.md §Whole model): transform → ResNet C2–C5
/// → FPN P2–P6 (BN, P6 = max-pool) → RPN on P2–P6 → RoI heads on P2–P5 → boxes mapped back to the original images.
/// Module names: <c>backbone</c> (torchvision ResNet names), <c>fpn</c>, <c>rpn.head</c>, <c>roi_heads.box_head</c>,
/// <c>roi_heads.box_predictor</c>; <see cref="TorchvisionNames.FasterRcnnKey"/> maps torchvision's state-dict keys.
/// <para>With <see cref="DetectorArch.C4"/> (Detectron2's R-C4, docs/detector-c4.md): the backbone stops at C4 (3
/// stages, no <c>fpn</c>), the RPN runs on C4 with 15 anchors per location, and the RoI heads pool 14×14 from C4
/// (aligned RoIAlign, adaptive sampling, scale 1/16) into <see cref="Res5BoxHead"/> (<c>roi_heads.box_head.res5</c>,
/// <c>.norm</c>); with <see cref="FasterRcnnConfig.MaskOn"/> a mask head without convs on those res5 features gives
/// 14×14 masks (Detectron2's R-C4 Mask R-CNN, docs/mask-rcnn-c4.md).</para>
/// </summary>
public sealed class FasterRcnn : nn.Module
{
    readonly ResNet backbone;
    readonly Fpn? fpn;
    readonly RegionProposalNetwork rpn;
    readonly RoiHeads roi_heads;

    public FasterRcnn(FasterRcnnConfig? config = null) : base(nameof(FasterRcnn))
    {
        Config = config ?? new FasterRcnnConfig();
        if (Config.Arch == DetectorArch.C4)
        {
            backbone = new ResNet(Config.Backbone with { Stages = 3 });
            var anchors = AnchorGenerator.C4Default();
            int c4 = Config.Backbone.StageChannels[2];
            rpn = new RegionProposalNetwork(anchors, new RpnHead(c4, anchors.NumAnchorsPerLocation[0], Config.RpnConvDepth), Config.Rpn);
            var res5 = new Res5BoxHead(Config.Backbone, Config.Res5ExtraNorm);
            // Detectron2's R-C4 mask head (ROI_MASK_HEAD defaults: NUM_CONV 0, CONV_DIM 256, no norm) on res5's features.
            var maskHead = Config.MaskOn ? new MaskRcnnHead(res5.OutChannels, Config.MaskHeadConvDim, Config.NumClasses, Config.MaskClassAgnostic, numConv: 0) : null;
            roi_heads = new RoiHeads(new MultiScaleRoiAlign(14, 0, aligned: true), res5, new FastRcnnPredictor(res5.OutChannels, Config.NumClasses), Config.RoiHeads, maskHead);
        }
        else
        {
            backbone = new ResNet(Config.Backbone);
            fpn = new Fpn(backbone.OutChannels, Config.FpnChannels, withP6: true);
            var anchors = AnchorGenerator.FpnDefault();
            rpn = new RegionProposalNetwork(anchors, new RpnHead(Config.FpnChannels, anchors.NumAnchorsPerLocation[0], Config.RpnConvDepth), Config.Rpn);
            var boxHead = new ConvFcBoxHead(Config.FpnChannels, Config.BoxHeadConvDim, 7, Config.BoxHeadFcDim);
            var maskHead = Config.MaskOn ? new MaskRcnnHead(Config.FpnChannels, Config.MaskHeadConvDim, Config.NumClasses, Config.MaskClassAgnostic) : null;
            roi_heads = new RoiHeads(new MultiScaleRoiAlign(7, 2), boxHead, new FastRcnnPredictor(Config.BoxHeadFcDim, Config.NumClasses), Config.RoiHeads, maskHead);
        }
        Transform = new DetectionTransform(Config.MinSizes, Config.MaxSize, Config.PixelMean, Config.PixelStd);
        register_module("backbone", backbone);
        if (fpn is not null) register_module("fpn", fpn);
        register_module("rpn", rpn);
        register_module("roi_heads", roi_heads);
    }

    public FasterRcnnConfig Config { get; }
    public DetectionTransform Transform { get; }

    /// <summary>
    /// The ranks of a data-parallel fine-tuning (null, the default: one process). With several ranks, each calls
    /// <see cref="Losses"/> on its part of the batch and the losses are normalised over the whole batch (counts
    /// all-reduced) and the images padded to the whole batch's size, so the ranks' mean loss and averaged gradients are
    /// the one-process ones (<see cref="DataParallelLoss"/>; build the detector under <c>Norms.Use(SyncBN)</c> for its
    /// BatchNorms).
    /// </summary>
    public Soco.Distributed.ProcessGroup? Group
    {
        get => Transform.Group;
        set { Transform.Group = value; rpn.Group = value; roi_heads.Group = value; }
    }
    public ResNet Backbone => backbone;
    /// <summary>The FPN (R-FPN only; null for R-C4).</summary>
    public Fpn? Fpn => fpn;
    public RegionProposalNetwork Rpn => rpn;
    public RoiHeads RoiHeads => roi_heads;

    /// <summary>
    /// Detections for <paramref name="images"/> (each 3×H×W float RGB in [0, 1]) in original-image pixels; with a mask
    /// branch each detection's mask probabilities pasted into the original image (K×1×H×W). Runs in
    /// whatever mode the module is in; call <c>eval()</c> first for inference (BatchNorm running statistics).
    /// </summary>
    public Detections[] Detect(IReadOnlyList<Tensor> images)
    {
        using var scope = NewDisposeScope();
        var (batch, _) = Transform.Apply(images);
        var result = DetectBatch(batch, images.Select(im => (im.shape[1], im.shape[2])).ToList());
        foreach (var d in result)
        {
            d.Boxes.MoveToOuterDisposeScope();
            d.Scores.MoveToOuterDisposeScope();
            d.Labels.MoveToOuterDisposeScope();
            d.Masks?.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// Detections for an already transformed batch (normalised, resized, padded); boxes are mapped from each image's
    /// resized size to <paramref name="originalSizes"/>.
    /// </summary>
    public Detections[] DetectBatch(Structures.ImageList batch, IReadOnlyList<(long Height, long Width)> originalSizes)
    {
        if (originalSizes.Count != batch.Count) throw new ArgumentException($"{originalSizes.Count} original sizes for a batch of {batch.Count}.", nameof(originalSizes));
        using var scope = NewDisposeScope();
        var (feats, roiFeats) = Features(batch.Tensor);
        var proposals = rpn.Forward(batch, feats).Boxes;
        var dets = roi_heads.ForwardInference(roiFeats, proposals, batch.ImageSizes);
        var result = new Detections[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            var boxes = DetectionTransform.BoxesToOriginal(dets[i].Boxes, batch.ImageSizes[i], originalSizes[i]);
            // torchvision's transform.postprocess: masks pasted with the boxes already mapped to the original image.
            var masks = dets[i].Masks is null ? null : MaskOps.PasteMasksInImage(dets[i].Masks!, boxes, originalSizes[i]).MoveToOuterDisposeScope();
            result[i] = new Detections(boxes.MoveToOuterDisposeScope(), dets[i].Scores.MoveToOuterDisposeScope(), dets[i].Labels.MoveToOuterDisposeScope(), masks);
        }
        return result;
    }

    /// <summary>
    /// Training losses (<c>loss_objectness</c>, <c>loss_rpn_box_reg</c>, <c>loss_classifier</c>, <c>loss_box_reg</c>, and
    /// <c>loss_mask</c> with a mask branch) for images with their gt boxes (original pixels, K×4), labels
    /// (1…NumClasses−1) and, with a mask branch, full-image instance masks (<paramref name="gtMasks"/>: K×H×W, 0/1, the
    /// image's size; they are resized with the image). <paramref name="random"/> holds one generator per image (seeded
    /// by seed, epoch, sample): it picks the short side and the RPN / RoI samples.
    /// </summary>
    public Dictionary<string, Tensor> Losses(IReadOnlyList<Tensor> images, IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<SampleRandom> random,
        IReadOnlyList<Tensor>? gtMasks = null)
    {
        if (Config.MaskOn && gtMasks is null) throw new ArgumentException("a Mask R-CNN trains on gt masks (one K×H×W tensor per image); none were given.", nameof(gtMasks));
        if (gtMasks is not null && gtMasks.Count != images.Count) throw new ArgumentException($"{gtMasks.Count} gt mask lists for {images.Count} images.", nameof(gtMasks));
        if (gtBoxes.Count != images.Count || gtLabels.Count != images.Count || random.Count != images.Count)
            throw new ArgumentException($"{images.Count} images need as many gt box lists ({gtBoxes.Count}), label lists ({gtLabels.Count}) and generators ({random.Count}).");
        for (int i = 0; i < gtLabels.Count; i++)
        {
            if (gtBoxes[i].numel() > 0)
            {
                // torchvision refuses degenerate boxes in training too: they give infinite regression targets.
                var b = gtBoxes[i].detach().to(float64).cpu().reshape(-1, 4).data<double>().ToArray();
                for (int k = 0; k < b.Length / 4; k++)
                    if (!(b[4 * k + 2] > b[4 * k] && b[4 * k + 3] > b[4 * k + 1]))
                        throw new ArgumentException($"image {i}: gt box {k} [{b[4 * k]}, {b[4 * k + 1]}, {b[4 * k + 2]}, {b[4 * k + 3]}] has no positive width and height (or is not finite).");
            }
            if (gtLabels[i].shape[0] != gtBoxes[i].shape[0])
                throw new ArgumentException($"image {i}: {gtBoxes[i].shape[0]} gt boxes but {gtLabels[i].shape[0]} labels.");
            if (gtLabels[i].numel() == 0) continue;
            long lo = gtLabels[i].min().item<long>(), hi = gtLabels[i].max().item<long>();
            if (lo < 1 || hi >= Config.NumClasses)
                throw new ArgumentException($"image {i}: gt label {(lo < 1 ? lo : hi)} is outside 1..{Config.NumClasses - 1} (0 is background).");
        }
        using var scope = NewDisposeScope();
        var (batch, boxes, masks) = Transform.Apply(images, gtBoxes, Config.MaskOn ? gtMasks : null, random.Select(r => r.Fork(1)).ToList());
        var (feats, roiFeats) = Features(batch.Tensor);
        var rpnOut = rpn.Forward(batch, feats, boxes!, random.Select(r => r.Fork(2)).ToList());
        var roi = roi_heads.Train(roiFeats, rpnOut.Boxes.Select(b => b.detach()).ToList(), batch.ImageSizes, boxes!, gtLabels, masks,
            random.Select(r => r.Fork(3)).ToList());
        var losses = new Dictionary<string, Tensor>
        {
            ["loss_objectness"] = rpnOut.ObjectnessLoss!.MoveToOuterDisposeScope(),
            ["loss_rpn_box_reg"] = rpnOut.BoxLoss!.MoveToOuterDisposeScope(),
            ["loss_classifier"] = roi.Classifier.MoveToOuterDisposeScope(),
            ["loss_box_reg"] = roi.Box.MoveToOuterDisposeScope(),
        };
        if (roi.Mask is not null) losses["loss_mask"] = roi.Mask.MoveToOuterDisposeScope();
        return losses;
    }

    /// <summary>The maps the RPN reads (P2–P6, or C4) and those the RoI heads pool from (P2–P5, or C4).</summary>
    (Tensor[] Rpn, List<Tensor> Roi) Features(Tensor images)
    {
        if (fpn is null)
        {
            Tensor[] c4 = [backbone.ForwardToC4(images)];
            return (c4, [c4[0]]);
        }
        var p = fpn.forward(backbone.forward(images));
        return (p, p.Take(4).ToList());
    }

    /// <summary>
    /// Loads a torchvision Faster R-CNN state dict (keys as <c>fasterrcnn_resnet50_fpn_v2().state_dict()</c>). Returns the
    /// torchvision keys that have no place here (mask branch keys, for instance); throws if one of our tensors is
    /// missing from <paramref name="state"/> or a shape differs.
    /// </summary>
    public IReadOnlyList<string> LoadTorchvisionState(IReadOnlyDictionary<string, Tensor> state)
    {
        var own = state_dict();
        var unused = new List<string>();
        var loaded = new HashSet<string>();
        using var noGrad = no_grad();
        foreach (var (key, value) in state)
        {
            var ours = TorchvisionNames.FasterRcnnKey(key);
            if (ours is null || !own.TryGetValue(ours, out var target)) { unused.Add(key); continue; }
            if (!target.shape.SequenceEqual(value.shape))
                throw new ArgumentException($"torchvision tensor {key} has shape [{string.Join(", ", value.shape)}], ours ({ours}) [{string.Join(", ", target.shape)}].");
            target.copy_(value);
            loaded.Add(ours);
        }
        var missing = own.Keys.Where(k => !loaded.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"the state dict lacks {missing.Count} tensors of the detector, e.g. {string.Join(", ", missing.Take(5))}.");
        return unused;
    }
}
