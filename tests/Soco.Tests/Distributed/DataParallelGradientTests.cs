using Soco.Tests.Modeling;
using Soco.Distributed;
using Soco.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace Soco.Tests.Distributed;

/// <summary>
/// The whole data-parallel step on a SoCo_FPN in float64: two ranks (threads, <see cref="ThreadGroup"/>) with SyncBN,
/// each taking half of a batch of 4, end with the gradients — after <see cref="DataParallel.AverageGradients"/> — and
/// the mean loss that one process computes with BatchNorm over the whole batch, for every online parameter, and with
/// the same BatchNorm running statistics (online and target networks); both ranks hold bit-identical gradients.
/// </summary>
[Collection("torch")]
public class DataParallelGradientTests(ITestOutputHelper log)
{
    /// <summary>Largest gradient difference allowed, relative to the tensor's largest gradient (or, for a tensor whose
    /// exact gradient is zero — a linear bias right before a BatchNorm — to a thousandth of the largest gradient of the
    /// model). In float64 the two computations differ only in summation order (SyncBN's per-rank sums, gradients
    /// averaged as two halves): measured 3.7e-14 (encoder.bn1.bias) at width 32, 1e-12 at the tiny test width. A real
    /// fault (a gradient not averaged, one rank's statistics only, a loss normalised per rank) is off by more than 1e-3.
    /// In float32 the same comparison gives 9e-6 at width 32 and 5.3e-3 at the tiny width (docs/distributed.md
    /// §Equivalence).</summary>
    const double Tolerance = 1e-10;

    /// <summary>ResNet-18 at width 32 on 64-pixel views (P5 is 2×2), FPN/head/MLPs to match.</summary>
    static readonly SocoConfig Wide = new()
    {
        Backbone = new ResNetConfig { Depth = 18, BaseWidth = 32 },
        FpnChannels = 64, HeadConvDim = 64, HeadFcDim = 128, MlpHiddenDim = 256, EmbeddingDim = 64, TotalSteps = 10,
    };

    static SocoBatch Batch(int n, int size)
    {
        const int l = 2, m = SocoFpn.Levels * l;
        var rng = new Random(11);
        Tensor Boxes() => SyntheticBoxes.Lists(rng, n, l);
        var g = new Generator(3);
        var c1 = rand([n, m, m], generator: g).GtScalar(0.8).to(float32);
        var c2 = rand([n, m, m], generator: g).GtScalar(0.8).to(float32);
        Tensor View() => randn([n, 3, size, size], generator: g, dtype: float64);
        return new SocoBatch(View(), [View(), View()], [Boxes(), Boxes()], [Boxes(), Boxes()], [c1, c2]);
    }

    static SocoBatch Part(SocoBatch b, int start, int count)
    {
        Tensor N(Tensor t) => t.narrow(0, start, count);
        return new SocoBatch(N(b.View1), b.OtherViews.Select(N).ToList(), b.View1Boxes.Select(N).ToList(), b.OtherBoxes.Select(N).ToList(), b.Correspondences.Select(N).ToList());
    }

    static Dictionary<string, Tensor> Grads(SocoModel m) => m.OnlineParameters().ToDictionary(p => p.Name, p => p.Parameter.grad!.detach().clone());

    static Dictionary<string, Tensor> Statistics(SocoModel m) =>
        m.named_buffers().Where(b => b.name.EndsWith("running_mean") || b.name.EndsWith("running_var")).ToDictionary(b => b.name, b => b.buffer.detach().clone());

    [Fact]
    public void TwoRanksWithSyncBnGiveOneProcessGradientsInFloat64()
    {
        torch.set_num_threads(1);
        var batch = Batch(4, 64);
        manual_seed(0);
        Dictionary<string, Tensor> state;
        using (var init = new SocoFpn(Wide))
        {
            init.to(float64);
            state = init.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        }
        // One process: BatchNorm over the 4 samples.
        using var one = new SocoFpn(Wide);
        one.to(float64);
        one.load_state_dict(state);
        one.train();
        var loss = one.forward(batch);
        loss.backward();
        double expectedLoss = loss.item<double>();
        var expected = Grads(one);
        var expectedStats = Statistics(one);

        var ranks = ThreadGroup.Run(2, g =>
        {
            SocoFpn m;
            lock (state) using (Norms.Use(NormKind.SyncBN, g)) m = new SocoFpn(Wide);
            m.to(float64);
            m.load_state_dict(state);
            m.train();
            var l = m.forward(Part(batch, 2 * g.Rank, 2));
            l.backward();
            new DataParallel(g, m.OnlineParameters().Select(p => p.Parameter)).AverageGradients();
            double mean = g.AllReduce(l.item<double>(), ReduceOp.Mean);
            return (Loss: mean, Grads: Grads(m), Stats: Statistics(m));
        });

        Assert.True(Math.Abs(ranks[0].Loss - expectedLoss) < 1e-12, $"loss: one process {expectedLoss:R}, two ranks {ranks[0].Loss:R}");
        double modelScale = expected.Values.Max(e => e.abs().max().item<double>());
        double worst = 0;
        string worstName = "";
        foreach (var (name, e) in expected)
        {
            double scale = Math.Max(e.abs().max().item<double>(), 1e-3 * modelScale);
            foreach (var r in ranks)
            {
                double d = r.Grads[name].sub(e).abs().max().item<double>() / scale;
                if (d > worst) { worst = d; worstName = name; }
                Assert.True(d < Tolerance, $"{name}: gradient differs by {d:E2} of its largest value");
            }
            Assert.Equal(ranks[0].Grads[name].data<double>().ToArray(), ranks[1].Grads[name].data<double>().ToArray());
        }
        // The running statistics both networks' BatchNorms keep are the whole batch's on every rank.
        double worstStat = 0;
        foreach (var (name, e) in expectedStats)
            foreach (var r in ranks)
            {
                double d = r.Stats[name].sub(e).abs().max().item<double>() / Math.Max(e.abs().max().item<double>(), 1e-6);
                worstStat = Math.Max(worstStat, d);
                Assert.True(d < Tolerance, $"{name}: differs by {d:E2}");
            }
        log.WriteLine($"{expected.Count} gradients; worst relative difference {worst:E2} ({worstName}); loss Δ {Math.Abs(ranks[0].Loss - expectedLoss):E2}; " +
                      $"{expectedStats.Count} running statistics, worst {worstStat:E2}");
    }
}
