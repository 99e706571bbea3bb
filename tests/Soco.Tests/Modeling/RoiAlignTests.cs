using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

[Collection("torch")]
public class RoiAlignTests(ITestOutputHelper log)
{
    [Fact]
    public void MatchesTorchvisionForwardAndGradient()
    {
        using var f = new TorchFixture("roi_align.pt");
        using var scope = NewDisposeScope();
        double worstOut = 0, worstGrad = 0;
        int cases = 0;
        for (int i = 0; f.Has($"case{i}.params"); i++, cases++)
        {
            var p = f[$"case{i}.params"].data<double>().ToArray();
            bool aligned = p[0] != 0;
            int sr = (int)p[1];
            long oh = (long)p[2], ow = (long)p[3];
            double scale = p[4];
            var rois = f[p[5] != 0 ? "in.rois_uniform" : "in.rois_mixed"];
            var x = f["in.x"].clone().requires_grad_(true);
            var outp = RoiAlign.Apply(x, rois, (oh, ow), scale, sr, aligned);
            string what = $"case {i} (aligned {aligned}, sampling {sr}, out {oh}×{ow}, scale {scale}, {(p[5] != 0 ? "uniform" : "mixed")} batch layout)";
            worstOut = Math.Max(worstOut, Parity.Check(log, what + " forward", outp, f[$"case{i}.out"], 1e-5));
            (outp * f[$"case{i}.w"]).sum().backward();
            worstGrad = Math.Max(worstGrad, Parity.Check(log, what + " gradient", x.grad!, f[$"case{i}.grad"], 1e-5));
        }
        Assert.Equal(14, cases);
        log.WriteLine($"{cases} cases: worst forward rel {worstOut:E2}, worst gradient rel {worstGrad:E2}");

        var empty = RoiAlign.Apply(f["in.x"], zeros(0, 5), 7, aligned: true);
        Assert.Equal(f["empty.out"].shape, empty.shape);
    }

    [Fact]
    public void EmptyBoxListStillBackpropagates()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8).requires_grad_(true);
        var o = RoiAlign.Apply(x, zeros(0, 5), 7, aligned: true);
        Assert.Equal(new long[] { 0, 3, 7, 7 }, o.shape);
        (o.sum() + x.sum() * 0).backward();
        Assert.Equal(0f, x.grad!.abs().sum().item<float>());
    }

    [Theory]
    [InlineData(0, 5, 1, 2, 4, "inverted")]          // x2 < x1
    [InlineData(0, 1, 5, 4, 2, "inverted")]          // y2 < y1
    [InlineData(0, double.NaN, 1, 2, 4, "non-finite")]
    [InlineData(0, 1, 1, double.PositiveInfinity, 4, "non-finite")]
    [InlineData(2, 1, 1, 2, 4, "batch index")]       // only 2 images
    [InlineData(-1, 1, 1, 2, 4, "batch index")]
    [InlineData(0.5, 1, 1, 2, 4, "batch index")]
    [InlineData(0, 1, 1, 1e6, 4, "map sizes")]       // far outside
    [InlineData(0, -1e9, 1, 2, 4, "map sizes")]
    public void RejectsMalformedBoxesWithAClearError(double b, double x1, double y1, double x2, double y2, string message)
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 8, 8);
        var rois = tensor(new[] { 0, 1f, 1, 3, 3, b == 2 ? 1 : 0, 1, 1, 3, 3 }).view(2, 5);
        rois = cat([rois, tensor(new[] { (float)b, (float)x1, (float)y1, (float)x2, (float)y2 }).view(1, 5)], 0);
        var e = Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, rois, 7, aligned: true));
        Assert.Contains(message, e.Message);
        Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, rois.narrow(1, 0, 4), 7));
        Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x[0], rois, 7));
        Assert.Throws<ArgumentException>(() => RoiAlign.Apply(x, rois.narrow(0, 0, 1), 0));
    }

    [Fact]
    public void PoolingPoliciesAgreeWithPlainRoiAlign()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(3);
        // A 64×64 image's pyramid: strides 4, 8, 16, 32.
        Tensor[] feats = [randn(2, 3, 16, 16), randn(2, 3, 8, 8), randn(2, 3, 4, 4), randn(2, 3, 2, 2)];
        var boxes = tensor(new float[] { 0.1f, 0.1f, 0.5f, 0.6f, 1, 0.0f, 0.2f, 0.9f, 0.9f, 2, 0.3f, 0.3f, 0.35f, 0.4f, 3,
                                         0.2f, 0.1f, 0.7f, 0.3f, 1, 0.5f, 0.5f, 0.9f, 0.95f, 2, 0.0f, 0.0f, 0.98f, 0.98f, 3 }).view(2, 3, 5);
        var every = RoiPooling.PoolEveryLevel(feats, boxes, 7, aligned: true);
        Assert.Equal(4, every.Length);
        for (int lv = 0; lv < 4; lv++)
        {
            long hw = feats[lv].shape[2];
            var rois = RoiPooling.NormalizedBoxesToRois(boxes, hw, hw);
            Assert.Equal(0f, (RoiAlign.Apply(feats[lv], rois, 7, 1.0, -1, true) - every[lv]).abs().max().item<float>());
        }
        // Assigned: box k on level levels[k] must equal row k of that level's every-level pooling.
        long[] levels = [0, 3, 1, 2, 0, 3];
        long[] batch = [0, 0, 0, 1, 1, 1];
        var assigned = RoiPooling.PoolNormalizedAssigned(feats, boxes.reshape(6, 5), batch, levels, 7, aligned: true);
        for (int k = 0; k < 6; k++)
            Assert.Equal(0f, (assigned[k] - every[levels[k]][k]).abs().max().item<float>());
        // Detector-style in image pixels (64×64 image), with torchvision's level rule.
        var imgRois = RoiPooling.NormalizedBoxesToRois(boxes, 64, 64);
        var det = RoiPooling.DetectorLevels(imgRois, 2, 5);
        var pooled = RoiPooling.PoolAssigned(feats, imgRois, [1 / 4.0, 1 / 8.0, 1 / 16.0, 1 / 32.0], det, 7, aligned: true);
        for (int k = 0; k < 6; k++)
            Assert.True((pooled[k] - every[det[k]][k]).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void DetectorLevelsFollowTorchvisionsLevelMapper()
    {
        TorchRuntime.SetThreads(1);
        // sqrt(area): 56 → floor(4 + log2(0.25)) = 2; 224 → 4; 448 → 5; 1000 → clamp 5; 10 → clamp 2; 112 → 3
        var rois = tensor(new float[] { 0, 0, 0, 56, 56, 0, 0, 0, 224, 224, 0, 0, 0, 448, 448, 0, 0, 0, 1000, 1000, 0, 0, 0, 10, 10, 0, 0, 0, 112, 112 }).view(6, 5);
        Assert.Equal([0L, 2, 3, 3, 0, 1], RoiPooling.DetectorLevels(rois, 2, 5));
    }
}
