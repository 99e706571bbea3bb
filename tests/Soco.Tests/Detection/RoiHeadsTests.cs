using Soco.Data;
using Soco.Modeling;
using Soco.Ops;
using Soco.Modeling.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>The box branch (pooler, 4conv-1fc head, predictor, sampling, losses, inference) against torchvision 0.14's RoIHeads (tests/fixtures/detection/roi_heads.pt).</summary>
[Collection("torch")]
public class RoiHeadsTests(ITestOutputHelper log)
{
    static RoiHeads Build(DetectionFixture f)
    {
        var head = new ConvFcBoxHead(4, 4, 7, 16);
        var state = f.Prefixed("box_head").ToDictionary(kv => TorchvisionNames.ConvFcBoxHeadKey(kv.Key) ?? throw new InvalidOperationException(kv.Key), kv => kv.Value);
        RpnTests.LoadWeights(head, state);
        var pred = new FastRcnnPredictor(16, 5);
        RpnTests.LoadWeights(pred, f.Prefixed("box_predictor"));
        return new RoiHeads(new MultiScaleRoiAlign(), head, pred, new RoiHeadsOptions { DetectionsPerImage = 30 });
    }

    static (Tensor[] Features, Tensor[] Proposals, (long, long)[] Sizes, Tensor[] Gt, Tensor[] GtLabels) Inputs(DetectionFixture f)
    {
        var feats = Enumerable.Range(0, 4).Select(i => f[$"feat.{i}"]).ToArray();
        var sz = f["image_sizes"].data<long>().ToArray();
        return (feats, [f["proposals.0"], f["proposals.1"]], [(sz[0], sz[1]), (sz[2], sz[3])], [f["gt.0"], f["gt.1"]], [f["gt_labels.0"], f["gt_labels.1"]]);
    }

    [Fact]
    public void InferenceDetectionsEqualTorchvisions()
    {
        using var f = new DetectionFixture("roi_heads.pt");
        using var scope = NewDisposeScope();
        var heads = Build(f);
        heads.eval();
        var (feats, props, sizes, _, _) = Inputs(f);
        var (logits, deltas) = heads.Predict(feats, props, sizes);
        double el = Expect.Close(f["eval.logits"], logits, 1e-4, "class logits");
        Expect.Close(f["eval.deltas"], deltas, 1e-4, "box deltas");
        var dets = heads.ForwardInference(feats, props, sizes);
        for (int i = 0; i < 2; i++)
        {
            Expect.SameIndices(f[$"eval.labels.{i}"], dets[i].Labels, $"image {i} labels");
            double eb = Expect.Close(f[$"eval.boxes.{i}"], dets[i].Boxes, 1e-3, $"image {i} boxes");
            double es = Expect.Close(f[$"eval.scores.{i}"], dets[i].Scores, 1e-5, $"image {i} scores");
            log.WriteLine($"image {i}: {dets[i].Boxes.shape[0]} detections (cap 30), same labels and order; boxes max |diff| {eb:E2} px, scores {es:E2}; logits {el:E2}");
        }
    }

    [Fact]
    public void TrainingTargetsLossesAndGradientsEqualTorchvisions()
    {
        using var f = new DetectionFixture("roi_heads.pt");
        using var scope = NewDisposeScope();
        var heads = Build(f);
        heads.train();
        var (feats, props, sizes, gt, gtLabels) = Inputs(f);
        var withGt = props.Select((p, i) => cat([p, gt[i]], 0)).ToArray();
        var (matched, labels) = heads.AssignTargets(withGt, gt, gtLabels);
        for (int i = 0; i < 2; i++)
        {
            Expect.SameIndices(f[$"train.all_labels.{i}"], labels[i], $"image {i} labels of proposals + gt");
            Expect.SameIndices(f[$"train.all_matched.{i}"], matched[i], $"image {i} matched gt");
        }
        var samples = heads.SelectTrainingSamples(props, gt, gtLabels, null, [(f["train.pos.0"], f["train.neg.0"]), (f["train.pos.1"], f["train.neg.1"])]);
        for (int i = 0; i < 2; i++)
        {
            Expect.Close(f[$"train.sampled.{i}"], samples.Proposals[i], 0, $"image {i} sampled RoIs (gt appended, ascending order)");
            Expect.SameIndices(f[$"train.labels.{i}"], samples.Labels[i], $"image {i} sampled labels");
            Expect.Close(f[$"train.targets.{i}"], samples.RegressionTargets[i], 1e-5, $"image {i} regression targets");
        }
        var (logits, deltas) = heads.Predict(feats, samples.Proposals, sizes);
        Expect.Close(f["train.logits"], logits, 1e-4, "class logits with batch statistics");
        var (lc, lb) = heads.FastRcnnLoss(logits, deltas, samples.Labels, samples.RegressionTargets);
        Expect.Close(f["train.loss_classifier"], lc, 1e-5, "classifier loss");
        Expect.Close(f["train.loss_box_reg"], lb, 1e-5, "box loss");
        lc.Plus(lb).backward();
        var head = (ConvFcBoxHead)heads.BoxHead;
        var expected = f.Prefixed("grad.box_head").ToDictionary(kv => TorchvisionNames.ConvFcBoxHeadKey(kv.Key)!, kv => kv.Value);
        double worst = Soco.Tests.Modeling.Parity.CheckGrads(log, "box head gradients", head, expected, 1e-4);
        worst = Math.Max(worst, Soco.Tests.Modeling.Parity.CheckGrads(log, "predictor gradients", heads.Predictor, f.Prefixed("grad.box_predictor"), 1e-4));
        var after = f.Prefixed("after.box_head");
        var ownState = head.state_dict();
        foreach (var (k, v) in after) Expect.Close(v, ownState[TorchvisionNames.ConvFcBoxHeadKey(k)!], 1e-5, $"BN {k} after one step");
        log.WriteLine($"losses {lc.item<float>():F6} / {lb.item<float>():F6}, worst gradient rel {worst:E2}");
    }

    [Fact]
    public void OwnSampleGivesBalancedRoisAndTrainableLosses()
    {
        using var f = new DetectionFixture("roi_heads.pt");
        using var scope = NewDisposeScope();
        var heads = Build(f);
        heads.train();
        var (feats, props, sizes, gt, gtLabels) = Inputs(f);
        var rnd = new[] { SampleRandom.For(11, 0, 0), SampleRandom.For(11, 0, 1) };
        var samples = heads.SelectTrainingSamples(props, gt, gtLabels, rnd);
        for (int i = 0; i < 2; i++)
        {
            // Fewer candidates than 512: everything not ignored is taken, positives capped at 128.
            long expected = f[$"train.all_labels.{i}"].Ge(0.0).sum().item<long>();
            Assert.Equal(expected, samples.Labels[i].shape[0]);
            Assert.True(samples.Labels[i].Ge(0.0).all().item<bool>());
        }
        var (lc, lb) = heads.ForwardTrain(feats, props, sizes, gt, gtLabels, [SampleRandom.For(11, 0, 0), SampleRandom.For(11, 0, 1)]);
        Assert.True(lc.isfinite().item<bool>() && lb.isfinite().item<bool>());
        // An image without gt: every RoI is background, the box loss is 0 for it.
        var (_, labels) = heads.AssignTargets([props[0]], [zeros(0, 4)], [zeros(0, dtype: int64)]);
        Assert.Equal(0L, labels[0].abs().sum().item<long>());
        // A mask branch trains only on gt masks.
        var withMask = new RoiHeads(new MultiScaleRoiAlign(), new ConvFcBoxHead(4, 4, 7, 16), new FastRcnnPredictor(16, 5), maskHead: new MaskRcnnHead(4, 4, 5));
        Assert.Throws<ArgumentException>(() => withMask.ForwardTrain(feats, props, sizes, gt, gtLabels, [SampleRandom.For(11, 0, 0), SampleRandom.For(11, 0, 1)]));
    }
}
