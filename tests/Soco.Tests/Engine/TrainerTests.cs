using Soco.Engine;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Tests.Engine;

[Collection("torch")]
public class TrainerTests : IDisposable
{
    readonly TestPaths.TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Least squares on fixed data: y = x·w, loss = mean((y − t)²) over the micro-batch's rows.</summary>
    sealed class Regression : IRunStep
    {
        readonly Tensor _x, _t;
        readonly int _rowsPerMicro;

        public Regression(Parameter w, int rows, int rowsPerMicro)
        {
            W = w;
            var g = new Generator(11);
            _x = randn([rows * 8, 3], dtype: float64, generator: g);
            _t = randn([rows * 8, 1], dtype: float64, generator: g);
            Rows = rows;
            _rowsPerMicro = rowsPerMicro;
        }

        public Parameter W { get; }
        public int Rows { get; }
        public List<string> Calls { get; } = [];
        public Func<Trainer, int, double?>? Override { get; init; }
        public Action<Trainer, int>? OnForward { get; init; }

        public Tensor Forward(Trainer trainer, int micro)
        {
            OnForward?.Invoke(trainer, micro);
            Calls.Add($"forward {trainer.Iter}.{micro}");
            long start = (trainer.Iter * Rows + (long)micro * _rowsPerMicro) % (_x.shape[0] - _rowsPerMicro + 1);
            var x = _x.narrow(0, start, _rowsPerMicro);
            var t = _t.narrow(0, start, _rowsPerMicro);
            var loss = x.matmul(W).sub(t).pow(2).mean();
            if (Override?.Invoke(trainer, micro) is double v) loss = loss.mul(0.0).add(v);
            return loss;
        }

        public void BeforeOptimizerStep(Trainer trainer) => Calls.Add($"before-optimizer {trainer.Iter}");
    }

    static Parameter Weights() => new(tensor(new[] { 0.5, -0.25, 1.0 }, [3, 1], float64));

    sealed class Recorder(string name, List<string> calls) : IHook
    {
        public void BeforeTrain(Trainer t) => calls.Add($"{name}.before-train {t.Iter}");
        public void AfterTrain(Trainer t) => calls.Add($"{name}.after-train {t.Iter}");
        public void BeforeStep(Trainer t) => calls.Add($"{name}.before-step {t.Iter}");
        public void AfterStep(Trainer t) => calls.Add($"{name}.after-step {t.Iter} loss {t.Storage.Get("loss") is not null}");
    }

    [Fact]
    public void AccumulatedMicroBatchesEqualOneBigBatch()
    {
        TorchRuntime.SetThreads(1);
        var big = Weights();
        var small = Weights();
        using var o1 = new Sgd([new SgdGroup("w", [("w", big)], 1e-3)]);
        using var o2 = new Sgd([new SgdGroup("w", [("w", small)], 1e-3)]);
        var schedule = new WarmupMultiStepSchedule(0.05, 6, warmupIters: 2);
        var l1 = new List<double>();
        var l2 = new List<double>();
        new Trainer(new Regression(big, 4, 4), o1, 6, [new LrScheduleHook(schedule), new ProgressHook(t => l1.Add(t.Storage["loss"]))]).Train();
        new Trainer(new Regression(small, 4, 2), o2, 6, [new LrScheduleHook(schedule), new ProgressHook(t => l2.Add(t.Storage["loss"]))], accumulate: 2).Train();
        Assert.Equal(6, l1.Count);
        for (int i = 0; i < 6; i++) Assert.Equal(l1[i], l2[i], 1e-13);
        Assert.True(big.allclose(small, rtol: 0, atol: 1e-13), $"{big.str()} vs {small.str()}");
        Assert.False(big.allclose(Weights()), "the weights did not move");
    }

    [Fact]
    public void HooksAreCalledInOrderAroundEachStep()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]) { LearningRate = 0.01 };
        var task = new Regression(w, 2, 2);
        var calls = task.Calls;
        var stop = new Trainer(task, opt, 2, [new Recorder("a", calls), new Recorder("b", calls)]).Train();
        Assert.Equal(TrainStop.Finished, stop);
        Assert.Equal([
            "a.before-train 0", "b.before-train 0",
            "a.before-step 0", "b.before-step 0", "forward 0.0", "before-optimizer 0", "a.after-step 1 loss True", "b.after-step 1 loss True",
            "a.before-step 1", "b.before-step 1", "forward 1.0", "before-optimizer 1", "a.after-step 2 loss True", "b.after-step 2 loss True",
            "a.after-train 2", "b.after-train 2",
        ], calls);
        // A finished run trains no more and calls no hook.
        calls.Clear();
        Assert.Equal(TrainStop.AlreadyFinished, new Trainer(task, opt, 2, [new Recorder("a", calls)], startIter: 2).Train());
        Assert.Empty(calls);
    }

    [Fact]
    public void CancellationStopsAtTheStepBoundaryWithACheckpoint()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]) { LearningRate = 0.01 };
        using var cts = new CancellationTokenSource();
        var saves = new List<(long Step, int? Epoch)>();
        var task = new Regression(w, 2, 1) { OnForward = (t, micro) => { if (t.Iter == 2 && micro == 1) cts.Cancel(); } };
        var checkpoint = new CheckpointHook((s, e) => { saves.Add((s, e)); return $"ck{s}"; }, stepsPerEpoch: 5, saveFreqEpochs: 1, everySteps: 0);
        var trainer = new Trainer(task, opt, 10, [checkpoint], accumulate: 2);
        Assert.Equal(TrainStop.Cancelled, trainer.Train(cts.Token));
        // Cancelled during step 3's second micro-batch: the step completes (both micro-batches, the update), then stops.
        Assert.Equal(3, trainer.Iter);
        Assert.Equal([(3L, (int?)null)], saves);
        Assert.Equal("ck3", checkpoint.LastSaved);
        Assert.Equal(6, task.Calls.Count(c => c.StartsWith("forward")));
    }

    [Fact]
    public void CancellationInsideTheTaskEndsTheLoopWithoutAPartialStep()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]) { LearningRate = 0.01 };
        using var cts = new CancellationTokenSource();
        var calls = new List<string>();
        var task = new Regression(w, 2, 2)
        {
            OnForward = (t, _) => { if (t.Iter == 1) { cts.Cancel(); cts.Token.ThrowIfCancellationRequested(); } },
        };
        var saves = new List<(long Step, int? Epoch)>();
        var checkpoint = new CheckpointHook((s, e) => { saves.Add((s, e)); return $"ck{s}"; }, stepsPerEpoch: 5, saveFreqEpochs: 1, everySteps: 0);
        var trainer = new Trainer(task, opt, 10, [new Recorder("a", calls), checkpoint]);
        Assert.Equal(TrainStop.Cancelled, trainer.Train(cts.Token));
        Assert.Equal(1, trainer.Iter);
        Assert.Equal("a.after-train 1", calls[^1]);
        Assert.DoesNotContain("a.after-step 2 loss True", calls);
        // The step done before the cancelled wait is not lost: saved once the loop ended.
        Assert.Equal([(1L, (int?)null)], saves);
    }

    [Fact]
    public void StopAfterEndsWithACheckpointAndAResumeGoesOn()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]) { LearningRate = 0.01 };
        var saves = new List<(long Step, int? Epoch)>();
        var hook = new CheckpointHook((s, e) => { saves.Add((s, e)); return $"ck{s}"; }, stepsPerEpoch: 3, saveFreqEpochs: 2, everySteps: 2);
        var t1 = new Trainer(new Regression(w, 2, 2), opt, 9, [hook]) { StopAfter = 5 };
        Assert.Equal(TrainStop.StepLimit, t1.Train());
        Assert.Equal(5, t1.Iter);
        // Rolling at 2 and 4, then the stop at 5 (not a multiple of 2, so saved for the stop).
        Assert.Equal([(2L, (int?)null), (4L, null), (5L, null)], saves);
        saves.Clear();
        var t2 = new Trainer(new Regression(w, 2, 2), opt, 9, [hook], startIter: 5);
        Assert.Equal(TrainStop.Finished, t2.Train());
        // Epoch 2 ends at step 6 (kept, saveFreq 2), rolling at 8, the last epoch (3, step 9) is always kept; no extra
        // save at the end of a finished run.
        Assert.Equal([(6L, (int?)2), (8L, null), (9L, 3)], saves);
        Assert.Equal(TrainStop.StepLimit, new Trainer(new Regression(w, 2, 2), opt, 9, [hook], startIter: 5) { StopAfter = 5 }.Train());
    }

    [Fact]
    public void NonFiniteLossStopsBeforeTheUpdateAndNamesTheStep()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]) { LearningRate = 0.01 };
        var calls = new List<string>();
        var task = new Regression(w, 2, 1) { Override = (t, micro) => t.Iter == 2 && micro == 1 ? double.NaN : null };
        Tensor? afterTwo = null;
        var trainer = new Trainer(task, opt, 10, [new Recorder("a", calls), new ProgressHook(t => { if (t.Iter == 2) afterTwo = w.detach().clone(); })], accumulate: 2)
        {
            DescribeNonFiniteLoss = (step, micro, v) => $"loss {v} in step {step}, micro-batch {micro}",
        };
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Train());
        Assert.Equal(3, e.Step);
        Assert.Equal(1, e.Micro);
        Assert.True(double.IsNaN(e.Value));
        Assert.Equal("loss NaN in step 3, micro-batch 1", e.Message);
        Assert.Equal(2, trainer.Iter);
        Assert.True(w.equal(afterTwo!).all().item<bool>(), "the weights changed in the step whose loss was NaN");
        Assert.Equal("a.after-train 2", calls[^1]);     // writers still flush (curves) when the loop fails

        var generic = new Trainer(new Regression(w, 2, 2) { Override = (_, _) => double.PositiveInfinity }, opt, 10);
        Assert.Matches("the loss is (∞|Infinity) at step 1", Assert.Throws<NonFiniteLossException>(() => generic.Train()).Message);
    }

    [Fact]
    public void LrScheduleHookSetsTheRateOfEachStep()
    {
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0), new SgdGroup("none", [], 0, LrFactor: 10)]);
        var schedule = new WarmupMultiStepSchedule(0.1, 6, warmupIters: 2);
        var seen = new List<(double Lr, double Optimizer, double Group1)>();
        new Trainer(new Regression(w, 2, 2), opt, 6, [new LrScheduleHook(schedule),
            new ProgressHook(t => seen.Add((t.Storage["lr"], t.Optimizer.LearningRate, t.Optimizer.GroupLearningRate(1))))]).Train();
        Assert.Equal(Enumerable.Range(0, 6).Select(i => schedule.At(i)), seen.Select(s => s.Lr));
        Assert.All(seen, s => Assert.Equal(s.Lr, s.Optimizer));
        Assert.All(seen, s => Assert.Equal(10 * s.Lr, s.Group1, 15));
    }

    [Fact]
    public void MetricsHookWritesTheRunFolderFormat()
    {
        string jsonl = _dir["metrics.jsonl"], tb = _dir["tb"], curves = _dir["curves.png"];
        var w = Weights();
        using var opt = new Sgd([new SgdGroup("w", [("w", w)], 0)]);
        var put = new PutScalars();
        using (var log = new MetricsLog(jsonl, 0))
        using (var writer = new TensorBoardWriter(tb))
        {
            var hook = new MetricsHook(log, writer, [("loss", "loss"), ("data_seconds", "data_wait_seconds")], curves, s => $"step {s}", plotEverySeconds: 1e9);
            new Trainer(new Regression(w, 2, 2), opt, 3, [new LrScheduleHook(new WarmupMultiStepSchedule(0.1, 3, [10], warmupIters: 0)), put, hook]).Train();
            Assert.Equal(3, log.History.Count);
        }
        var rows = MetricsLog.Read(jsonl);
        Assert.Equal([1L, 2L, 3L], rows.Select(r => r.Step));
        Assert.All(rows, r => Assert.Equal(0.1, r.Lr));
        Assert.All(rows, r => Assert.Equal(0.25, r.DataSeconds));
        Assert.All(rows, r => Assert.Equal(0.5, r.EmaMomentum));
        Assert.All(rows, r => Assert.True(r.Loss > 0 && r.StepSeconds > 0 && r.RssMb > 0));
        Assert.Contains("\"custom_term\":7", File.ReadAllLines(jsonl)[0]);    // a task's own scalars are kept too
        Assert.True(File.Exists(curves));
        Assert.True(new FileInfo(Assert.Single(Directory.GetFiles(tb))).Length > 0);
    }

    sealed class PutScalars : IHook
    {
        public void BeforeStep(Trainer t)
        {
            t.Storage.Put("custom_term", 7);
            t.Storage.Put("data_seconds", 0.25);
            t.Storage.Put("ema_momentum", 0.5);
        }
    }

    [Fact]
    public void NamedScalarRowsHaveTheLayoutOfStepMetrics()
    {
        var time = new DateTime(2026, 11, 28, 20, 0, 0, DateTimeKind.Utc).AddTicks(1234567);
        var m = new StepMetrics
        {
            Step = 12, Epoch = 2, Batch = 8, Loss = -3.0517578125, Lr = 0.015, EmaMomentum = 0.99000123, StepSeconds = 0.0625,
            DataSeconds = 1e-5, RssMb = 812, TimeUtc = time,
        };
        // Put in another order than StepMetrics declares: the row is written in the file's order all the same.
        var row = MetricsLog.SerializeRow(12, [("loss", m.Loss), ("lr", m.Lr), ("step_seconds", m.StepSeconds), ("epoch", 2), ("batch", 8),
            ("ema_momentum", m.EmaMomentum), ("data_seconds", m.DataSeconds), ("rss_mb", 812)], time);
        Assert.Equal(MetricsLog.Serialize(m), row);
    }
}
