using Soco.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// RoIAlign (our code, explicit scalars only) runs forward and backward over and over, unguarded, while another thread
/// forces collections and drains the finalizer queue; a tiny SoCo_FPN step runs in the same loop under
/// <see cref="FinalizerPause"/>, as training runs it — TorchSharp's own BatchNorm does
/// <c>num_batches_tracked.add_(1)</c> with an implicit <see cref="Scalar"/> in training mode, which this test caught
/// failing ("Expected false to be true") without the pause, and which our code cannot change. Every iteration must
/// reproduce the first one bit for bit. Count-based, no clock: a fixed number of iterations, each one starting only after
/// the collector has completed another forced collection (so collections keep landing between and inside iterations
/// however busy the machine is).
/// </summary>
[Collection("torch")]
public class ScalarLifetimeStressTests(ITestOutputHelper log)
{
    const int Iterations = 40;
    const int RoiAlignRepeats = 25;

    [Fact]
    public void RoiAlignAndSocoFpnSurviveForcedFinalization()
    {
        int threads = get_num_threads();
        set_num_threads(1);
        using var stop = new CancellationTokenSource();
        using var collected = new SemaphoreSlim(0);
        long collections = 0;
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _ = new byte[1 << 16];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
                collected.Release();
            }
        }) { IsBackground = true, Name = "forced GC" };
        try
        {
            using var outer = NewDisposeScope();
            manual_seed(7);
            var model = new SocoFpn(SocoModelTests.Tiny()) { UpdateTargetInForward = false };
            model.train();
            var batch = TinyBatch();
            var feature = randn(2, 3, 9, 11);
            // Non-uniform batch order (the grouped path), boxes partly outside the map, degenerate and adaptive grids.
            var rois = tensor(new float[,]
            {
                { 1, 0.5f, 1.0f, 6.0f, 7.5f }, { 0, -2.0f, -1.0f, 3.0f, 12.0f }, { 1, 4.0f, 4.0f, 4.0f, 4.0f }, { 0, 2.2f, 0.3f, 10.9f, 8.7f },
            });
            var probe = model.Encoder.named_parameters().First().parameter;

            (Tensor Out, Tensor Grad, float Loss, Tensor ModelGrad) Step()
            {
                using var scope = NewDisposeScope();
                var x = feature.detach().clone().requires_grad_(true);
                var pooled = RoiAlign.Apply(x, rois, (3, 4), spatialScale: 0.75, samplingRatio: -1, aligned: true);
                var pooled2 = RoiAlign.Apply(x, rois, 2, spatialScale: 1.0, samplingRatio: 2, aligned: false);
                pooled.sum().backward();
                var firstGrad = x.grad!.clone();
                pooled2.sum().backward();
                // Many cheap calls (each makes ~20 scalars) so that a collection often lands inside one.
                for (int j = 0; j < RoiAlignRepeats; j++)
                {
                    using var inner = NewDisposeScope();
                    var again = RoiAlign.Apply(x, rois, (3, 4), spatialScale: 0.75, samplingRatio: -1, aligned: true);
                    if (!Same(again.detach(), pooled.detach())) throw new InvalidOperationException($"RoIAlign repeat {j} differs");
                }
                using var pause = new FinalizerPause();
                model.zero_grad();
                var loss = model.forward(batch);
                loss.backward();
                var result = (cat([pooled.flatten(), pooled2.flatten()], 0).detach().MoveToOuterDisposeScope(),
                    cat([firstGrad.flatten(), x.grad!.flatten()], 0).MoveToOuterDisposeScope(),
                    loss.item<float>(), probe.grad!.clone().MoveToOuterDisposeScope());
                return result;
            }

            var first = Step();
            Assert.True(float.IsFinite(first.Loss));
            collector.Start();
            int done = 0;
            for (; done < Iterations; done++)
            {
                collected.Wait();   // at least one more forced collection before every iteration
                var r = Step();
                Assert.True(Same(r.Out, first.Out), $"iteration {done}: RoIAlign output differs from the first iteration");
                Assert.True(Same(r.Grad, first.Grad), $"iteration {done}: RoIAlign input gradient differs from the first iteration");
                Assert.Equal(first.Loss, r.Loss);
                Assert.True(Same(r.ModelGrad, first.ModelGrad), $"iteration {done}: SoCo_FPN gradient differs from the first iteration");
                r.Out.Dispose(); r.Grad.Dispose(); r.ModelGrad.Dispose();
            }
            stop.Cancel();
            collector.Join();
            log.WriteLine($"{done} iterations with {Interlocked.Read(ref collections)} forced collections");
            Assert.Equal(Iterations, done);
            Assert.True(Interlocked.Read(ref collections) >= Iterations, "fewer collections than iterations");
        }
        finally
        {
            stop.Cancel();
            if (collector.IsAlive) collector.Join();
            set_num_threads(threads);
        }
    }

    /// <summary>
    /// The helpers themselves on 1,000-element tensors outside any dispose scope (the shape of the
    /// <c>FinalizerPauseTests</c> loop, which fails within a second without its pause when a thread allocates and
    /// collects in a tight loop), with a thread collecting and draining the finalizer queue: every run must give the
    /// first run's number. Count-based: 20 batches of 100 runs, each batch after another completed collection.
    /// </summary>
    [Fact]
    public void ExplicitScalarHelpersSurviveForcedCollections()
    {
        int threads = get_num_threads();
        set_num_threads(1);
        manual_seed(3);
        using var t = randn(1000);
        bool stop = false;
        using var collected = new SemaphoreSlim(0);
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop)) { _ = new byte[1 << 16]; GC.Collect(); GC.WaitForPendingFinalizers(); collected.Release(); }
        }) { IsBackground = true };
        double Checksum()
        {
            using var a = t.Mul(2.0);
            using var b = a.Ge(-1.0);
            using var c = t.Plus(a);
            using var d = a.SubtractedFrom(1.0);
            using var e = d.ClampMin(0.0);
            using var f = e.Add(0.5);
            using var g = c.PlusInPlace(f);
            using var fb = b.to(float32);
            using var h = g.mul(fb);
            using var total = h.sum();
            return total.item<float>();
        }
        double expected = Checksum();
        collector.Start();
        long runs = 0;
        try
        {
            for (int batch = 0; batch < 20; batch++)
            {
                collected.Wait();
                for (int i = 0; i < 100; i++) Assert.Equal(expected, Checksum());
                runs += 100;
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
            set_num_threads(threads);
        }
        log.WriteLine($"{runs} checksum runs (10 explicit-scalar ops each) under forced collections");
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray());

    /// <summary>Two 32×32 images (16×16 for view 3); view 1 has two box lists of 2 boxes, each other view 2 boxes; identity-like C (M = 4·2).</summary>
    static SocoBatch TinyBatch()
    {
        const int n = 2, l = 2, m = SocoFpn.Levels * l;
        Tensor Boxes(float shift) => tensor(new float[]
        {
            0.05f + shift, 0.10f, 0.60f, 0.70f + shift, 0, 0.30f, 0.20f + shift, 0.95f - shift, 0.90f, 1,
            0.00f, 0.00f + shift, 0.50f, 0.50f, 0, 0.25f + shift, 0.40f, 0.80f, 0.99f - shift, 1,
        }).view(n, l, 5);
        var c = eye(m).unsqueeze(0).expand(n, m, m).contiguous();
        return new SocoBatch(randn(n, 3, 32, 32), [randn(n, 3, 32, 32), randn(n, 3, 16, 16)], [Boxes(0.0f), Boxes(0.02f)],
            [Boxes(0.01f), Boxes(0.03f)], [c, c.clone()]);
    }
}
