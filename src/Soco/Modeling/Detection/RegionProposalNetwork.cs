using Soco.Data;
using Soco.Ops;
using Soco.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>Settings of the region proposal network (defaults: torchvision 0.14's Faster R-CNN).</summary>
public sealed record RpnOptions
{
    public int PreNmsTopNTrain { get; init; } = 2000;
    public int PreNmsTopNTest { get; init; } = 1000;
    public int PostNmsTopNTrain { get; init; } = 2000;
    public int PostNmsTopNTest { get; init; } = 1000;
    public double NmsThreshold { get; init; } = 0.7;
    public double ScoreThreshold { get; init; } = 0.0;
    public double MinSize { get; init; } = 1e-3;
    public double ForegroundIou { get; init; } = 0.7;
    public double BackgroundIou { get; init; } = 0.3;
    public int BatchSizePerImage { get; init; } = 256;
    public double PositiveFraction { get; init; } = 0.5;
    /// <summary>Smooth-L1 β of the box loss (torchvision 1/9; 0 = L1, Detectron2's default).</summary>
    public double BoxLossBeta { get; init; } = 1.0 / 9;
}

/// <summary>Proposals of one batch, and the RPN losses when training.</summary>
public sealed record RpnOutput(Tensor[] Boxes, Tensor[] Scores, Tensor? ObjectnessLoss, Tensor? BoxLoss);

/// <summary>
/// torchvision 0.14's <c>RegionProposalNetwork</c> (docs/detection-parts.md §RPN): head on every level, predictions
/// flattened (level, y, x, anchor), anchors decoded with weights (1,1,1,1), per level the top-k by logit, sigmoid, per
/// image clip / remove small / score threshold / batched NMS by level / top-k. Training adds anchor matching
/// (0.7 / 0.3, low-quality matches), a balanced sample per image and the losses.
/// </summary>
public sealed class RegionProposalNetwork : nn.Module
{
    readonly RpnHead head;

    public RegionProposalNetwork(AnchorGenerator anchors, RpnHead head, RpnOptions? options = null) : base(nameof(RegionProposalNetwork))
    {
        Anchors = anchors ?? throw new ArgumentNullException(nameof(anchors));
        this.head = head ?? throw new ArgumentNullException(nameof(head));
        if (anchors.NumAnchorsPerLocation.Distinct().Count() != 1 || anchors.NumAnchorsPerLocation[0] != head.NumAnchors)
            throw new ArgumentException($"the RPN head predicts {head.NumAnchors} anchors per location but the anchor generator makes [{string.Join(", ", anchors.NumAnchorsPerLocation)}].");
        Options = options ?? new RpnOptions();
        Coder = BoxCoder.Rpn();
        Matcher = new Matcher(Options.ForegroundIou, Options.BackgroundIou, true);
        Sampler = new BalancedSampler(Options.BatchSizePerImage, Options.PositiveFraction);
        register_module("head", head);
    }

    public AnchorGenerator Anchors { get; }
    public RpnHead Head => head;
    public RpnOptions Options { get; }
    /// <summary>The ranks of a data-parallel training (null: one process); see <see cref="DataParallelLoss"/>.</summary>
    public Soco.Distributed.ProcessGroup? Group { get; set; }
    public BoxCoder Coder { get; }
    public Matcher Matcher { get; }
    public BalancedSampler Sampler { get; }

    int PreNmsTopN => training ? Options.PreNmsTopNTrain : Options.PreNmsTopNTest;
    int PostNmsTopN => training ? Options.PostNmsTopNTrain : Options.PostNmsTopNTest;

    /// <summary>
    /// Proposals for <paramref name="images"/> from the pyramid <paramref name="features"/> (finest first). In training
    /// mode <paramref name="gtBoxes"/> (one K×4 tensor per image, possibly empty) and <paramref name="random"/> (one
    /// generator per image, for the sampler) are required and the losses are returned.
    /// </summary>
    public RpnOutput Forward(ImageList images, IReadOnlyList<Tensor> features, IReadOnlyList<Tensor>? gtBoxes = null, IReadOnlyList<SampleRandom>? random = null)
    {
        if (training && (gtBoxes is null || random is null))
            throw new ArgumentException("RPN training needs the ground-truth boxes and one random generator per image.");
        using var scope = NewDisposeScope();
        var (logits, deltas) = head.forward(features);
        var featureSizes = features.Select(f => (f.shape[2], f.shape[3])).ToArray();
        var anchors = Anchors.ForBatch(images.Count, images.PaddedSize, featureSizes, features[0].dtype, features[0].device);
        var perLevel = logits.Select(o => o.shape[1] * o.shape[2] * o.shape[3]).ToArray();
        var (objectness, boxDeltas) = ConcatPredictions(logits, deltas);
        var proposals = Coder.Decode(boxDeltas.detach(), cat(anchors, 0)).view(images.Count, -1, 4);
        var (boxes, scores) = FilterProposals(proposals, objectness, images.ImageSizes, perLevel);
        Tensor? objLoss = null, boxLoss = null;
        if (training)
        {
            var (labels, matched) = AssignTargets(anchors, gtBoxes!);
            var targets = anchors.Select((a, i) => Coder.Encode(matched[i], a)).ToArray();
            var masks = labels.Select((l, i) => Sampler.Sample(l, random![i])).ToArray();
            (objLoss, boxLoss) = ComputeLoss(objectness, boxDeltas, labels, targets, masks.Select(m => m.Positive).ToArray(), masks.Select(m => m.Negative).ToArray());
            objLoss.MoveToOuterDisposeScope();
            boxLoss.MoveToOuterDisposeScope();
        }
        foreach (var t in boxes) t.MoveToOuterDisposeScope();
        foreach (var t in scores) t.MoveToOuterDisposeScope();
        return new RpnOutput(boxes, scores, objLoss, boxLoss);
    }

    /// <summary>
    /// torchvision's <c>concat_box_prediction_layers</c>: per level N×(A·C)×H×W → N×(H·W·A)×C, levels concatenated,
    /// then flattened over images: objectness (N·ΣHWA)×1, deltas (N·ΣHWA)×4.
    /// </summary>
    public static (Tensor Objectness, Tensor Deltas) ConcatPredictions(IReadOnlyList<Tensor> logits, IReadOnlyList<Tensor> deltas)
    {
        using var scope = NewDisposeScope();
        var cls = new List<Tensor>();
        var reg = new List<Tensor>();
        for (int l = 0; l < logits.Count; l++)
        {
            long n = logits[l].shape[0], h = logits[l].shape[2], w = logits[l].shape[3];
            long a = deltas[l].shape[1] / 4;
            long c = logits[l].shape[1] / a;
            cls.Add(logits[l].view(n, -1, c, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, c));
            reg.Add(deltas[l].view(n, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4));
        }
        var objectness = cat(cls, 1).flatten(0, -2);
        var boxDeltas = cat(reg, 1).reshape(-1, 4);
        return (objectness.MoveToOuterDisposeScope(), boxDeltas.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// torchvision's <c>filter_proposals</c>: <paramref name="proposals"/> N×ΣA×4 decoded boxes, <paramref name="objectness"/>
    /// logits (N·ΣA values), <paramref name="numAnchorsPerLevel"/> the level lengths. Returns per image the kept boxes
    /// and their probabilities, score-descending.
    /// </summary>
    public (Tensor[] Boxes, Tensor[] Scores) FilterProposals(Tensor proposals, Tensor objectness, IReadOnlyList<(long Height, long Width)> imageSizes, IReadOnlyList<long> numAnchorsPerLevel)
    {
        using var scope = NewDisposeScope();
        long n = proposals.shape[0];
        var obj = objectness.detach().reshape(n, -1);
        var device = proposals.device;
        var levelIds = cat(numAnchorsPerLevel.Select((c, l) => ExplicitScalars.Full([c], l, int64, device)).ToList(), 0).reshape(1, -1).expand_as(obj);
        var top = new List<Tensor>();
        long offset = 0;
        foreach (long count in numAnchorsPerLevel)
        {
            var ob = obj.narrow(1, offset, count);
            int k = (int)Math.Min(PreNmsTopN, count);
            top.Add(ob.topk(k, dim: 1).indexes.Add((int)offset));
            offset += count;
        }
        var topIdx = cat(top, 1);
        var topObj = obj.gather(1, topIdx);
        var topLvl = levelIds.gather(1, topIdx);
        var topBoxes = proposals.gather(1, topIdx.unsqueeze(2).expand(-1, -1, 4));
        var prob = topObj.sigmoid();
        var boxesOut = new Tensor[n];
        var scoresOut = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            var b = BoxOps.ClipBoxesToImage(topBoxes[i], imageSizes[i]);
            var s = prob[i];
            var l = topLvl[i];
            var keep = BoxOps.RemoveSmallBoxes(b, Options.MinSize);
            (b, s, l) = (b.index_select(0, keep), s.index_select(0, keep), l.index_select(0, keep));
            keep = s.Ge(Options.ScoreThreshold).WhereTrue();
            (b, s, l) = (b.index_select(0, keep), s.index_select(0, keep), l.index_select(0, keep));
            keep = Nms.Batched(b, s, l, Options.NmsThreshold);
            keep = keep.narrow(0, 0, Math.Min(keep.shape[0], PostNmsTopN));
            boxesOut[i] = b.index_select(0, keep).MoveToOuterDisposeScope();
            scoresOut[i] = s.index_select(0, keep).MoveToOuterDisposeScope();
        }
        return (boxesOut, scoresOut);
    }

    /// <summary>
    /// Anchor labels per image (1 foreground, 0 background, −1 ignored; float32) and the gt box matched to each anchor
    /// (torchvision's <c>assign_targets_to_anchors</c>). An image without gt boxes is all background.
    /// </summary>
    public (Tensor[] Labels, Tensor[] MatchedGt) AssignTargets(IReadOnlyList<Tensor> anchors, IReadOnlyList<Tensor> gtBoxes)
    {
        if (anchors.Count != gtBoxes.Count) throw new ArgumentException($"{anchors.Count} anchor sets for {gtBoxes.Count} ground-truth lists.");
        var labels = new Tensor[anchors.Count];
        var matched = new Tensor[anchors.Count];
        for (int i = 0; i < anchors.Count; i++)
        {
            using var scope = NewDisposeScope();
            var a = anchors[i];
            var gt = gtBoxes[i];
            if (gt.numel() == 0)
            {
                matched[i] = zeros_like(a).MoveToOuterDisposeScope();
                labels[i] = zeros(a.shape[0], dtype: float32, device: a.device).MoveToOuterDisposeScope();
                continue;
            }
            var m = Matcher.Match(BoxOps.BoxIou(gt.to(a.dtype), a));
            matched[i] = gt.to(a.dtype).index_select(0, m.ClampMinInt(0)).MoveToOuterDisposeScope();
            var lab = m.Ge(0).to(float32);
            lab.MaskedFillInPlace(m.EqScalar(Matcher.BelowLowThreshold), 0.0);
            lab.MaskedFillInPlace(m.EqScalar(Matcher.BetweenThresholds), -1.0);
            labels[i] = lab.MoveToOuterDisposeScope();
        }
        return (labels, matched);
    }

    /// <summary>
    /// torchvision's <c>compute_loss</c> over the sampled anchors (masks per image, concatenated in image order):
    /// objectness = BCE-with-logits mean over positives + negatives; box = smooth-L1 (β <see cref="RpnOptions.BoxLossBeta"/>)
    /// summed over positives and divided by the number sampled.
    /// </summary>
    public (Tensor Objectness, Tensor Box) ComputeLoss(Tensor objectness, Tensor boxDeltas, IReadOnlyList<Tensor> labels, IReadOnlyList<Tensor> regressionTargets,
        IReadOnlyList<Tensor> positive, IReadOnlyList<Tensor> negative)
    {
        using var scope = NewDisposeScope();
        var pos = cat(positive.ToList(), 0).WhereTrue().to(boxDeltas.device);
        var neg = cat(negative.ToList(), 0).WhereTrue().to(boxDeltas.device);
        var sampled = cat([pos, neg], 0);
        var obj = objectness.flatten();
        var lab = cat(labels.ToList(), 0);
        var targets = cat(regressionTargets.ToList(), 0);
        double divisor = DataParallelLoss.Divisor(Group, sampled.shape[0]);
        var boxLoss = SmoothL1Sum(boxDeltas.index_select(0, pos), targets.index_select(0, pos), Options.BoxLossBeta).Div(divisor);
        var objLoss = DataParallelLoss.Distributed(Group)
            ? nn.functional.binary_cross_entropy_with_logits(obj.index_select(0, sampled), lab.index_select(0, sampled), reduction: nn.Reduction.Sum).Div(divisor)
            : nn.functional.binary_cross_entropy_with_logits(obj.index_select(0, sampled), lab.index_select(0, sampled));
        return (objLoss.MoveToOuterDisposeScope(), boxLoss.MoveToOuterDisposeScope());
    }

    /// <summary>Σ smooth-L1(β) (β = 0: Σ |x − y|, which LibTorch's smooth_l1 also gives).</summary>
    internal static Tensor SmoothL1Sum(Tensor input, Tensor target, double beta)
        => nn.functional.smooth_l1_loss(input, target, nn.Reduction.Sum, beta);
}
