using System.Runtime.CompilerServices;
using System.Text.Json;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Training;

[Collection("torch")]
public class LarsTests(ITestOutputHelper log)
{
    static Parameter Param(double[] values, long[] shape, ScalarType dtype) => new(tensor(values, shape).to(dtype));

    /// <summary>Sets the gradient of <paramref name="p"/> to exactly <paramref name="g"/> (d/dp Σ p·g = g).</summary>
    static void SetGrad(Parameter p, Tensor g)
    {
        p.grad?.zero_();
        (p * g.to(p.dtype)).sum().backward();
    }

    [Fact]
    public void OneStepByHand()
    {
        TorchRuntime.SetThreads(1);
        // w = [3, 4] (‖w‖ = 5), g = [0.6, 0.8], wd 0.1: g' = g + 0.1·w = [0.9, 1.2], ‖g'‖ = 1.5,
        // trust = 0.001·5 / (1.5 + 1e-8); v = trust·g'; w ← w − lr·v with lr 2.
        var w = Param([3, 4], [2], float64);
        var b = Param([0.5, -1], [2], float64);
        using var lars = new Lars([new LarsGroup("w", [("w", w)], 0.1, true), new LarsGroup("b", [("b", b)], 0, false)]) { LearningRate = 2 };
        SetGrad(w, tensor(new[] { 0.6, 0.8 }));
        SetGrad(b, tensor(new[] { 0.2, 0.4 }));
        lars.Step();
        double trust = 0.001 * 5 / (1.5 + 1e-8);
        Assert.Equal(3 - 2 * trust * 0.9, w[0].item<double>(), 15);
        Assert.Equal(4 - 2 * trust * 1.2, w[1].item<double>(), 15);
        Assert.Equal(0.5 - 2 * 0.2, b[0].item<double>(), 15);   // no wd, no trust ratio on 1-D parameters
        Assert.Equal(-1 - 2 * 0.4, b[1].item<double>(), 15);
        // Second step: momentum v ← 0.9·v + g.
        SetGrad(b, tensor(new[] { 1.0, 0.0 }));
        w.grad!.zero_();
        lars.LearningRate = 1;
        lars.Step();
        Assert.Equal(0.1 - (0.9 * 0.2 + 1.0), b[0].item<double>(), 14);
        Assert.Equal(-1.8 - (0.9 * 0.4 + 0.0), b[1].item<double>(), 14);
        // w had a zero gradient: ‖g'‖ = wd·‖w‖ > 0, so the trust ratio applies to the decay term alone.
        var w1 = new[] { 3 - 2 * trust * 0.9, 4 - 2 * trust * 1.2 };
        var gd = w1.Select(x => 0.1 * x).ToArray();
        double trust2 = 0.001 * Math.Sqrt(w1.Sum(x => x * x)) / (Math.Sqrt(gd.Sum(x => x * x)) + 1e-8);
        Assert.Equal(w1[0] - (0.9 * trust * 0.9 + trust2 * gd[0]), w[0].item<double>(), 14);
    }

    sealed record Golden(double trust_coefficient, double eps, double momentum, double[] lrs,
        Dictionary<string, GoldenParam> @params, Dictionary<string, double[]>[] grads, Dictionary<string, double[]>[] after, Dictionary<string, double[]> momentum_buffers);
    sealed record GoldenParam(long[] shape, double weight_decay, bool adapt, double[] init);

    [Theory]
    [InlineData("float64", 3e-16, 3e-16)]   // README states these figures
    [InlineData("float32", 9e-8, 3e-7)]
    public void MatchesThePythonReferenceOfTheSpecFormula(string dtypeName, double tolerance, double bufferTolerance)
    {
        TorchRuntime.SetThreads(1);
        var dtype = dtypeName == "float64" ? float64 : float32;
        var g = JsonSerializer.Deserialize<Golden>(File.ReadAllText(TestPaths.Fixture("training", "lars_golden.json")))!;
        var ps = g.@params.ToDictionary(kv => kv.Key, kv => Param(kv.Value.init, kv.Value.shape, dtype));
        var groups = g.@params.GroupBy(kv => (kv.Value.weight_decay, kv.Value.adapt))
            .Select(grp => new LarsGroup($"{grp.Key}", grp.Select(kv => (kv.Key, ps[kv.Key])).ToList(), grp.Key.weight_decay, grp.Key.adapt)).ToList();
        using var lars = new Lars(groups, new LarsOptions { Momentum = g.momentum, TrustCoefficient = g.trust_coefficient, Eps = g.eps });
        double worst = 0;
        for (int s = 0; s < g.lrs.Length; s++)
        {
            foreach (var (k, p) in ps) SetGrad(p, tensor(g.grads[s][k], g.@params[k].shape, float64));
            lars.LearningRate = g.lrs[s];
            lars.Step();
            foreach (var (k, p) in ps)
            {
                var actual = p.detach().to(float64).reshape(-1).data<double>().ToArray();
                var expected = g.after[s][k];
                double scale = Math.Max(1e-12, expected.Max(Math.Abs));
                double err = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max() / scale;
                worst = Math.Max(worst, err);
                Assert.True(err <= tolerance, $"{dtypeName} step {s} {k}: relative error {err:E2}");
            }
        }
        var state = lars.StateDict();
        double worstBuffer = 0;
        foreach (var (k, v) in g.momentum_buffers)
        {
            var actual = state["momentum_buffer." + k].to(float64).reshape(-1).data<double>().ToArray();
            double scale = Math.Max(1e-12, v.Max(Math.Abs));
            double err = actual.Zip(v, (a, e) => Math.Abs(a - e)).Max() / scale;
            worstBuffer = Math.Max(worstBuffer, err);
            Assert.True(err <= bufferTolerance, $"{dtypeName} momentum buffer of {k}: relative error {err:E2}");
        }
        log.WriteLine($"LARS {dtypeName} vs the Python reference over {g.lrs.Length} steps: worst relative error {worst:E2} (parameters), {worstBuffer:E2} (momentum buffers)");
    }

    [Fact]
    public void SocoGroupsFollowTheSpecAndStateRoundTrips()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(1);
        var model = new SocoFpn(TrainingData.TinyModel);
        using var lars = Lars.ForSoco(model.OnlineParameters(), 1e-5);
        var weights = lars.Groups.Single(x => x.Adapt);
        var plain = lars.Groups.Single(x => !x.Adapt);
        Assert.Equal(1e-5, weights.WeightDecay);
        Assert.Equal(0, plain.WeightDecay);
        Assert.All(weights.Parameters, p => Assert.NotEqual(1, p.Parameter.dim()));
        Assert.All(plain.Parameters, p => Assert.Equal(1, p.Parameter.dim()));
        Assert.Contains(plain.Parameters, p => p.Name.EndsWith("bias"));
        Assert.Contains(plain.Parameters, p => p.Name.Contains("bn") && p.Name.EndsWith("weight"));
        var all = weights.Parameters.Concat(plain.Parameters).Select(p => p.Name).ToList();
        Assert.DoesNotContain(all, n => n.Contains("_k."));                      // target networks are not trained
        Assert.Contains(all, n => n.StartsWith("predictor."));
        Assert.Equal(model.named_parameters().Count(p => !p.name.Contains("_k.")), all.Count);

        // One step, then the momentum buffers survive a state-dict round trip into a fresh optimiser.
        foreach (var (_, p) in model.OnlineParameters()) SetGrad(p, randn_like(p));
        lars.LearningRate = 0.1;
        lars.Step();
        var state = lars.StateDict();
        Assert.Equal(all.Count, state.Count);
        using var again = Lars.ForSoco(model.OnlineParameters(), 1e-5);
        again.LoadStateDict(state);
        foreach (var (k, v) in again.StateDict()) Assert.True(v.equal(state[k]).all().item<bool>(), k);
        Assert.Throws<InvalidDataException>(() => again.LoadStateDict(new Dictionary<string, Tensor> { ["momentum_buffer.nope"] = zeros(1) }));
    }
}

public class ScheduleTests
{
    [Fact]
    public void WarmupFromOneHundredthThenCosineToTheFloor()
    {
        // The released 16-GPU setting: 625 iterations per epoch, 10 warm-up epochs of 100, lr 1.0 · 2048 / 256 = 8.
        double lr = WarmupCosineSchedule.ScaledLr(1.0, 2048);
        Assert.Equal(8.0, lr);
        var s = new WarmupCosineSchedule(lr, 6250, 62500);
        Assert.Equal(0.08, s.At(0), 12);                              // warm-up starts at lr/100
        Assert.Equal(0.08 + (8 - 0.08) * 100 / 6250.0, s.At(100), 12);  // linear
        Assert.Equal(8.0, s.At(6250), 12);                            // end of warm-up: the peak
        Assert.Equal(1e-6 + (8 - 1e-6) * (1 + Math.Cos(Math.PI / 56250)) / 2, s.At(6251), 12);
        Assert.Equal(1e-6 + (8 - 1e-6) / 2, s.At(6250 + 28125), 12); // mid-cosine: halfway between peak and floor
        Assert.Equal(1e-6, s.At(62500), 15);                          // the floor after the last iteration
        Assert.True(s.At(62499) > 1e-6 && s.At(62499) < 1e-5);
        for (long t = 1; t < 62500; t += 997) Assert.True(t <= 6250 ? s.At(t) > s.At(t - 1) : s.At(t) < s.At(t - 1), $"monotone at {t}");
        // No warm-up: cosine from the first iteration.
        var c = new WarmupCosineSchedule(1.0, 0, 10);
        Assert.Equal(1.0, c.At(0), 15);
        Assert.Equal(1e-6 + (1 - 1e-6) / 2, c.At(5), 15);
    }
}

[Collection("torch")]
public class FinalizerPauseTests
{
    sealed class Victim(ManualResetEventSlim finalized)
    {
        ~Victim() => finalized.Set();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void Abandon(ManualResetEventSlim finalized) => _ = new Victim(finalized);

    /// <summary>While a pause is held, an unreachable object's finalizer does not run even after forced collections
    /// (the finalizer thread is held); once the pause is disposed, it runs.</summary>
    [Fact]
    public void FinalizersWaitWhilePausedAndRunAfterwards()
    {
        using var finalized = new ManualResetEventSlim(false);
        using (var pause = new FinalizerPause())
        {
            Assert.True(pause.Paused);
            Abandon(finalized);
            for (int i = 0; i < 3; i++) GC.Collect(2, GCCollectionMode.Forced, blocking: true);
            Assert.False(finalized.IsSet, "a finalizer ran while the pause was held");
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();   // returns only once the queue, the victim included, has been finalized
        Assert.True(finalized.IsSet, "the finalizer did not run after the pause ended");
    }

    /// <summary>Implicit Scalars under forced collections: without the pause TorchSharp 0.107 fails within seconds here
    /// ("Unknown scalar type" / "Expected false to be true"); with it, the ops run clean and give the right numbers.
    /// Count-based: 20 pauses of 200 iterations each, every pause after another completed collection.</summary>
    [Fact]
    public void ImplicitScalarsSurviveCollectionsDuringAPause()
    {
        TorchRuntime.SetThreads(1);
        using var t = randn(1000);
        double expectedA = t.sum().item<float>() * 2, expectedC = t.sum().item<float>() * 2;
        using var expectedGe = t.mul(2.0.ToScalar()).ge((-1.0).ToScalar()).sum();
        long ge = expectedGe.item<long>();
        bool stop = false;
        using var collected = new SemaphoreSlim(0);
        // Gen-0 collections: the implicit scalars are young objects, so these find them as a full collection would,
        // without the test's speed depending on how large a heap earlier tests in the process left (a full
        // collection per loop took this test from 0.5 s to 5 minutes in a whole-suite run).
        var collector = new Thread(() => { while (!Volatile.Read(ref stop)) { _ = new byte[1 << 16]; GC.Collect(0); collected.Release(); Thread.Sleep(0); } }) { IsBackground = true };
        collector.Start();
        try
        {
            for (int round = 0; round < 20; round++)
            {
                collected.Wait();
                using var pause = new FinalizerPause();
                Assert.True(pause.Paused);
                for (int i = 0; i < 200; i++)
                {
                    using var a = t * 2.0;
                    using var b = a.ge(-1.0);
                    using var c = t.add(a, alpha: 0.5);
                    using var sa = a.sum();
                    using var sb = b.sum();
                    using var sc = c.sum();
                    Assert.Equal(expectedA, sa.item<float>(), 3);
                    Assert.Equal(ge, sb.item<long>());
                    Assert.Equal(expectedC, sc.item<float>(), 3);
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
    }
}
