using System.Text.Json;
using Soco.Data;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static Soco.Tests.Cli.CliRunner;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>
/// The R-C4 Mask R-CNN (Detectron2's Res5ROIHeads with MASK_ON; docs/mask-rcnn-c4.md): the mask head (no convs,
/// transposed conv 2× + per-class 1×1) reads the res5 features of the box branch's foreground RoIs in training and of
/// the final boxes at inference, giving 14×14 masks; the C4 Mask R-CNN preset fine-tunes, saves, detects and evaluates
/// masks through the CLI.
/// </summary>
[Collection("torch")]
public class MaskRcnnC4Tests(ITestOutputHelper log)
{
    static readonly ResNetConfig Tiny = new() { Depth = 18, BaseWidth = 4 };

    [Fact]
    public void MaskHeadReadsTheRes5FeaturesOfTheForegroundRois()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var res5 = new Res5BoxHead(Tiny);
        var head = new MaskRcnnHead(res5.OutChannels, 8, 5, numConv: 0);
        var heads = new RoiHeads(new MultiScaleRoiAlign(14, 0, aligned: true), res5, new FastRcnnPredictor(res5.OutChannels, 5), new RoiHeadsOptions { BatchSizePerImage = 16 }, head);
        Assert.Null(heads.MaskPooler);
        Assert.Equal(14, heads.MaskSize);
        // Only the transposed conv and the predictor (Detectron2's NUM_CONV 0): res5's channels → 8 → 5 classes.
        var names = head.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(["deconv.weight", "deconv.bias", "predictor.weight", "predictor.bias"], names);
        Assert.Equal(new long[] { res5.OutChannels, 8, 2, 2 }, head.named_parameters().First().parameter.shape);

        // One C4 map (stride 16) for two 160×200 images; gt boxes with blob masks; proposals around them.
        var c4 = randn(2, Tiny.StageChannels[2], 10, 13);
        (long, long)[] sizes = [(160, 200), (150, 190)];
        Tensor[] gt = [tensor(new float[] { 20, 30, 120, 140, 100, 10, 190, 90 }, [2, 4]), tensor(new float[] { 40, 40, 150, 130 }, [1, 4])];
        Tensor[] labels = [tensor(new long[] { 2, 4 }), tensor(new long[] { 1 })];
        Tensor[] masks = [zeros(2, 160, 200), zeros(1, 150, 190)];
        masks[0][0].narrow(0, 40, 80).narrow(1, 30, 60).Fill(1);
        masks[0][1].narrow(0, 20, 50).narrow(1, 120, 50).Fill(1);
        masks[1][0].narrow(0, 50, 60).narrow(1, 60, 70).Fill(1);
        Tensor[] proposals = [gt[0].Plus(randn(2, 4).Mul(6.0)).ClampRange(0, 150), gt[1].Plus(randn(1, 4).Mul(6.0)).ClampRange(0, 140)];
        proposals[0] = cat([proposals[0], tensor(new float[] { 0, 0, 30, 30 }, [1, 4])], 0);
        var samples = heads.SelectTrainingSamples(proposals, gt, labels, [SampleRandom.For(0, 0, 1), SampleRandom.For(0, 0, 2)]);

        // In eval mode (BatchNorm on running statistics) the batch does not matter: the mask loss of Train must be the
        // loss of the mask head run on res5 of the positive RoIs alone, against 14×14 targets.
        heads.eval();
        var losses = heads.Train([c4], proposals, sizes, gt, labels, masks, [SampleRandom.For(0, 0, 1), SampleRandom.For(0, 0, 2)]);
        var pos = samples.Labels.Select(l => l.GtScalar(0).WhereTrue()).ToArray();
        var posBoxes = samples.Proposals.Select((p, i) => p.index_select(0, pos[i])).ToList();
        var feats = res5.Features(heads.Pooler.Forward([c4], posBoxes, sizes));
        var logits = head.forward(feats);
        Assert.Equal(14, logits.shape[^1]);
        var posLabels = cat(samples.Labels.Select((l, i) => l.index_select(0, pos[i])).ToList(), 0);
        var targets = cat(Enumerable.Range(0, 2).Select(i => MaskOps.ProjectMasksOnBoxes(masks[i], posBoxes[i], samples.MatchedIdxs![i].index_select(0, pos[i]), 14)).ToList(), 0);
        var expected = nn.functional.binary_cross_entropy_with_logits(head.SelectChannel(logits, posLabels), targets);
        Assert.Equal(expected.item<float>(), losses.Mask!.item<float>(), 6);
        log.WriteLine($"{posLabels.shape[0]} positive RoIs of {samples.Labels.Sum(l => l.shape[0])} sampled: loss_mask {losses.Mask.item<float>():F6}");

        // In training the loss reaches res5 (shared with the box branch) and the mask head.
        heads.train();
        var trained = heads.Train([c4], proposals, sizes, gt, labels, masks, [SampleRandom.For(0, 0, 1), SampleRandom.For(0, 0, 2)]);
        trained.Mask!.backward();
        Assert.True(head.named_parameters().All(p => p.parameter.grad is { } g && g.abs().sum().item<float>() > 0));
        Assert.True(res5.named_parameters().Any(p => p.parameter.grad is { } g && g.abs().sum().item<float>() > 0));

        // Inference: one 14×14 probability map per final detection, on its label's channel.
        heads.eval();
        using var noGrad = no_grad();
        var dets = heads.ForwardInference([c4], proposals, sizes);
        foreach (var d in dets)
        {
            Assert.Equal(new long[] { d.Boxes.shape[0], 1, 14, 14 }, d.Masks!.shape);
            Assert.True(d.Masks.Ge(0.0).all().item<bool>() && d.Masks.Le(1.0).all().item<bool>());
        }
    }

    [Fact]
    public void AFourConvHeadOrAPoolerOnRes5IsRefused()
    {
        using var scope = NewDisposeScope();
        var res5 = new Res5BoxHead(Tiny);
        Assert.Contains("no convs", Assert.Throws<ArgumentException>(() =>
            new RoiHeads(new MultiScaleRoiAlign(14, 0, aligned: true), res5, new FastRcnnPredictor(res5.OutChannels, 3), null, new MaskRcnnHead(res5.OutChannels, 8, 3))).Message);
        Assert.Contains("no pooler", Assert.Throws<ArgumentException>(() =>
            new RoiHeads(new MultiScaleRoiAlign(14, 0, aligned: true), res5, new FastRcnnPredictor(res5.OutChannels, 3), null, new MaskRcnnHead(res5.OutChannels, 8, 3, numConv: 0), new MultiScaleRoiAlign(14, 2))).Message);
        Assert.Contains("not 2", Assert.Throws<ArgumentException>(() => new MaskRcnnHead(8, 8, 3, numConv: 2)).Message);
    }

    [Fact]
    public void TheC4MaskRcnnRecipeIsSoCosR50C4OneX()
    {
        // SoCo's detectron2_configs/R_50_C4_1x.yaml (MASK_ON) on Base-RCNN-C4-BN: the box recipe soco_c4_1x plus the mask
        // head of Detectron2's defaults (CONV_DIM 256); every other key equal.
        var box = FinetuneConfigs.Load("soco_c4_1x");
        var mask = FinetuneConfigs.Load("soco_mask_rcnn_c4_1x");
        Assert.True(mask.MaskOn);
        Assert.Equal(256, mask.MaskHeadConvDim);
        Assert.Equal(box with { Description = "", MaskOn = true, MaskHeadConvDim = 256 }, mask with { Description = "" }, new RecipeComparer());
        using var model = new FasterRcnn(mask.Detector(81, training: true));
        Assert.Equal(new long[] { 2048, 256, 2, 2 }, model.state_dict()["roi_heads.mask_head.deconv.weight"].shape);
        Assert.Equal(new long[] { 81, 256, 1, 1 }, model.state_dict()["roi_heads.mask_head.predictor.weight"].shape);
    }

    [Fact]
    public void TheLvisRecipeIsAMaskRcnnToo()
    {
        // SoCo's LVIS_R_50_FPN_1x.yaml sets MASK_ON with ROI_MASK_HEAD.NORM SyncBN (the FPN mask head): the box recipe
        // soco_fpn_lvis_1x plus the mask head, every other key equal.
        var box = FinetuneConfigs.Load("soco_fpn_lvis_1x");
        var mask = FinetuneConfigs.Load("soco_mask_rcnn_fpn_lvis_1x");
        Assert.Equal(box with { Description = "", MaskOn = true, MaskHeadConvDim = 256 }, mask with { Description = "" }, new RecipeComparer());
    }

    /// <summary>Records with arrays: compare by their JSON.</summary>
    sealed class RecipeComparer : IEqualityComparer<FinetuneConfig>
    {
        public bool Equals(FinetuneConfig? a, FinetuneConfig? b) => JsonSerializer.Serialize(a, FinetuneConfigs.Json) == JsonSerializer.Serialize(b, FinetuneConfigs.Json);
        public int GetHashCode(FinetuneConfig c) => 0;
    }

    [Fact]
    public void C4MaskRcnnFineTunesAndDetectsMasksThroughTheCli()
    {
        using var dir = new TestPaths.TempDir();
        string gt = TestPaths.Fixture("detection", "masks", "labelme_instances.json");
        string images = Path.Combine(TestPaths.Samples, "voc", "JPEGImages");
        string run = dir["ft"];
        Ok("finetune", "--config", "finetune_mask_demo_c4", "--init", "none", "--set", "max_iter=8", "--set", "steps=[6]", "--set", "warmup_iters=2",
            "--set", "min_sizes=[160,192]", "--set", "max_size=300", "--set", "test_size=160", "--set", "checkpoint_period=0",
            "--train", gt, "--train-images", images, "--val", gt, "--val-images", images, "--out", run, "--threads", "1");
        var lines = File.ReadLines(Path.Combine(run, FinetuneRun.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(lines.Take(8).All(l => double.IsFinite(l.GetProperty("loss_mask").GetDouble()) && l.GetProperty("loss_mask").GetDouble() > 0));
        Assert.True(lines[^1].TryGetProperty("val_segm_AP", out _), "the run's evaluation scores masks");
        string model = Path.Combine(run, FinetuneRun.ModelFileName);
        string results = dir["det.json"];
        Ok("detect", "--checkpoint", model, "--image", Path.Combine(images, "2011_000003.jpg"), "--out", results, "--score-threshold", "0", "--max-detections", "10");
        using var doc = JsonDocument.Parse(File.ReadAllText(results));
        var dets = doc.RootElement.EnumerateArray().ToList();
        Assert.NotEmpty(dets);
        foreach (var d in dets)
        {
            var seg = d.GetProperty("segmentation");
            Assert.Equal([338, 500], seg.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()));
            Assert.False(string.IsNullOrEmpty(seg.GetProperty("counts").GetString()));
        }
        log.WriteLine($"{dets.Count} detections with masks; last loss_mask {lines[^1].GetProperty("loss_mask").GetDouble():F4}");
    }
}
