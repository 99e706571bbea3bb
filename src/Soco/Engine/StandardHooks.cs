using System.Diagnostics;
using Soco.Solver;
using Soco.Training;

namespace Soco.Engine;

/// <summary>Sets the optimiser's learning rate from the schedule before every step (iteration = steps done) and records
/// it as <c>lr</c> (detectron2's <c>LRScheduler</c> hook; stepping per iteration, as both SoCo and Detectron2 do).</summary>
public sealed class LrScheduleHook(ILrSchedule schedule) : IHook
{
    public ILrSchedule Schedule { get; } = schedule;

    public void BeforeStep(Trainer trainer)
    {
        double lr = Schedule.At(trainer.Iter);
        trainer.Optimizer.LearningRate = lr;
        trainer.Storage.Put("lr", lr);
    }
}

/// <summary>
/// Writes each step's named scalars (detectron2's <c>PeriodicWriter</c> with its JSON and TensorBoard writers, every
/// step): a line of <c>metrics.jsonl</c> (<see cref="MetricsLog"/>; adds <c>rss_mb</c> and <c>time_utc</c>), the
/// scalars chosen by <paramref name="tensorBoardTags"/> (scalar name → tag; null → all under their own names) as one
/// TensorBoard event, and redraws <c>curves.png</c> every <paramref name="plotEverySeconds"/> and after the last step.
/// </summary>
public sealed class MetricsHook(MetricsLog log, TensorBoardWriter? tensorBoard = null, IReadOnlyList<(string Scalar, string Tag)>? tensorBoardTags = null,
    string? curvesPath = null, Func<long, string>? curvesTitle = null, double plotEverySeconds = 15) : IHook
{
    readonly Stopwatch _plotClock = new();

    public MetricsLog Log { get; } = log;

    public void BeforeTrain(Trainer trainer) => _plotClock.Restart();

    public void AfterStep(Trainer trainer)
    {
        var s = trainer.Storage;
        s.Put("rss_mb", Environment.WorkingSet >> 20);
        Log.Append(trainer.Iter, s.Scalars, DateTime.UtcNow);
        if (tensorBoard is not null)
        {
            var values = tensorBoardTags is null
                ? s.Scalars.Select(v => (v.Name, (float)v.Value))
                : tensorBoardTags.Where(t => s.Get(t.Scalar) is not null).Select(t => (t.Tag, (float)s[t.Scalar]));
            tensorBoard.Scalars(trainer.Iter, values);
        }
        if (curvesPath is not null && _plotClock.Elapsed.TotalSeconds >= plotEverySeconds)
        {
            Plot(trainer.Iter);
            _plotClock.Restart();
        }
    }

    public void AfterTrain(Trainer trainer)
    {
        if (curvesPath is not null && Log.History.Count > 0) Plot(trainer.Iter);
    }

    void Plot(long step) => CurvePlot.Save(Log.History, curvesPath!, curvesTitle?.Invoke(step) ?? $"step {step}");
}

/// <summary>
/// The checkpoint policy (detectron2's <c>PeriodicCheckpointer</c>, with SoCo's rules): after a step that ends an epoch
/// whose number is a multiple of <paramref name="saveFreqEpochs"/> or ends the run, save as that epoch's checkpoint; else
/// every <paramref name="everySteps"/> steps (0: never) a rolling one; when the loop stops early (cancellation,
/// stop-after) a rolling one unless this step was just saved; and when it was cancelled outside a step's end (a
/// cancelled wait for data) a rolling one if steps were done since the last save, so they are not lost. Writing is
/// <paramref name="save"/>'s (steps done, epoch or null) — the task's atomic checkpoint code; it returns the file written.
/// </summary>
public sealed class CheckpointHook(Func<long, int?, string> save, long stepsPerEpoch, int saveFreqEpochs, long everySteps) : IHook
{
    long _savedAt;

    /// <summary>The last checkpoint this hook wrote (null before the first).</summary>
    public string? LastSaved { get; private set; }

    public void BeforeTrain(Trainer trainer) => _savedAt = trainer.Iter;

    public void AfterStep(Trainer trainer)
    {
        long step = trainer.Iter;
        bool epochEnd = stepsPerEpoch > 0 && step % stepsPerEpoch == 0;
        int epochsDone = stepsPerEpoch > 0 ? (int)(step / stepsPerEpoch) : 0;
        if (epochEnd && (epochsDone % saveFreqEpochs == 0 || step == trainer.MaxIter)) Save(step, epochsDone);
        else if (everySteps > 0 && step % everySteps == 0) Save(step, null);
        if (trainer.Stopping is not null && _savedAt != step) Save(step, null);
    }

    public void AfterTrain(Trainer trainer)
    {
        if (trainer.Stopping == TrainStop.Cancelled && trainer.Iter > _savedAt) Save(trainer.Iter, null);
    }

    void Save(long step, int? epoch)
    {
        LastSaved = save(step, epoch);
        _savedAt = step;
    }
}

/// <summary>Reports every step to a callback (progress bar, console line) after the other hooks wrote it.</summary>
public sealed class ProgressHook(Action<Trainer> onStep) : IHook
{
    public void AfterStep(Trainer trainer) => onStep(trainer);
}
