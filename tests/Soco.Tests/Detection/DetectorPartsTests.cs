using Soco.Data;
using Soco.Modeling;
using Soco.Ops;
using Soco.Modeling.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>Anchor generator, box coder, matcher, sampler and the multi-scale pooler against torchvision 0.14.</summary>
[Collection("torch")]
public class DetectorPartsTests(ITestOutputHelper log)
{
    [Fact]
    public void AnchorsAreTorchvisionsForGivenFeatureSizes()
    {
        using var f = new DetectionFixture("anchors.pt");
        using var scope = NewDisposeScope();
        var gen = AnchorGenerator.FpnDefault();
        Assert.Equal(new[] { 3, 3, 3, 3, 3 }, gen.NumAnchorsPerLocation);
        for (int l = 0; l < 5; l++) Expect.Close(f[$"cell.{l}"], gen.CellAnchors(l), 0, $"base anchors P{l + 2}");
        // P2 base anchors, rounded half to even (torch.round), as docs/detection-parts.md lists them.
        Assert.Equal(new float[] { -23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23 }, gen.CellAnchors(0).data<float>().ToArray());

        (long, long)[] sizes = [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)];
        var batch = gen.ForBatch(2, (96, 128), sizes, float32, CPU);
        Expect.Close(f["small.anchors"], batch[0], 0, "anchors, 96×128 batch");
        Expect.Close(f["small.anchors"], batch[1], 0, "anchors, second image");
        Assert.Equal((48L, 64L), AnchorGenerator.Strides((96, 128), sizes)[4]);

        var p6 = new AnchorGenerator([[512]], [[0.5, 1, 2]]);
        Expect.Close(f["p6.anchors"], p6.GridAnchors((800, 1216), [(13, 19)], float32, CPU)[0], 0, "P6 of an 800×1216 batch (stride 61×64)");
        Assert.Equal((61L, 64L), AnchorGenerator.Strides((800, 1216), [(13, 19)])[0]);

        var multi = new AnchorGenerator([[16, 40]], [[0.25, 1, 3]]);
        Expect.Close(f["multi.cell"], multi.CellAnchors(0), 0, "two sizes × three ratios");
        Expect.Close(f["multi.anchors"], multi.GridAnchors((40, 56), [(5, 7)], float32, CPU)[0], 0, "two sizes × three ratios on a grid");

        Assert.Throws<ArgumentException>(() => gen.GridAnchors((96, 128), sizes.Take(4).ToList(), float32, CPU));
        Assert.Throws<ArgumentException>(() => new AnchorGenerator([[32]], [[0.5], [1]]));
        Assert.Throws<ArgumentException>(() => new AnchorGenerator([[-32]], [[1]]));
    }

    [Theory]
    [InlineData("rpn")]
    [InlineData("roi")]
    public void BoxCoderEncodesAndDecodesAsTorchvision(string which)
    {
        using var f = new DetectionFixture("parts.pt");
        using var scope = NewDisposeScope();
        var coder = which == "rpn" ? BoxCoder.Rpn() : BoxCoder.Roi();
        var props = f["coder.proposals"];
        var gt = f["coder.gt"];
        double e1 = Expect.Close(f[$"coder.{which}.encoded"], coder.Encode(gt, props), 1e-6, "encode");
        double e2 = Expect.Close(f[$"coder.{which}.decoded"], coder.Decode(f[$"coder.{which}.codes"], props), 1e-3, "decode (per-class codes, clamped exp)");
        var round = coder.Decode(coder.Encode(gt, props), props).squeeze(1);
        double e3 = Expect.Close(f[$"coder.{which}.roundtrip"], round, 1e-4, "round trip");
        Expect.Close(gt, round, 1e-3, "round trip gives the boxes back");
        log.WriteLine($"{which}: encode max |diff| {e1:E2}, decode {e2:E2}, round trip {e3:E2}");
        // The exp clamp: a huge dw decodes to exp(log(1000/16))·w, not infinity.
        Assert.True(coder.Decode(f[$"coder.{which}.codes"], props).isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData("rpn", 0.7, 0.3, true)]
    [InlineData("roi", 0.5, 0.5, false)]
    [InlineData("mid", 0.6, 0.2, true)]
    public void MatcherLabelsEveryPredictionAsTorchvision(string which, double high, double low, bool lowQuality)
    {
        using var f = new DetectionFixture("parts.pt");
        using var scope = NewDisposeScope();
        var m = new Matcher(high, low, lowQuality);
        Expect.SameIndices(f[$"matcher.{which}"], m.Match(f["matcher.quality"]), $"matcher {which}");
        if (which == "rpn")
        {
            // A gt that overlaps nothing has best IoU 0, so every prediction ties with it and gets its own best gt back.
            Expect.SameIndices(f["matcher.far.rpn"], m.Match(f["matcher.far.quality"]), "matcher with an isolated gt");
            Assert.Contains("ground-truth", Assert.Throws<ArgumentException>(() => m.Match(zeros(0, 5))).Message);
            Assert.Equal(0, m.Match(zeros(3, 0)).shape[0]);
        }
    }

    [Fact]
    public void SamplerTakesTorchvisionsCountsFromTheRightCandidatesWithASeededGenerator()
    {
        using var f = new DetectionFixture("parts.pt");
        using var scope = NewDisposeScope();
        var rows = f["sampler.counts"];
        for (long r = 0; r < rows.shape[0]; r++)
        {
            var v = rows[r].data<double>().ToArray();
            int bs = (int)v[0], npos = (int)v[2], nneg = (int)v[3], nign = (int)v[4];
            var sampler = new BalancedSampler(bs, v[1]);
            // Labels in a random order: positives ≥ 1 (several gt indices), negatives 0, ignored −1 / −2.
            var order = SampleRandom.FromSeed((ulong)r).Sample(npos + nneg + nign, npos + nneg + nign);
            var lab = new float[order.Length];
            for (int i = 0; i < order.Length; i++) lab[order[i]] = i < npos ? 1 + i % 3 : i < npos + nneg ? 0 : -1 - i % 2;
            var labels = tensor(lab);
            var (pos, neg) = sampler.Sample(labels, SampleRandom.For(7, 0, r));
            Assert.Equal((int)v[5], pos.sum().item<long>());
            Assert.Equal((int)v[6], neg.sum().item<long>());
            Assert.Equal(((int)v[5], (int)v[6]), sampler.Counts(npos, nneg));
            Assert.True(labels.masked_select(pos).Ge(1.0).all().item<bool>(), "a sampled positive is not a positive");
            Assert.True(labels.masked_select(neg).EqScalar(0).all().item<bool>(), "a sampled negative is not a negative");
            // Same (seed, epoch, sample) → same examples.
            var (pos2, neg2) = sampler.Sample(labels, SampleRandom.For(7, 0, r));
            Assert.True(pos.eq(pos2).all().item<bool>() && neg.eq(neg2).all().item<bool>());
        }
        // A proper subset depends on the seed, and over many seeds every candidate gets picked.
        var s = new BalancedSampler(256, 0.5);
        var many = tensor(Enumerable.Range(0, 1300).Select(i => i < 300 ? 1f : 0f).ToArray());
        var a = s.Sample(many, SampleRandom.For(1, 0, 0)).Positive;
        var b = s.Sample(many, SampleRandom.For(1, 1, 0)).Positive;
        Assert.False(a.eq(b).all().item<bool>(), "different epochs drew the same positives");
        var hits = zeros(1300);
        for (int e = 0; e < 60; e++)
        {
            var (p, n) = s.Sample(many, SampleRandom.For(1, e, 0));
            hits.PlusInPlace(p.to(float32).Plus(n.to(float32)));
        }
        Assert.True(hits.narrow(0, 0, 300).GtScalar(0).all().item<bool>(), "some positive was never sampled in 60 draws");
        log.WriteLine($"positives picked per candidate over 60 draws: min {hits.narrow(0, 0, 300).min().item<float>()}, max {hits.narrow(0, 0, 300).max().item<float>()} (expected 25.6)");
    }

    [Fact]
    public void PoolerAssignsLevelsAndPoolsAsTorchvisionsMultiScaleRoIAlign()
    {
        using var f = new DetectionFixture("pooler.pt");
        using var scope = NewDisposeScope();
        var feats = Enumerable.Range(0, 4).Select(i => f[$"feat.{i}"]).ToList();
        var boxes = new[] { f["boxes.0"], f["boxes.1"] };
        var sz = f["image_sizes"].data<long>().ToArray();
        (long, long)[] sizes = [(sz[0], sz[1]), (sz[2], sz[3])];
        var scales = MultiScaleRoiAlign.Scales(feats, 480);
        Assert.Equal(f["scales"].data<double>().ToArray(), scales);
        var pooler = new MultiScaleRoiAlign();
        var levels = pooler.Levels(cat(boxes, 0), 2, 5);
        Expect.SameIndices(f["levels"], levels, "level of each box");
        var counts = levels.bincount(null, 0).data<long>().ToArray();
        Assert.Equal(4, counts.Length);
        Assert.All(counts, c => Assert.True(c > 0));
        var outp = pooler.Forward(feats, boxes, sizes);
        double err = Expect.Close(f["out"], outp, 2e-5, "pooled features");
        log.WriteLine($"pooler: {outp.shape[0]} boxes, per level {string.Join("/", counts)}, max |diff| {err:E2}");
    }
}
