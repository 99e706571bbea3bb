using Soco.Data;
using Soco.Distributed;
using Soco.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Tests.Distributed;

/// <summary>
/// SyncBN as PyTorch's <c>nn.SyncBatchNorm</c> defines it: with the batch split over ranks, the forward, the input
/// gradients, the summed affine gradients and the running statistics equal a single BatchNorm (LibTorch's own kernel,
/// TorchSharp's BatchNorm2d/1d) over the concatenated batch. Ranks are threads here (<see cref="ThreadGroup"/>); the
/// MPI runs of <see cref="PretrainEquivalenceTests"/> use the same code over real processes.
/// </summary>
public class SyncBatchNormTests
{
    static (Tensor X, Tensor R, Tensor W, Tensor B) Inputs(long n, long c, params long[] spatial)
    {
        var g = new Generator(7);
        return (randn([n, c, .. spatial], generator: g).mul_(3.0).add_(1.5), randn([n, c, .. spatial], generator: g), rand([c], generator: g).add_(0.5), randn([c], generator: g));
    }

    /// <summary>Reference: one BatchNorm over the whole batch; loss Σ y·R.</summary>
    static (float[] Y, float[] Dx, float[] Dw, float[] Db, float[] Mean, float[] Var) Reference(Tensor x, Tensor r, Tensor w, Tensor b)
    {
        using var scope = NewDisposeScope();
        BatchNorm bn = x.ndim == 2 ? nn.BatchNorm1d(x.shape[1]) : nn.BatchNorm2d(x.shape[1]);
        using (no_grad()) { bn.weight.copy_(w); bn.bias!.copy_(b); }
        bn.train();
        var xi = x.clone().requires_grad_(true);
        var y = bn.forward(xi);
        y.mul(r).sum().backward();
        return (F(y), F(xi.grad!), F(bn.weight.grad!), F(bn.bias!.grad!), F(bn.running_mean!), F(bn.running_var!));
    }

    static float[] F(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * scale, $"{what}[{i}]: expected {expected[i]}, got {actual[i]} (tolerance {tol * scale})");
    }

    /// <summary>Each rank's part of the batch through its own SyncBatchNorm; the parts' outputs and input gradients
    /// concatenated, the affine gradients summed over ranks (what the data-parallel average makes of them, times the world size).</summary>
    static void CheckSplit(Tensor x, Tensor r, Tensor w, Tensor b, long[] sizes)
    {
        var refr = Reference(x, r, w, b);
        long[] starts = new long[sizes.Length];
        for (int i = 1; i < sizes.Length; i++) starts[i] = starts[i - 1] + sizes[i - 1];
        var parts = ThreadGroup.Run(sizes.Length, g =>
        {
            torch.set_num_threads(1);
            using var scope = NewDisposeScope();
            var bn = new SyncBatchNorm(x.shape[1], g);
            using (no_grad()) { bn.weight.copy_(w); bn.bias!.copy_(b); }
            bn.train();
            var xi = x.narrow(0, starts[g.Rank], sizes[g.Rank]).clone().requires_grad_(true);
            var y = bn.forward(xi);
            y.mul(r.narrow(0, starts[g.Rank], sizes[g.Rank])).sum().backward();
            return (Y: F(y), Dx: F(xi.grad!), Dw: F(bn.weight.grad!), Db: F(bn.bias!.grad!), Mean: F(bn.running_mean!), Var: F(bn.running_var!),
                Tracked: bn.num_batches_tracked!.item<long>());
        });
        Close(refr.Y, parts.SelectMany(p => p.Y).ToArray(), 2e-6, "output");
        Close(refr.Dx, parts.SelectMany(p => p.Dx).ToArray(), 2e-5, "input gradient");
        var dw = new float[refr.Dw.Length];
        var db = new float[refr.Db.Length];
        foreach (var p in parts)
            for (int i = 0; i < dw.Length; i++) { dw[i] += p.Dw[i]; db[i] += p.Db[i]; }
        Close(refr.Dw, dw, 2e-5, "weight gradient");
        Close(refr.Db, db, 2e-5, "bias gradient");
        foreach (var p in parts)
        {
            Close(refr.Mean, p.Mean, 1e-6, "running_mean");
            Close(refr.Var, p.Var, 1e-6, "running_var");
            Assert.Equal(1, p.Tracked);
        }
    }

    [Fact]
    public void TwoRanksEqualOneBatchNormOverTheConcatenatedBatch()
    {
        var (x, r, w, b) = Inputs(8, 5, 6, 7);
        CheckSplit(x, r, w, b, [4, 4]);
    }

    [Fact]
    public void UnequalPartsAndThreeRanksWeightEachValueOnce()
    {
        var (x, r, w, b) = Inputs(9, 3, 4, 5);
        CheckSplit(x, r, w, b, [2, 3, 4]);
        CheckSplit(x, r, w, b, [1, 8]);
    }

    [Fact]
    public void TwoDimensionalInputIsBatchNorm1d()
    {
        var (x, r, w, b) = Inputs(12, 6);
        CheckSplit(x, r, w, b, [5, 7]);
    }

    [Fact]
    public void OneProcessAndEvalModeAreBatchNormBitForBit()
    {
        var (x, _, w, b) = Inputs(4, 3, 5, 5);
        var bn = nn.BatchNorm2d(3);
        var sync = new SyncBatchNorm(3, new SingleProcessGroup());
        foreach (var m in new BatchNorm[] { bn, sync })
            using (no_grad()) { m.weight.copy_(w); m.bias!.copy_(b); }
        Assert.Equal(F(bn.forward(x)), F(sync.forward(x)));
        Assert.Equal(F(bn.running_var!), F(sync.running_var!));
        bn.eval();
        sync.eval();
        Assert.Equal(F(bn.forward(x)), F(sync.forward(x)));
        // In eval mode a distributed SyncBN uses the running statistics, no collective (a thread group would block).
        var evalOut = ThreadGroup.Run(2, g =>
        {
            var s = new SyncBatchNorm(3, g);
            s.load_state_dict(bn.state_dict());
            s.eval();
            return F(s.forward(x));
        });
        Assert.Equal(F(bn.forward(x)), evalOut[0]);
    }

    [Fact]
    public void TheNormFactoryKeepsBatchNormByDefaultAndTheSameKeysForEveryKind()
    {
        var cfg = new SocoConfig { Backbone = new ResNetConfig { Depth = 18, BaseWidth = 4 }, FpnChannels = 8, HeadConvDim = 8, HeadFcDim = 16, MlpHiddenDim = 32, EmbeddingDim = 8, TotalSteps = 10 };
        using var plain = new SocoFpn(cfg);
        Assert.Contains(plain.modules(), m => m is BatchNorm2d);
        Assert.Contains(plain.modules(), m => m is BatchNorm1d);
        Assert.DoesNotContain(plain.modules(), m => m is SyncBatchNorm or FrozenBatchNorm);
        var keys = plain.state_dict().Keys.ToArray();
        foreach (var kind in new[] { NormKind.SyncBN, NormKind.FrozenBN })
        {
            SocoFpn other;
            using (Norms.Use(kind, new SingleProcessGroup())) other = new SocoFpn(cfg);
            using (other)
            {
                Assert.Equal(keys, other.state_dict().Keys.ToArray());
                Assert.DoesNotContain(other.modules(), m => m is BatchNorm2d or BatchNorm1d);
            }
        }
        Assert.Equal(NormKind.BN, Norms.Current);
    }

    [Fact]
    public void FrozenBatchNormUsesTheRunningStatisticsAndTrainsNothing()
    {
        var (x, _, w, b) = Inputs(4, 3, 5, 5);
        var bn = nn.BatchNorm2d(3);
        using (no_grad()) { bn.weight.copy_(w); bn.bias!.copy_(b); bn.running_mean!.copy_(b); bn.running_var!.copy_(w); }
        var frozen = new FrozenBatchNorm(3);
        frozen.load_state_dict(bn.state_dict());
        frozen.train();
        bn.eval();
        Assert.Equal(F(bn.forward(x)), F(frozen.forward(x)));
        Assert.All(frozen.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void GradientsAreAveragedInBucketsAndMissingOnesCountAsZero()
    {
        var results = ThreadGroup.Run(2, g =>
        {
            using var scope = NewDisposeScope();
            var a = new Parameter(zeros(1000));
            var c = new Parameter(zeros(3, 4));
            var unused = new Parameter(zeros(2));
            var onlyRank0 = new Parameter(zeros(5));
            a.grad = full([1000], g.Rank + 1.0f);
            c.grad = full([3, 4], 10.0f * (g.Rank + 1));
            if (g.Rank == 0) onlyRank0.grad = full([5], 4.0f);
            var dp = new DataParallel(g, [a, c, unused, onlyRank0], bucketBytes: 4000);
            dp.AverageGradients();
            return (A: F(a.grad!), C: F(c.grad!), Unused: unused.grad is null, Only: F(onlyRank0.grad!), Buckets: dp.LastBuckets);
        });
        foreach (var r in results)
        {
            Assert.All(r.A, v => Assert.Equal(1.5f, v));
            Assert.All(r.C, v => Assert.Equal(15f, v));
            Assert.True(r.Unused);
            Assert.All(r.Only, v => Assert.Equal(2f, v));
            Assert.Equal(2, r.Buckets); // 4000 bytes of `a`, then `c` and `onlyRank0` together
        }
    }

    [Fact]
    public void SplitBatchesGiveEachRankItsSliceOfTheSameGlobalBatches()
    {
        var global = new EpochSampler(22, 8, seed: 3);
        var parts = Enumerable.Range(0, 4).Select(r => global.SplitBatches(r, 4)).ToArray();
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var whole = global.Batches(epoch).ToArray();
            var sliced = parts.Select(p => p.Batches(epoch).ToArray()).ToArray();
            Assert.All(sliced, s => Assert.Equal(whole.Length, s.Length));
            for (int k = 0; k < whole.Length; k++)
                Assert.Equal(whole[k], sliced.SelectMany(s => s[k]).ToArray());
        }
        Assert.Equal(global.BatchesPerEpoch, parts[3].BatchesPerEpoch);
        Assert.Equal([.. global.Batches(1, 1).SelectMany(b => b[4..6])], parts[2].Batches(1, 1).SelectMany(b => b).ToArray());
        Assert.Contains("divisible by the number of processes", Assert.Throws<ArgumentException>(() => global.SplitBatches(0, 3)).Message);
    }
}
