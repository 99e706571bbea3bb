using System.Diagnostics;
using Soco.Distributed;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Engine;

/// <summary>How a <see cref="Trainer.Train"/> ended.</summary>
public enum TrainStop { Finished, AlreadyFinished, StepLimit, Cancelled }

/// <summary>The loss of a step was NaN or infinite: the loop stopped before the optimiser step, so no weight saw it.</summary>
public sealed class NonFiniteLossException(string message, long step, int micro, double value) : InvalidOperationException(message)
{
    /// <summary>The 1-based step whose loss it was.</summary>
    public long Step { get; } = step;
    public int Micro { get; } = micro;
    public double Value { get; } = value;
}

/// <summary>
/// The training loop shared by every task (detectron2's <c>TrainerBase</c> + <c>SimpleTrainer</c>, docs/engine.md): it
/// counts steps, and for each one runs the hooks' <see cref="IHook.BeforeStep"/>, then — with the .NET finalizer thread
/// held (<see cref="FinalizerPause"/>) and inside one dispose scope — zero_grad, <see cref="Accumulate"/> micro-batches
/// of the task's <see cref="IRunStep.Forward"/> each followed by the backward of <c>loss / accumulate</c> and a
/// non-finite check, and the optimiser step; then records <c>loss</c> (the mean of the micro-batch losses) and
/// <c>step_seconds</c> in <see cref="Storage"/>, decides whether to stop early (cancellation or
/// <see cref="StopAfter"/>, always at a step boundary) and runs the hooks' <see cref="IHook.AfterStep"/> — where a
/// checkpoint hook saves.
/// </summary>
public sealed class Trainer
{
    readonly IRunStep _task;

    public Trainer(IRunStep task, IOptimizer optimizer, long maxIter, IEnumerable<IHook>? hooks = null, long startIter = 0, int accumulate = 1)
    {
        if (maxIter < 0) throw new ArgumentOutOfRangeException(nameof(maxIter), maxIter, "cannot be negative");
        if (startIter < 0) throw new ArgumentOutOfRangeException(nameof(startIter), startIter, "cannot be negative");
        if (accumulate < 1) throw new ArgumentOutOfRangeException(nameof(accumulate), accumulate, "at least one micro-batch per step");
        _task = task;
        Optimizer = optimizer;
        MaxIter = maxIter;
        StartIter = Iter = startIter;
        Accumulate = accumulate;
        Hooks = (hooks ?? []).ToList();
    }

    public IOptimizer Optimizer { get; }
    public IReadOnlyList<IHook> Hooks { get; }
    public EventStorage Storage { get; } = new();
    public long MaxIter { get; }
    /// <summary>Steps done when this trainer was made (a resumed run's checkpoint step).</summary>
    public long StartIter { get; }
    /// <summary>Steps done (the current step included once its optimiser update ran).</summary>
    public long Iter { get; private set; }
    public int Accumulate { get; }
    /// <summary>Stop once this many steps are done in total (the CLI's <c>--stop-after</c>); null → run to the end.</summary>
    public long? StopAfter { get; init; }
    /// <summary>Message of a non-finite loss from (1-based step, micro-batch, value); null → a generic one.</summary>
    public Func<long, int, double, string>? DescribeNonFiniteLoss { get; init; }
    /// <summary>Set after a step when the loop stops before <see cref="MaxIter"/>; hooks see it in <see cref="IHook.AfterStep"/>.</summary>
    public TrainStop? Stopping { get; private set; }
    /// <summary>Data parallelism (docs/distributed.md): the gradients averaged over the ranks before each optimiser step,
    /// the logged loss the mean over ranks (so every rank sees the same value, NaN included), and a stop agreed by all
    /// ranks at the same step boundary. Null: one process, unchanged.</summary>
    public DataParallel? DataParallel { get; init; }
    /// <summary>Steps in which the finalizer thread could not be held (see <see cref="FinalizerPause"/>).</summary>
    public int UnpausedSteps { get; private set; }

    /// <summary>Runs steps until <see cref="MaxIter"/>, <see cref="StopAfter"/> or cancellation (checked after each step;
    /// an <see cref="OperationCanceledException"/> thrown by the task while <paramref name="cancel"/> is set also ends
    /// the loop as <see cref="TrainStop.Cancelled"/>, without an after-step).</summary>
    public TrainStop Train(CancellationToken cancel = default)
    {
        if (Iter >= MaxIter) return TrainStop.AlreadyFinished;
        if (Iter >= StopAfter) return TrainStop.StepLimit;
        Stopping = null;
        foreach (var h in Hooks) h.BeforeTrain(this);
        try
        {
            while (Iter < MaxIter)
            {
                RunStep();
                bool cancelled = cancel.IsCancellationRequested;
                // Every rank must stop at the same step boundary, or the others would wait in the next step's collectives.
                if (DataParallel is { Group.IsDistributed: true } dp) cancelled = dp.Group.AllReduce(cancelled ? 1 : 0, ReduceOp.Max) > 0;
                if (Iter < MaxIter && (cancelled || Iter >= StopAfter))
                    Stopping = cancelled ? TrainStop.Cancelled : TrainStop.StepLimit;
                foreach (var h in Hooks) h.AfterStep(this);
                if (Stopping is not null) break;
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Stopping = TrainStop.Cancelled;
        }
        finally
        {
            foreach (var h in Hooks) h.AfterTrain(this);
        }
        return Stopping ?? TrainStop.Finished;
    }

    void RunStep()
    {
        Storage.BeginStep(Iter);
        var clock = Stopwatch.StartNew();
        foreach (var h in Hooks) h.BeforeStep(this);
        int a = Accumulate;
        double lossSum = 0;
        using (var pause = new FinalizerPause())
        using (var microScale = (1.0 / a).ToScalar())
        using (var scope = NewDisposeScope())
        {
            Optimizer.ZeroGrad();
            for (int micro = 0; micro < a; micro++)
            {
                var loss = _task.Forward(this, micro);
                (a > 1 ? loss.mul(microScale) : loss).backward();
                // Read after the backward is queued (on a GPU, reading waits for the queued work), still before the
                // optimiser step: a NaN/Inf loss never reaches the weights.
                double value = LossValue(loss);
                if (DataParallel is { Group.IsDistributed: true } dp) value = dp.Group.AllReduce(value, ReduceOp.Mean);
                if (!double.IsFinite(value))
                    throw new NonFiniteLossException(DescribeNonFiniteLoss?.Invoke(Iter + 1, micro, value)
                        ?? $"the loss is {value} at step {Iter + 1} (micro-batch {micro}); stopped before the optimiser step", Iter + 1, micro, value);
                lossSum += value;
            }
            _task.BeforeOptimizerStep(this);
            DataParallel?.AverageGradients();
            Optimizer.Step();
            if (!pause.Paused) UnpausedSteps++;
        }
        Iter++;
        Storage.Put("loss", lossSum / a);
        Storage.Put("step_seconds", clock.Elapsed.TotalSeconds);
    }

    /// <summary>The loss as a double: a float32 loss widened exactly (what pretraining has always logged), a float64 one
    /// as is, any other type through float32.</summary>
    static double LossValue(Tensor loss) => loss.dtype switch
    {
        ScalarType.Float64 => loss.item<double>(),
        ScalarType.Float32 => loss.item<float>(),
        _ => loss.detach().to(ScalarType.Float32).item<float>(),
    };
}
