using Soco.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// The two bf16 step savings of docs/bf16.md §2b: the box head's convolutions run once over all (box list, level)
/// chunks of a view (each chunk still its own BatchNorm batch), and each bf16 weight is cast once per forward.
/// </summary>
[Collection("torch")]
public class Bf16BatchingTests(ITestOutputHelper log)
{
    static ConvFcBoxHead Head(ConvPrecision precision, bool channelsLast)
    {
        manual_seed(21);
        var h = new ConvFcBoxHead(inChannels: 8, convDim: 8, resolution: 3, fcDim: 16);
        h.train();
        MixedPrecision.Apply(h, precision, channelsLast);
        return h;
    }

    static Tensor[] Chunks()
    {
        var gen = new Generator(22);
        // Chunks of different sizes and scales: per-chunk BatchNorm statistics differ, so a head that normalised the
        // concatenation as one batch would fail the comparison.
        return [randn([4, 8, 3, 3], generator: gen), randn([6, 8, 3, 3], generator: gen).mul_(3f).add_(1f), randn([2, 8, 3, 3], generator: gen)];
    }

    [Theory]
    [InlineData(ConvPrecision.Bf16, true)]
    [InlineData(ConvPrecision.Bf16, false)]
    [InlineData(ConvPrecision.Fp32, true)]
    public void BatchedChunksAreThePerChunkHead(ConvPrecision precision, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        var perChunk = Head(precision, channelsLast);
        var batched = Head(precision, channelsLast);
        Assert.True(batched.BatchesChunks);
        var xs = Chunks();
        var expected = xs.Select(x => perChunk.forward(x)).ToArray();
        var got = batched.ForwardChunks(xs);
        Assert.Equal(xs.Length, got.Length);
        // bf16: the same products, rounded the same way; only oneDNN's blocking over the batch may differ (float32
        // accumulation order), far below bf16's 2^-9 rounding of each map. fp32 + channels-last: float rounding only.
        double tol = precision == ConvPrecision.Bf16 ? 2e-2 : 1e-5;
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.Equal(expected[i].shape, got[i].shape);
            double rel = Rel(got[i], expected[i]);
            log.WriteLine($"chunk {i}: relative difference {rel:E2}");
            Assert.True(rel <= tol, $"chunk {i} differs by {rel:E2}");
        }
        // Running statistics: each BatchNorm updated once per chunk, in chunk order, as the per-chunk calls do.
        var sa = perChunk.state_dict();
        var sb = batched.state_dict();
        foreach (var k in sa.Keys.Where(k => k.Contains("running_") || k.Contains("num_batches")))
            Assert.True(Rel(sb[k], sa[k]) <= tol, $"{k} differs by {Rel(sb[k], sa[k]):E2}");
        // Gradients reach every weight like the per-chunk calls' (the weight gradient is one sum over all chunks).
        cat(expected.Select(e => e.flatten()).ToArray()).pow(2).sum().backward();
        cat(got.Select(e => e.flatten()).ToArray()).pow(2).sum().backward();
        var ga = perChunk.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, p) in batched.named_parameters())
        {
            double rel = Rel(p.grad!, ga[name]);
            Assert.True(rel <= (precision == ConvPrecision.Bf16 ? 0.35 : 1e-4), $"{name} gradient differs by {rel:E2}");
        }
    }

    [Fact]
    public void PlainFp32KeepsThePerChunkCalls()
    {
        using var scope = NewDisposeScope();
        var h = Head(ConvPrecision.Fp32, channelsLast: false);
        Assert.False(h.BatchesChunks);
        var xs = Chunks();
        var got = h.ForwardChunks(xs);
        var again = Head(ConvPrecision.Fp32, channelsLast: false);
        for (int i = 0; i < xs.Length; i++) Assert.True(got[i].equal(again.forward(xs[i])).all().item<bool>(), $"chunk {i} is not bit-identical");
    }

    [Fact]
    public void ACachedWeightCastIsOneGraphNodeReachingTheMasterWeight()
    {
        using var scope = NewDisposeScope();
        manual_seed(23);
        var conv = new MixedConv2d(4, 6, 3, padding: 1);
        MixedPrecision.Apply(conv, ConvPrecision.Bf16);
        var x1 = randn(2, 4, 5, 5);
        var x2 = randn(3, 4, 5, 5);
        Tensor Loss() => conv.forward(x1).to(float32).pow(2).sum().add(conv.forward(x2).to(float32).sum(), 1.ToScalar());

        Loss().backward();
        var uncached = conv.Weight.grad!.clone();
        conv.Weight.grad!.zero_();
        conv.Bias!.grad!.zero_();
        Tensor cachedOut;
        using (MixedPrecision.CacheWeightCasts())
        {
            // A use under no_grad (the target branch's kind) must not leave a cast without a graph for later uses.
            using (no_grad()) conv.forward(x1);
            cachedOut = conv.forward(x1);
            Loss().backward();
        }
        // The forward values are the same bf16 products; the gradients of the uses are summed in bf16 before the one
        // cast back (autocast's behaviour), so they differ from the per-call casts' float32 sum by bf16 rounding.
        Assert.True(cachedOut.equal(conv.forward(x1)).all().item<bool>());
        double rel = Rel(conv.Weight.grad!, uncached);
        log.WriteLine($"weight gradient, cached vs per-call cast: relative difference {rel:E2}");
        Assert.True(rel <= 1e-2, $"cached-cast weight gradient differs by {rel:E2}");
        Assert.True(conv.Weight.grad!.abs().sum().item<float>() > 0, "no gradient reached the float32 weight");
        Assert.Equal(ScalarType.Float32, conv.Weight.grad!.dtype);
    }

    [Fact]
    public void TheCacheLastsOneForwardAndSeesTheNextStepsWeights()
    {
        using var scope = NewDisposeScope();
        manual_seed(24);
        var conv = new MixedConv2d(4, 6, 3, padding: 1, bias: false);
        MixedPrecision.Apply(conv, ConvPrecision.Bf16);
        var x = randn(2, 4, 5, 5);
        Tensor a, b;
        using (MixedPrecision.CacheWeightCasts()) a = conv.forward(x);
        using (no_grad()) conv.Weight.mul_(2f); // the optimiser step between two forwards
        using (MixedPrecision.CacheWeightCasts()) b = conv.forward(x);
        Assert.True(Rel(b, a.mul(2f)) < 1e-2, "the second forward used the first one's weight copy");
    }

    static double Rel(Tensor a, Tensor b)
    {
        using var d = a.to(float64).sub(b.to(float64));
        return d.norm().item<double>() / Math.Max(b.to(float64).norm().item<double>(), 1e-30);
    }
}
