using Soco.Data;
using Soco.Modeling;
using Soco.Modeling.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>
/// The mask branch against torchvision 0.14 (tests/fixtures/detection/mask_parts.pt, tools/mask_rcnn_fixtures.py):
/// mask targets, pasting, the target masks' resize in the transform, and RoI heads with the mask head in inference and
/// in training (loss, gradients, BatchNorm statistics).
/// </summary>
[Collection("torch")]
public class MaskRcnnTests(ITestOutputHelper log)
{
    [Fact]
    public void MaskTargetsAreTorchvisionsProjectMasksOnBoxes()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        var t = MaskOps.ProjectMasksOnBoxes(f["project.gt_masks"], f["project.boxes"], f["project.matched"], 28);
        double d = Expect.Close(f["project.targets"], t, 2e-6, "mask targets");
        // Soft targets: the edges of the blobs give values strictly between 0 and 1.
        Assert.True(t.GtScalar(0.01).logical_and(t.LtScalar(0.99)).any().item<bool>());
        log.WriteLine($"7 boxes (inside, across the edges, beyond, 0.9×0.3 px, whole image): max |diff| {d:E2}");
    }

    [Fact]
    public void PastedMasksAreTorchvisionsPasteMasksInImage()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        var pasted = MaskOps.PasteMasksInImage(f["paste.masks"], f["paste.boxes"], (50, 70));
        double d = Expect.Close(f["paste.out"], pasted, 1e-6, "pasted masks");
        log.WriteLine($"6 boxes (fractional, negative, off the image, 0.4×0.2 px, whole image, corner): max |diff| {d:E2}");
    }

    [Fact]
    public void TransformResizesMasksWithTheImage()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        for (int i = 0; i < 4; i++)
        {
            var m = f[$"resize.{i}.in"];
            var args = f[$"resize.{i}.args"].data<long>().ToArray();
            var transform = new DetectionTransform([(int)args[0]], (int)args[1], [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
            var image = zeros(3, m.shape[1], m.shape[2]);
            var (batch, boxes, masks) = transform.Apply([image], [tensor(new float[] { 1, 2, 5, 7 }, [1, 4])], [m], null);
            Expect.SameIndices(f[$"resize.{i}.out"], masks![0], $"case {i} masks");
            Assert.Equal(batch.ImageSizes[0], (masks[0].shape[1], masks[0].shape[2]));
        }
        // A mask of another size than its image is refused, naming the image.
        var t = DetectionTransform.TorchvisionDefault();
        Assert.Contains("image 0", Assert.Throws<ArgumentException>(() => t.Apply([zeros(3, 10, 12)], null, [zeros(1, 10, 11)], null)).Message);
    }

    internal static RoiHeads Build(DetectionFixture f, RoiHeadsOptions? options = null)
    {
        var heads = new RoiHeads(new MultiScaleRoiAlign(), new ConvFcBoxHead(4, 4, 7, 16), new FastRcnnPredictor(16, 5),
            options ?? new RoiHeadsOptions { DetectionsPerImage = 30 }, new MaskRcnnHead(4, 8, 5));
        // torchvision's names → ours (the `soco import` mapping), without the detector's "roi_heads." prefix.
        var state = f.Prefixed("state").ToDictionary(kv => TorchvisionNames.FasterRcnnKey(kv.Key)!["roi_heads.".Length..], kv => kv.Value);
        RpnTests.LoadWeights(heads, state);
        return heads;
    }

    internal static (Tensor[] Features, Tensor[] Proposals, (long, long)[] Sizes) Inputs(DetectionFixture f)
    {
        var feats = Enumerable.Range(0, 4).Select(i => f[$"feat.{i}"]).ToArray();
        var sz = f["image_sizes"].data<long>().ToArray();
        return (feats, [f["proposals.0"], f["proposals.1"]], [(sz[0], sz[1]), (sz[2], sz[3])]);
    }

    [Fact]
    public void InferenceMasksEqualTorchvisions()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        var heads = Build(f);
        heads.eval();
        var (feats, props, sizes) = Inputs(f);
        using var noGrad = no_grad();
        var dets = heads.ForwardInference(feats, props, sizes);
        for (int i = 0; i < 2; i++)
        {
            Expect.SameIndices(f[$"eval.labels.{i}"], dets[i].Labels, $"image {i} labels");
            Expect.Close(f[$"eval.boxes.{i}"], dets[i].Boxes, 1e-3, $"image {i} boxes");
            // The masks are pooled in the detected boxes, which carry float32 decode differences (~3e-5 px) into
            // RoIAlign and through five convolutions: probabilities agree to ~1e-5.
            double dm = Expect.Close(f[$"eval.masks.{i}"], dets[i].Masks!, 1e-4, $"image {i} mask probabilities");
            log.WriteLine($"image {i}: {dets[i].Labels.shape[0]} detections, 28×28 mask probabilities on each label's channel max |diff| {dm:E2}");
        }
    }

    [Fact]
    public void TrainingMaskLossGradientsAndStatisticsEqualTorchvisions()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        var heads = Build(f);
        heads.train();
        var (feats, props, sizes) = Inputs(f);
        Tensor[] gt = [f["gt.0"], f["gt.1"]], labels = [f["gt_labels.0"], f["gt_labels.1"]], masks = [f["gt_masks.0"], f["gt_masks.1"]];
        var samples = heads.SelectTrainingSamples(props, gt, labels, null, [(f["train.pos.0"], f["train.neg.0"]), (f["train.pos.1"], f["train.neg.1"])]);
        var loss = heads.MaskLoss(feats, samples, sizes, masks, labels);
        Expect.Close(f["train.loss_mask"], loss, 1e-5, "mask loss");
        loss.backward();
        var head = heads.MaskHead!;
        var expected = f.Prefixed("grad").ToDictionary(kv => TorchvisionNames.FasterRcnnKey("roi_heads." + kv.Key)!["roi_heads.mask_head.".Length..], kv => kv.Value);
        double worst = Soco.Tests.Modeling.Parity.CheckGrads(log, "mask head gradients", head, expected, 1e-4);
        var own = head.state_dict();
        foreach (var (k, v) in f.Prefixed("after.mask_head"))
            Expect.Close(v, own[TorchvisionNames.FasterRcnnKey("roi_heads.mask_head." + k)!["roi_heads.mask_head.".Length..]], 1e-5, $"BN {k} after one step");
        long positives = samples.Labels.Sum(l => l.GtScalar(0).sum().item<long>());
        log.WriteLine($"{positives} positive RoIs: loss_mask {loss.item<float>():F6} (torchvision {f["train.loss_mask"].item<float>():F6}), worst gradient rel {worst:E2}");

        // The mask loss is part of the detector's losses; no positive RoI gives 0 that still reaches the head.
        var none = heads.MaskLoss(feats, new RoiSamples(samples.Proposals, samples.Labels.Select(l => zeros_like(l)).ToArray(), samples.RegressionTargets, samples.MatchedIdxs),
            sizes, masks, labels);
        Assert.Equal(0f, none.item<float>());
        Assert.True(none.requires_grad);
    }

    [Fact]
    public void ClassAgnosticHeadPredictsOneChannel()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var head = new MaskRcnnHead(4, 8, 5, classAgnostic: true);
        var logits = head.forward(randn(3, 4, 14, 14));
        Assert.Equal(new long[] { 3, 1, 28, 28 }, logits.shape);
        var picked = head.SelectChannel(logits, tensor(new long[] { 4, 1, 2 }));
        Expect.Close(logits.select(1, 0), picked, 0, "class-agnostic channel");
    }
}
