using System.Diagnostics;
using System.Text.Json;
using Soco.Data;
using Soco.IO;
using Soco.Modeling;
using Soco.Proposals;
using Soco.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Training;

/// <summary>Where and how a pretraining run executes (not part of its numbers: changing these keeps a resume exact,
/// except <see cref="Threads"/> and <see cref="Device"/>, which change floating-point reduction order).</summary>
public sealed record PretrainOptions
{
    public required string Images { get; init; }
    /// <summary>Proposal store; null → every view uses whole-image boxes (a warning, not SoCo's training signal).</summary>
    public string? Proposals { get; init; }
    public required string RunDirectory { get; init; }
    /// <summary>cpu (default), cuda, cuda:N.</summary>
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Stop (with a checkpoint) once this many steps are done in total; null → run to the end.</summary>
    public long? StopAfterStep { get; init; }
    /// <summary>Resume from this checkpoint file instead of the run folder's newest.</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Seconds between redraws of curves.png.</summary>
    public double PlotEverySeconds { get; init; } = 15;
    /// <summary>Warnings and notes (loader problems, resume decisions).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Test hook: wraps checkpoint streams (simulated full disk).</summary>
    public Func<Stream, Stream>? CheckpointStreamWrapper { get; init; }
}

public enum PretrainStop { Finished, AlreadyFinished, StepLimit, Cancelled }

public sealed record PretrainResult(string RunDirectory, PretrainStop Stop, long StepsDone, long TotalSteps, long StepsThisSession,
    string? LastCheckpoint, double? FirstLoss, double? LastLoss, double StepsPerSecond, double DataWaitShare);

/// <summary>The loss became NaN or infinite: training stopped before the optimiser step; the last checkpoint is intact.</summary>
public sealed class TrainingDivergedException(string message) : InvalidOperationException(message);

/// <summary>
/// A pretraining run in a folder (spec §6): LARS with the official parameter groups, the scaled lr with warm-up and
/// cosine per iteration, gradient accumulation, checkpoints (model online + target + EMA counter, momentum buffers,
/// schedule and loader position, torch RNG) written atomically, auto-resume that continues exactly, and logs
/// (<c>metrics.jsonl</c>, TensorBoard events under <c>tb/</c>, <c>curves.png</c>, <c>log.txt</c>).
/// <para>Gradient accumulation (<c>accumulate</c> &gt; 1) sums the gradients of several micro-batches per step (losses
/// divided by their count, as DDP averages per-GPU gradients) and updates the target network once per step. BatchNorm
/// still normalises each micro-batch with its own statistics — like per-GPU BN, not the official SyncBN over the whole
/// batch — so an accumulated run is not the official large-batch run, only its optimiser arithmetic.</para>
/// </summary>
public sealed class PretrainRun : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string RunFile = "run.json";
    public const string MetricsFile = "metrics.jsonl";
    public const string CurvesFile = "curves.png";
    public const string LogFile = "log.txt";
    public const string TensorBoardFolder = "tb";

    readonly IImageSource _source;
    readonly Dictionary<string, ProposalRecord>? _proposals;
    Checkpoint? _resume;
    readonly StreamWriter _log;

    PretrainRun(PretrainConfig config, PretrainOptions options, IImageSource source, Dictionary<string, ProposalRecord>? proposals, Checkpoint? resume, StreamWriter log)
    {
        Config = config;
        Options = options;
        _source = source;
        _proposals = proposals;
        _resume = resume;
        _log = log;
        Recipe = config.ViewRecipe;
        Sampler = new EpochSampler(source.Entries.Count, config.BatchSize, config.Seed);
        StepsPerEpoch = Sampler.BatchesPerEpoch / config.Accumulate;
        if (StepsPerEpoch == 0)
            throw new ArgumentException($"{source.Entries.Count} images give {Sampler.BatchesPerEpoch} batches of {config.BatchSize} per epoch, fewer than accumulate = {config.Accumulate}: no full step");
        TotalSteps = StepsPerEpoch * config.Epochs;
        Schedule = new WarmupCosineSchedule(WarmupCosineSchedule.ScaledLr(config.BaseLr, config.TotalBatch), (long)StepsPerEpoch * config.WarmupEpochs,
            TotalSteps, config.FinalLr, config.WarmupMultiplier);
        StepsDone = resume?.Meta.Step ?? 0;
    }

    public PretrainConfig Config { get; }
    public PretrainOptions Options { get; }
    public ViewRecipe Recipe { get; }
    public EpochSampler Sampler { get; }
    public WarmupCosineSchedule Schedule { get; }
    public int StepsPerEpoch { get; }
    public long TotalSteps { get; }
    /// <summary>Steps already done (from the checkpoint resumed from).</summary>
    public long StepsDone { get; private set; }
    public string? ResumedFrom => _resume?.Path;
    public string RunDirectory => Options.RunDirectory;
    public int ImageCount => _source.Entries.Count;

    /// <summary>
    /// Opens (or starts) the run in <see cref="PretrainOptions.RunDirectory"/>: checks the inputs, saves or checks the
    /// config (<paramref name="config"/> null → the run's saved one), and finds the checkpoint to resume from.
    /// </summary>
    public static PretrainRun Open(PretrainConfig? config, PretrainOptions options)
    {
        string dir = options.RunDirectory;
        string configPath = Path.Combine(dir, ConfigFile);
        PretrainConfig? saved = File.Exists(configPath) ? PretrainConfigs.Parse(File.ReadAllText(configPath), configPath) : null;
        config ??= saved ?? throw new ArgumentException($"{dir} holds no run ({ConfigFile} missing): give a --config");
        config.Validate();
        if (saved is not null && PretrainConfigs.Differences(saved, config) is { Count: > 0 } diff)
            throw new ArgumentException($"{dir} holds a run with another config ({string.Join("; ", diff)}); resume it with its own config (omit --config and --set) or use another --out");

        var source = ImageSources.Open(options.Images);
        Dictionary<string, ProposalRecord>? proposals = null;
        var notes = new List<string>();
        if (options.Proposals is { } p)
        {
            proposals = ProposalStore.Open(p).LoadIndex();
            int covered = source.Entries.Count(e => proposals.TryGetValue(e.Key, out var r) && !r.IsFailure);
            if (covered == 0)
                throw new ArgumentException($"the proposal store {p} has no proposals for any of the {source.Entries.Count} images in {options.Images} " +
                    $"(store keys e.g. {string.Join(", ", proposals.Keys.Take(3).Select(k => $"'{k}'"))}; image keys e.g. {string.Join(", ", source.Entries.Take(3).Select(e => $"'{e.Key}'"))}): it was made for other images");
            if (covered < source.Entries.Count)
                notes.Add($"{source.Entries.Count - covered} of {source.Entries.Count} images have no proposals in {p}: their views use whole-image boxes");
        }
        else notes.Add("no proposal store given: every view uses one whole-image box (a smoke test, not SoCo's training signal)");

        var store = new CheckpointStore(dir, config.KeepLast);
        Checkpoint? resume = null;
        if (options.ResumeFrom is { } from)
        {
            if (!File.Exists(from)) throw new FileNotFoundException($"checkpoint to resume from not found: {from}");
            resume = CheckpointStore.Load(from);
        }
        else
        {
            store.RemoveTemporaries();
            resume = store.LoadLatest(notes.Add);
        }
        if (resume is not null)
        {
            var ckConfig = PretrainConfigs.Parse(resume.Meta.Config, resume.Path);
            if (PretrainConfigs.Differences(ckConfig, config) is { Count: > 0 } d)
            {
                resume.Dispose();
                throw new ArgumentException($"checkpoint {resume.Path} was made with another config ({string.Join("; ", d)})");
            }
        }

        Directory.CreateDirectory(dir);
        if (saved is null) AtomicFile.WriteAllText(configPath, PretrainConfigs.ToJson(config));
        AtomicFile.WriteAllText(Path.Combine(dir, RunFile), JsonSerializer.Serialize(new RunInfo(Path.GetFullPath(options.Images),
            options.Proposals is null ? null : Path.GetFullPath(options.Proposals)), PretrainConfigs.Json));
        var log = new StreamWriter(new FileStream(Path.Combine(dir, LogFile), FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        var run = new PretrainRun(config, options, source, proposals, resume, log);
        foreach (var n in notes) run.Note(n);
        if (resume is not null) run.Note($"resuming from {resume.Path} (step {resume.Meta.Step} of {run.TotalSteps})");
        return run;
    }

    /// <summary>Images and proposals a run was started with (<c>run.json</c>), so a resume needs only the folder.</summary>
    public sealed record RunInfo(string Images, string? Proposals);

    public static RunInfo? ReadRunInfo(string runDirectory)
    {
        string p = Path.Combine(runDirectory, RunFile);
        return File.Exists(p) ? JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(p), PretrainConfigs.Json) : null;
    }

    void Note(string line)
    {
        _log.WriteLine($"{DateTime.UtcNow:O} {line}");
        Options.Log?.Invoke(line);
    }

    /// <summary>Runs the remaining steps. <paramref name="onStep"/> sees every logged step.</summary>
    public PretrainResult Run(Action<StepMetrics>? onStep = null, CancellationToken cancel = default)
    {
        if (StepsDone >= TotalSteps)
            return new PretrainResult(RunDirectory, PretrainStop.AlreadyFinished, StepsDone, TotalSteps, 0, ResumedFrom, null, _resume?.Meta.Loss, 0, 0);
        if (StepsDone >= Options.StopAfterStep)
            return new PretrainResult(RunDirectory, PretrainStop.StepLimit, StepsDone, TotalSteps, 0, ResumedFrom, null, _resume?.Meta.Loss, 0, 0);

        TorchRuntime.SetThreads(Options.Threads);
        var device = ResolveDevice(Options.Device);
        torch.manual_seed(Config.Seed);
        using var model = Config.BuildModel(ImageCount);
        model.to(device);
        model.train();
        using var lars = Lars.ForSoco(model.OnlineParameters(), Config.WeightDecay, Config.LarsOptions);
        if (_resume is not null)
        {
            _resume.Restore(model, lars);
            if (model.EmaStep != _resume.Meta.Step)
                Note($"note: checkpoint EMA counter {model.EmaStep} differs from its step {_resume.Meta.Step}");
            _resume.Dispose();
        }
        long step = StepsDone;
        var store = new CheckpointStore(RunDirectory, Config.KeepLast) { WrapStream = Options.CheckpointStreamWrapper };
        var dataset = new SocoDataset(_source, _proposals, Recipe, Config.Seed, Note);
        var loader = new SocoLoader(dataset, Sampler, new LoaderOptions { Workers = Options.Workers, PinMemory = device.type == DeviceType.CUDA });
        using var metrics = new MetricsLog(Path.Combine(RunDirectory, MetricsFile), step);
        using var tb = new TensorBoardWriter(Path.Combine(RunDirectory, TensorBoardFolder), step > 0 ? step + 1 : null);
        string curves = Path.Combine(RunDirectory, CurvesFile);
        string? lastCheckpoint = ResumedFrom;
        long sessionStart = step;
        double? firstLoss = null, lastLoss = null;
        double sessionSeconds = 0, sessionData = 0;
        var plotClock = Stopwatch.StartNew();
        int a = Config.Accumulate;
        var stop = PretrainStop.Finished;
        int unpaused = 0;

        string Save(int? epoch, double lr, double loss)
        {
            using var scope = NewDisposeScope();
            // A checkpoint must be one to go back to: weights that overflowed in the last update are not saved.
            if (model.parameters().FirstOrDefault(p => !isfinite(p).all().item<bool>()) is not null)
                throw new TrainingDivergedException($"the weights became NaN or infinite in step {step} (loss {loss}); nothing saved. " +
                    (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}.") +
                    " Lower base_lr or check the images, then rerun to resume from it.");
            var meta = new CheckpointMeta
            {
                Step = step, Epoch = (int)(step / StepsPerEpoch), Batch = (int)(step % StepsPerEpoch) * a, TotalSteps = TotalSteps,
                EmaStep = model.EmaStep, Lr = lr, Loss = loss, Model = Config.Model, Config = PretrainConfigs.ToJson(Config), SavedUtc = DateTime.UtcNow,
            };
            try
            {
                return lastCheckpoint = store.Save(Checkpoint.Capture(model, lars, meta), step, epoch);
            }
            catch (IOException e)
            {
                throw new IOException($"could not write the checkpoint of step {step}: {e.Message}. " +
                    (lastCheckpoint is null ? "No earlier checkpoint exists." : $"The previous checkpoint {lastCheckpoint} is intact; free space and rerun to resume from it."), e);
            }
        }

        try
        {
            for (int epoch = (int)(step / StepsPerEpoch); epoch < Config.Epochs && stop == PretrainStop.Finished; epoch++)
            {
                int startBatch = (int)(step % StepsPerEpoch) * a;
                using var batches = loader.Epoch(epoch, startBatch, cancel).GetEnumerator();
                while (step < (long)(epoch + 1) * StepsPerEpoch)
                {
                    var clock = Stopwatch.StartNew();
                    double dataSeconds = 0, lossSum = 0, lr = Schedule.At(step), momentum = model.NextMomentum;
                    int firstBatch = 0;
                    using (var pause = new FinalizerPause())
                    using (var microScale = (1.0 / a).ToScalar())
                    using (var scope = NewDisposeScope())
                    {
                        lars.LearningRate = lr;
                        lars.ZeroGrad();
                        for (int micro = 0; micro < a; micro++)
                        {
                            var wait = Stopwatch.StartNew();
                            if (!batches.MoveNext()) throw new InvalidOperationException($"the loader ended early in epoch {epoch}");
                            dataSeconds += wait.Elapsed.TotalSeconds;
                            using var data = batches.Current;
                            if (micro == 0) firstBatch = data.BatchIndex;
                            model.UpdateTargetInForward = micro == 0;
                            var loss = model.forward(BatchAdapter.ToModelBatch(data, Recipe, device));
                            (a > 1 ? loss.mul(microScale) : loss).backward();
                            // Read after the backward is queued (on a GPU, reading waits for the queued work), still
                            // before the optimiser step: a NaN/Inf loss never reaches the weights.
                            double value = loss.item<float>();
                            if (!double.IsFinite(value))
                                throw new TrainingDivergedException($"the loss is {value} at step {step + 1} (epoch {epoch}, batch {data.BatchIndex}); stopped before the optimiser step. " +
                                    (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}.") +
                                    " Lower base_lr or check the images, then rerun to resume from it.");
                            lossSum += value;
                        }
                        model.UpdateTargetInForward = true;
                        lars.Step();
                        if (!pause.Paused) unpaused++;
                    }
                    step++;
                    double stepSeconds = clock.Elapsed.TotalSeconds;
                    var m = new StepMetrics
                    {
                        Step = step, Epoch = epoch, Batch = firstBatch, Loss = lossSum / a, Lr = lr, EmaMomentum = momentum,
                        StepSeconds = stepSeconds, DataSeconds = dataSeconds, RssMb = Environment.WorkingSet >> 20, TimeUtc = DateTime.UtcNow,
                    };
                    firstLoss ??= m.Loss;
                    lastLoss = m.Loss;
                    sessionSeconds += stepSeconds;
                    sessionData += dataSeconds;
                    metrics.Append(m);
                    tb.Scalars(step, [("loss", (float)m.Loss), ("lr", (float)lr), ("ema_momentum", (float)momentum), ("step_seconds", (float)stepSeconds), ("data_wait_seconds", (float)dataSeconds)]);

                    bool epochEnd = step % StepsPerEpoch == 0;
                    int epochsDone = (int)(step / StepsPerEpoch);
                    bool saved = false;
                    if (epochEnd && (epochsDone % Config.SaveFreq == 0 || step == TotalSteps)) { Save(epochsDone, lr, m.Loss); saved = true; }
                    else if (Config.CheckpointSteps > 0 && step % Config.CheckpointSteps == 0) { Save(null, lr, m.Loss); saved = true; }
                    if (step < TotalSteps && (cancel.IsCancellationRequested || step >= Options.StopAfterStep))
                    {
                        stop = cancel.IsCancellationRequested ? PretrainStop.Cancelled : PretrainStop.StepLimit;
                        if (!saved) Save(null, lr, m.Loss);
                    }
                    onStep?.Invoke(m);
                    if (plotClock.Elapsed.TotalSeconds >= Options.PlotEverySeconds)
                    {
                        CurvePlot.Save(metrics.History, curves, Title(step));
                        plotClock.Restart();
                    }
                    if (stop != PretrainStop.Finished) break;
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            stop = PretrainStop.Cancelled;
        }
        finally
        {
            if (metrics.History.Count > 0) CurvePlot.Save(metrics.History, curves, Title(step));
        }
        StepsDone = step;
        long n = step - sessionStart;
        Note($"session: {n} steps, {(sessionSeconds > 0 ? n / sessionSeconds : 0):F2} steps/s, data wait {(sessionSeconds > 0 ? 100 * sessionData / sessionSeconds : 0):F1} % of step time; stopped: {stop}" +
             (unpaused > 0 ? $"; the finalizer thread could not be held in {unpaused} step(s) (see FinalizerPause)" : ""));
        return new PretrainResult(RunDirectory, stop, step, TotalSteps, n, lastCheckpoint, firstLoss, lastLoss,
            sessionSeconds > 0 ? n / sessionSeconds : 0, sessionSeconds > 0 ? sessionData / sessionSeconds : 0);
    }

    string Title(long step) =>
        $"{Config.Model} {Config.Depth}×{Config.BaseWidth}, {Recipe.Name}, batch {Config.TotalBatch}, lr {Schedule.PeakLr:G3}: step {step}/{TotalSteps}";

    /// <summary>cpu, cuda or cuda:N, with a clear reason when CUDA cannot be had (<see cref="TorchRuntime.ResolveDevice"/>).</summary>
    public static Device ResolveDevice(string name) => TorchRuntime.ResolveDevice(name);

    public void Dispose()
    {
        _resume?.Dispose();
        _resume = null;
        _source.Dispose();
        _log.Dispose();
    }
}

/// <summary>The loader's batch (<see cref="Data.SocoBatch"/>, the official tuple) as the model's input
/// (<see cref="Modeling.SocoBatch"/>): view 1, and per recipe pair (1, k) view k, its box lists and correspondence.</summary>
public static class BatchAdapter
{
    public static Modeling.SocoBatch ToModelBatch(Data.SocoBatch batch, ViewRecipe recipe, Device device)
    {
        // From pinned memory (LoaderOptions.PinMemory) the copy is asynchronous: the host goes on queueing the step's
        // kernels while the views travel; LibTorch's pinned-memory allocator keeps the source alive until the copy ends.
        Tensor D(Tensor t) => t.device_type == device.type && t.device_index == device.index ? t
            : t.to(device, non_blocking: device.type == DeviceType.CUDA && t.is_pinned());
        if (batch.Boxes1.Length != recipe.Pairs.Count)
            throw new ArgumentException($"batch has {batch.Boxes1.Length} pairs, recipe {recipe.Name} has {recipe.Pairs.Count}");
        return new Modeling.SocoBatch(D(batch.Images[0]),
            recipe.Pairs.Select(p => D(batch.Images[p.View - 1])).ToList(),
            batch.Boxes1.Select(D).ToList(), batch.BoxesK.Select(D).ToList(), batch.Correspondence.Select(D).ToList());
    }
}
