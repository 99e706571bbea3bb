using Soco.Data;
using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>Settings of the box branch (defaults: torchvision 0.14's Faster R-CNN).</summary>
public sealed record RoiHeadsOptions
{
    public double ForegroundIou { get; init; } = 0.5;
    public double BackgroundIou { get; init; } = 0.5;
    public int BatchSizePerImage { get; init; } = 512;
    public double PositiveFraction { get; init; } = 0.25;
    public double ScoreThreshold { get; init; } = 0.05;
    public double NmsThreshold { get; init; } = 0.5;
    public int DetectionsPerImage { get; init; } = 100;
    /// <summary>Boxes narrower or shorter than this are dropped at inference (torchvision 1e-2).</summary>
    public double MinSize { get; init; } = 1e-2;
    /// <summary>Smooth-L1 β of the box loss (torchvision 1/9; 0 = L1, Detectron2's default).</summary>
    public double BoxLossBeta { get; init; } = 1.0 / 9;
    /// <summary>Training: mask targets thresholded at ≥ 0.5 (the rule of Detectron2's <c>BitMasks.crop_and_resize</c>,
    /// applied to torchvision's unaligned RoIAlign, not Detectron2's aligned one) instead of the soft values (the
    /// default; docs/mask-rcnn-results.md §The labelme overfit).</summary>
    public bool MaskBinaryTargets { get; init; }
}

/// <summary>Detections of one image: boxes K×4 (resized-image pixels), scores K, labels K (int64, 1…, 0 is background)
/// and, from a detector with a mask branch, mask probabilities: K×1×28×28 from the RoI heads, K×1×H×W pasted into the
/// original image by <see cref="FasterRcnn.Detect"/>.</summary>
public sealed record Detections(Tensor Boxes, Tensor Scores, Tensor Labels, Tensor? Masks = null);

/// <summary>The RoIs a training step uses: per image the sampled proposals, their class labels, regression targets
/// and matched gt index (the gt a positive RoI's mask target comes from).</summary>
public sealed record RoiSamples(Tensor[] Proposals, Tensor[] Labels, Tensor[] RegressionTargets, Tensor[]? MatchedIdxs = null);

/// <summary>The RoI heads' training losses; <see cref="Mask"/> is null without a mask branch.</summary>
public sealed record RoiLosses(Tensor Classifier, Tensor Box, Tensor? Mask);

/// <summary>
/// The box branch of Faster R-CNN (torchvision 0.14 <c>RoIHeads</c>; docs/detection-parts.md §ROI heads): proposals →
/// multi-scale RoIAlign → box head (the project's 4conv-1fc <see cref="ConvFcBoxHead"/>, or any module giving K×F) →
/// <see cref="FastRcnnPredictor"/>. Training appends the gt boxes to the proposals, matches (0.5 / 0.5, no low-quality
/// matches), samples 512 per image with 25 % positives and returns the Fast R-CNN losses; inference decodes every
/// class, clips, thresholds, removes tiny boxes and runs NMS per class.
/// <para>With a <see cref="MaskHead"/> (Mask R-CNN, docs/mask-rcnn.md): training pools the positive sampled RoIs at
/// 14×14 (<see cref="MaskPooler"/>) and adds the mask loss against targets cut from each RoI's matched gt mask;
/// inference predicts a 28×28 mask for each final detection, on its label's channel, as probabilities.</para>
/// </summary>
public sealed class RoiHeads : nn.Module
{
    readonly nn.Module<Tensor, Tensor> box_head;
    readonly FastRcnnPredictor box_predictor;
    readonly MaskRcnnHead? mask_head;

    public RoiHeads(MultiScaleRoiAlign pooler, nn.Module<Tensor, Tensor> boxHead, FastRcnnPredictor predictor, RoiHeadsOptions? options = null,
        MaskRcnnHead? maskHead = null, MultiScaleRoiAlign? maskPooler = null) : base(nameof(RoiHeads))
    {
        Pooler = pooler ?? throw new ArgumentNullException(nameof(pooler));
        box_head = boxHead ?? throw new ArgumentNullException(nameof(boxHead));
        box_predictor = predictor ?? throw new ArgumentNullException(nameof(predictor));
        Options = options ?? new RoiHeadsOptions();
        Coder = BoxCoder.Roi();
        Matcher = new Matcher(Options.ForegroundIou, Options.BackgroundIou, false);
        Sampler = new BalancedSampler(Options.BatchSizePerImage, Options.PositiveFraction);
        register_module("box_head", box_head);
        register_module("box_predictor", box_predictor);
        if (maskHead is not null)
        {
            if (maskHead.NumClasses != predictor.NumClasses)
                throw new ArgumentException($"the mask head has {maskHead.NumClasses} classes, the box predictor {predictor.NumClasses}.", nameof(maskHead));
            mask_head = maskHead;
            if (boxHead is Res5BoxHead res5)
            {
                // R-C4 (Detectron2's Res5ROIHeads with MASK_ON): no pooler of its own; the mask head reads the res5
                // features of the box branch (docs/mask-rcnn-c4.md).
                if (maskPooler is not null) throw new ArgumentException("an R-C4 mask head reads the res5 box features; it takes no pooler.", nameof(maskPooler));
                if (maskHead.NumConv != 0) throw new ArgumentException("an R-C4 mask head has no convs (Detectron2's NUM_CONV 0).", nameof(maskHead));
                SharedRes5 = res5;
            }
            else
            {
                // torchvision's mask_roi_pool: MultiScaleRoIAlign(14, sampling ratio 2) on the same levels as the box pooler.
                MaskPooler = maskPooler ?? new MultiScaleRoiAlign(14, 2);
            }
            register_module("mask_head", mask_head);
        }
    }

    public MultiScaleRoiAlign Pooler { get; }
    public nn.Module<Tensor, Tensor> BoxHead => box_head;
    public FastRcnnPredictor Predictor => box_predictor;
    public RoiHeadsOptions Options { get; }
    /// <summary>The ranks of a data-parallel training (null: one process); see <see cref="DataParallelLoss"/>.</summary>
    public Soco.Distributed.ProcessGroup? Group { get; set; }
    public BoxCoder Coder { get; }
    public Matcher Matcher { get; }
    public BalancedSampler Sampler { get; }

    /// <summary>The mask branch (null for Faster R-CNN).</summary>
    public MaskRcnnHead? MaskHead => mask_head;
    /// <summary>The 14×14 pooler of the mask branch (null without one, and for R-C4, whose mask head reads the box
    /// branch's res5 features).</summary>
    public MultiScaleRoiAlign? MaskPooler { get; }
    /// <summary>R-C4 Mask R-CNN: the res5 box head whose features (before the average) the mask head reads.</summary>
    Res5BoxHead? SharedRes5 { get; }

    /// <summary>Side of the predicted masks and their targets: 28 (FPN: 14×14 pooled, doubled) or 14 (R-C4: res5's
    /// 7×7 of the 14×14 pooled RoIs, doubled; Detectron2's C4 masks are 14×14).</summary>
    public int MaskSize => SharedRes5 is not null ? Pooler.OutputSize : MaskPooler is null ? 0 : MaskPooler.OutputSize * 2;

    /// <summary>
    /// Training: losses over a sample of <paramref name="proposals"/> + gt boxes (<paramref name="gtBoxes"/>, labels
    /// <paramref name="gtLabels"/> ≥ 1, one sampler generator per image in <paramref name="random"/>). Returns
    /// (classifier loss, box loss).
    /// </summary>
    public (Tensor Classifier, Tensor Box) ForwardTrain(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> proposals, IReadOnlyList<(long Height, long Width)> imageSizes,
        IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<SampleRandom> random)
    {
        var l = Train(features, proposals, imageSizes, gtBoxes, gtLabels, null, random);
        return (l.Classifier, l.Box);
    }

    /// <summary>
    /// Training losses of the box branch and, with a mask head, the mask branch; <paramref name="gtMasks"/> (one
    /// G×H×W 0/1 tensor per image, at the resized images' size, G = its gt boxes) is required then.
    /// </summary>
    public RoiLosses Train(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> proposals, IReadOnlyList<(long Height, long Width)> imageSizes,
        IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor>? gtMasks, IReadOnlyList<SampleRandom> random)
    {
        if (mask_head is not null && gtMasks is null) throw new ArgumentException("a detector with a mask branch trains on gt masks; none were given.", nameof(gtMasks));
        using var scope = NewDisposeScope();
        var samples = SelectTrainingSamples(proposals, gtBoxes, gtLabels, random);
        Tensor logits, deltas;
        Tensor? lm = null;
        if (SharedRes5 is not null)
        {
            // Detectron2's Res5ROIHeads: res5 runs once on all sampled RoIs; the box predictor reads their average, the
            // mask head the foreground RoIs' 7×7 features (same forward, so the same BatchNorm batch).
            var res5 = SharedRes5.Features(Pooler.Forward(features, samples.Proposals, imageSizes));
            (logits, deltas) = box_predictor.forward(res5.mean([2, 3]));
            lm = MaskLossOn(res5, samples, gtMasks!, gtLabels, fromSampled: true).MoveToOuterDisposeScope();
        }
        else
        {
            (logits, deltas) = Predict(features, samples.Proposals, imageSizes);
            if (mask_head is not null) lm = MaskLoss(features, samples, imageSizes, gtMasks!, gtLabels).MoveToOuterDisposeScope();
        }
        var (lc, lb) = FastRcnnLoss(logits, deltas, samples.Labels, samples.RegressionTargets);
        return new RoiLosses(lc.MoveToOuterDisposeScope(), lb.MoveToOuterDisposeScope(), lm);
    }

    /// <summary>
    /// torchvision's mask branch in training: the positive sampled RoIs of each image (label &gt; 0) pooled at 14×14,
    /// the mask head, and <see cref="MaskOps.Loss"/> on the gt label's channel against
    /// <see cref="MaskOps.ProjectMasksOnBoxes"/> of the matched gt masks (28×28).
    /// </summary>
    public Tensor MaskLoss(IReadOnlyList<Tensor> features, RoiSamples samples, IReadOnlyList<(long Height, long Width)> imageSizes,
        IReadOnlyList<Tensor> gtMasks, IReadOnlyList<Tensor> gtLabels)
    {
        if (mask_head is null) throw new InvalidOperationException("these RoI heads have no mask branch.");
        if (samples.MatchedIdxs is null) throw new ArgumentException("the samples carry no matched gt indices.", nameof(samples));
        using var scope = NewDisposeScope();
        var posBoxes = samples.Proposals.Select((p, i) => p.index_select(0, samples.Labels[i].GtScalar(0).WhereTrue())).ToList();
        return MaskLossOn(MaskFeatures(features, posBoxes, imageSizes), samples, gtMasks, gtLabels, fromSampled: false).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The mask loss given RoI features for the mask head: those of the positive sampled RoIs only (in image order), or,
    /// with <paramref name="fromSampled"/>, of all sampled RoIs (R-C4's res5 features), of which the positives are taken.
    /// </summary>
    Tensor MaskLossOn(Tensor roiFeatures, RoiSamples samples, IReadOnlyList<Tensor> gtMasks, IReadOnlyList<Tensor> gtLabels, bool fromSampled)
    {
        if (samples.MatchedIdxs is null) throw new ArgumentException("the samples carry no matched gt indices.", nameof(samples));
        if (gtMasks.Count != samples.Proposals.Length) throw new ArgumentException($"{gtMasks.Count} mask lists for {samples.Proposals.Length} images.", nameof(gtMasks));
        using var scope = NewDisposeScope();
        var targets = new List<Tensor>();
        var labels = new List<Tensor>();
        var rows = new List<Tensor>();
        long offset = 0;
        for (int i = 0; i < samples.Proposals.Length; i++)
        {
            var pos = samples.Labels[i].GtScalar(0).WhereTrue();
            var matched = samples.MatchedIdxs[i].index_select(0, pos);
            if (pos.shape[0] > 0 && gtMasks[i].shape[0] != gtLabels[i].shape[0])
                throw new ArgumentException($"image {i}: {gtMasks[i].shape[0]} gt masks for {gtLabels[i].shape[0]} gt boxes.", nameof(gtMasks));
            labels.Add(samples.Labels[i].index_select(0, pos));
            var target = MaskOps.ProjectMasksOnBoxes(gtMasks[i], samples.Proposals[i].index_select(0, pos), matched, MaskSize);
            targets.Add(Options.MaskBinaryTargets ? target.Ge(0.5).to(target.dtype) : target);
            rows.Add(pos.Add(checked((int)offset)));
            offset += samples.Proposals[i].shape[0];
        }
        var x = fromSampled ? roiFeatures.index_select(0, cat(rows, 0).to(roiFeatures.device)) : roiFeatures;
        var logits = mask_head!.forward(x);
        var selected = mask_head.SelectChannel(logits, cat(labels, 0));
        var maskTargets = cat(targets, 0);
        if (DataParallelLoss.Distributed(Group))
        {
            // Every rank takes part in the count, with or without positives of its own.
            double divisor = DataParallelLoss.Divisor(Group, maskTargets.numel());
            if (maskTargets.numel() == 0) return logits.sum().Mul(0.0).MoveToOuterDisposeScope();
            return nn.functional.binary_cross_entropy_with_logits(selected, maskTargets.to(selected.dtype), reduction: nn.Reduction.Sum).Div(divisor).MoveToOuterDisposeScope();
        }
        return MaskOps.Loss(logits, selected, maskTargets).MoveToOuterDisposeScope();
    }

    /// <summary>The mask head's input for <paramref name="boxes"/>: the 14×14 mask pooler's output (FPN) or res5's
    /// features of the 14×14 box pooler's output (R-C4); an empty K = 0 batch (no positive RoI, no detection) without
    /// pooling.</summary>
    Tensor MaskFeatures(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> boxes, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        if (boxes.All(b => b.shape[0] == 0))
        {
            long c = SharedRes5 is not null ? SharedRes5.OutChannels : features[0].shape[1];
            int side = MaskSize / 2;
            return zeros(0, c, side, side, dtype: features[0].dtype, device: features[0].device);
        }
        if (SharedRes5 is not null) return SharedRes5.Features(Pooler.Forward(features, boxes, imageSizes));
        return MaskPooler!.Forward(features, boxes, imageSizes);
    }

    /// <summary>Inference: detections per image (resized-image coordinates).</summary>
    public Detections[] ForwardInference(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> proposals, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        using var scope = NewDisposeScope();
        var (logits, deltas) = Predict(features, proposals, imageSizes);
        var dets = Postprocess(logits, deltas, proposals, imageSizes);
        if (mask_head is not null)
        {
            // torchvision's maskrcnn_inference: the final boxes pooled at 14×14, sigmoid of the label's channel
            // (R-C4: Detectron2's forward_with_given_boxes, res5 run again on the final boxes).
            var maskLogits = mask_head.forward(MaskFeatures(features, dets.Select(d => d.Boxes).ToList(), imageSizes));
            var probs = mask_head.SelectChannel(maskLogits, cat(dets.Select(d => d.Labels).ToList(), 0)).sigmoid().unsqueeze(1);
            long offset = 0;
            for (int i = 0; i < dets.Length; i++)
            {
                long n = dets[i].Boxes.shape[0];
                dets[i] = dets[i] with { Masks = probs.narrow(0, offset, n) };
                offset += n;
            }
        }
        foreach (var d in dets)
        {
            d.Boxes.MoveToOuterDisposeScope();
            d.Scores.MoveToOuterDisposeScope();
            d.Labels.MoveToOuterDisposeScope();
            d.Masks?.MoveToOuterDisposeScope();
        }
        return dets;
    }

    /// <summary>Pool, box head, predictor: class logits (ΣK)×C and deltas (ΣK)×4C.</summary>
    public (Tensor ClassLogits, Tensor BoxDeltas) Predict(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> proposals, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        using var scope = NewDisposeScope();
        var pooled = Pooler.Forward(features, proposals, imageSizes);
        var (logits, deltas) = box_predictor.forward(box_head.forward(pooled));
        return (logits.MoveToOuterDisposeScope(), deltas.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// torchvision's <c>assign_targets_to_proposals</c>: per image the matched gt index (clamped to ≥ 0) and the class
    /// label (gt label, 0 below the background threshold, −1 between thresholds). An image without gt is all background.
    /// </summary>
    public (Tensor[] MatchedIdxs, Tensor[] Labels) AssignTargets(IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels)
    {
        if (proposals.Count != gtBoxes.Count || gtBoxes.Count != gtLabels.Count)
            throw new ArgumentException($"{proposals.Count} proposal lists, {gtBoxes.Count} gt box lists and {gtLabels.Count} gt label lists must agree.");
        var matched = new Tensor[proposals.Count];
        var labels = new Tensor[proposals.Count];
        for (int i = 0; i < proposals.Count; i++)
        {
            using var scope = NewDisposeScope();
            var p = proposals[i];
            if (gtBoxes[i].numel() == 0)
            {
                matched[i] = zeros(p.shape[0], dtype: int64, device: p.device).MoveToOuterDisposeScope();
                labels[i] = zeros(p.shape[0], dtype: int64, device: p.device).MoveToOuterDisposeScope();
                continue;
            }
            if (gtLabels[i].shape[0] != gtBoxes[i].shape[0])
                throw new ArgumentException($"image {i}: {gtBoxes[i].shape[0]} gt boxes but {gtLabels[i].shape[0]} labels.");
            var m = Matcher.Match(BoxOps.BoxIou(gtBoxes[i].to(p.dtype), p));
            var clamped = m.ClampMinInt(0);
            var lab = gtLabels[i].to(int64).index_select(0, clamped);
            lab.MaskedFillInPlace(m.EqScalar(Matcher.BelowLowThreshold), 0L);
            lab.MaskedFillInPlace(m.EqScalar(Matcher.BetweenThresholds), -1L);
            matched[i] = clamped.MoveToOuterDisposeScope();
            labels[i] = lab.MoveToOuterDisposeScope();
        }
        return (matched, labels);
    }

    /// <summary>The sampled indices (ascending) given sampler masks: <c>where(pos | neg)</c>.</summary>
    public static Tensor SampledIndices(Tensor positive, Tensor negative) => positive.logical_or(negative).WhereTrue();

    /// <summary>
    /// torchvision's <c>select_training_samples</c>: gt boxes appended to each image's proposals, targets assigned,
    /// a balanced sample drawn (from <paramref name="random"/>, or from the given masks when
    /// <paramref name="masks"/> is set), regression targets encoded with weights (10, 10, 5, 5).
    /// </summary>
    public RoiSamples SelectTrainingSamples(IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels,
        IReadOnlyList<SampleRandom>? random, IReadOnlyList<(Tensor Positive, Tensor Negative)>? masks = null)
    {
        if (random is null && masks is null) throw new ArgumentException("training samples need one random generator per image (or given sample masks).");
        using var scope = NewDisposeScope();
        var dtype = proposals[0].dtype;
        var withGt = proposals.Select((p, i) => cat([p.detach(), gtBoxes[i].to(dtype)], 0)).ToArray();
        var (matched, labels) = AssignTargets(withGt, gtBoxes, gtLabels);
        var outP = new Tensor[proposals.Count];
        var outL = new Tensor[proposals.Count];
        var outT = new Tensor[proposals.Count];
        var outM = new Tensor[proposals.Count];
        for (int i = 0; i < proposals.Count; i++)
        {
            var (pos, neg) = masks is not null ? masks[i] : Sampler.Sample(labels[i], random![i]);
            var idx = SampledIndices(pos, neg).to(withGt[i].device);
            outP[i] = withGt[i].index_select(0, idx);
            outL[i] = labels[i].index_select(0, idx);
            var gt = gtBoxes[i].numel() == 0 ? zeros(1, 4, dtype: dtype, device: withGt[i].device) : gtBoxes[i].to(dtype);
            outM[i] = matched[i].index_select(0, idx);
            outT[i] = Coder.Encode(gt.index_select(0, outM[i]), outP[i]);
        }
        foreach (var t in outP.Concat(outL).Concat(outT).Concat(outM)) t.MoveToOuterDisposeScope();
        return new RoiSamples(outP, outL, outT, outM);
    }

    /// <summary>
    /// torchvision's <c>fastrcnn_loss</c>: cross-entropy mean over the sampled RoIs; smooth-L1 (β
    /// <see cref="RoiHeadsOptions.BoxLossBeta"/>) on the gt class's deltas of the positives, summed and divided by the
    /// number of sampled RoIs.
    /// </summary>
    public (Tensor Classifier, Tensor Box) FastRcnnLoss(Tensor classLogits, Tensor boxDeltas, IReadOnlyList<Tensor> labels, IReadOnlyList<Tensor> regressionTargets)
    {
        using var scope = NewDisposeScope();
        var lab = cat(labels.ToList(), 0);
        var targets = cat(regressionTargets.ToList(), 0);
        double divisor = DataParallelLoss.Divisor(Group, lab.numel());
        var classification = DataParallelLoss.Distributed(Group)
            ? nn.functional.cross_entropy(classLogits, lab, reduction: nn.Reduction.Sum).Div(divisor)
            : nn.functional.cross_entropy(classLogits, lab);
        var pos = lab.GtScalar(0).WhereTrue();
        long n = classLogits.shape[0];
        var reg = boxDeltas.reshape(n, boxDeltas.shape[^1] / 4, 4);
        var posReg = reg.index_select(0, pos).gather(1, lab.index_select(0, pos).view(-1, 1, 1).expand(-1, 1, 4)).squeeze(1);
        var box = RegionProposalNetwork.SmoothL1Sum(posReg, targets.index_select(0, pos), Options.BoxLossBeta).Div(divisor);
        return (classification.MoveToOuterDisposeScope(), box.MoveToOuterDisposeScope());
    }

    /// <summary>torchvision's <c>postprocess_detections</c> (per image; boxes stay in resized-image coordinates).</summary>
    public Detections[] Postprocess(Tensor classLogits, Tensor boxDeltas, IReadOnlyList<Tensor> proposals, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        using var scope = NewDisposeScope();
        long numClasses = classLogits.shape[^1];
        var predBoxes = Coder.Decode(boxDeltas.detach(), cat(proposals.Select(p => p.detach()).ToList(), 0));
        var predScores = nn.functional.softmax(classLogits.detach(), -1);
        var result = new Detections[proposals.Count];
        long offset = 0;
        for (int i = 0; i < proposals.Count; i++)
        {
            long k = proposals[i].shape[0];
            var boxes = BoxOps.ClipBoxesToImage(predBoxes.narrow(0, offset, k), imageSizes[i]);
            var scores = predScores.narrow(0, offset, k);
            offset += k;
            var labels = ExplicitScalars.Arange(numClasses, int64, classLogits.device).view(1, -1).expand_as(scores);
            // Drop the background column, flatten proposal-major, class-minor.
            boxes = boxes.narrow(1, 1, numClasses - 1).reshape(-1, 4);
            scores = scores.narrow(1, 1, numClasses - 1).reshape(-1);
            labels = labels.narrow(1, 1, numClasses - 1).reshape(-1);
            var keep = scores.GtScalar(Options.ScoreThreshold).WhereTrue();
            (boxes, scores, labels) = (boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
            keep = BoxOps.RemoveSmallBoxes(boxes, Options.MinSize);
            (boxes, scores, labels) = (boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
            keep = Nms.Batched(boxes, scores, labels, Options.NmsThreshold);
            keep = keep.narrow(0, 0, Math.Min(keep.shape[0], Options.DetectionsPerImage));
            result[i] = new Detections(boxes.index_select(0, keep).MoveToOuterDisposeScope(), scores.index_select(0, keep).MoveToOuterDisposeScope(),
                labels.index_select(0, keep).MoveToOuterDisposeScope());
        }
        return result;
    }
}
