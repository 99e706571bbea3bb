using System.Diagnostics;
using System.Text.Json;
using Soco.Data;
using Soco.Distributed;
using Soco.Engine;
using Soco.IO;
using Soco.Modeling;
using Soco.Proposals;
using Soco.Runtime;
using Soco.Solver;
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
    /// <summary>Continue a run with other images or proposals than it was made with (<c>--allow-data-change</c>);
    /// otherwise such a resume is refused, naming what differs.</summary>
    public bool AllowDataChange { get; init; }
    /// <summary>Move unreadable checkpoints aside (to <c>checkpoints/unreadable/</c>, never deleted) and continue
    /// from the newest readable one, or from step 0 (<c>--restart</c>); otherwise an unreadable checkpoint stops the run.</summary>
    public bool Restart { get; init; }
    /// <summary>A checkpoint must be there to resume from (bare <c>--resume</c>): none is an error, not a fresh start.</summary>
    public bool RequireCheckpoint { get; init; }
    /// <summary>The processes of a data-parallel run (docs/distributed.md); null → one process. Rank 0 owns the run
    /// folder (lock, config, checkpoints, metrics, curves, log); every rank trains its part of each global batch.</summary>
    public ProcessGroup? Group { get; init; }
}

public enum PretrainStop { Finished, AlreadyFinished, StepLimit, Cancelled }

public sealed record PretrainResult(string RunDirectory, PretrainStop Stop, long StepsDone, long TotalSteps, long StepsThisSession,
    string? LastCheckpoint, double? FirstLoss, double? LastLoss, double StepsPerSecond, double DataWaitShare);

/// <summary>The loss became NaN or infinite: training stopped before the optimiser step; the last checkpoint is intact.</summary>
public sealed class TrainingDivergedException(string message) : InvalidOperationException(message);

/// <summary>
/// A pretraining run in a folder (docs/soco-reference.md §6): LARS with the official parameter groups, the scaled lr with warm-up and
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
    readonly IReadOnlyDictionary<string, ProposalRecord>? _proposals;
    Checkpoint? _resume;
    readonly TextWriter _log;
    readonly FolderLock? _lock;
    readonly long _segmentStart;

    PretrainRun(PretrainConfig config, PretrainOptions options, IImageSource source, IReadOnlyDictionary<string, ProposalRecord>? proposals, Checkpoint? resume, TextWriter log,
        FolderLock? folderLock, long segmentStart, long? stepsDone = null)
    {
        _lock = folderLock;
        _segmentStart = segmentStart;
        Config = config;
        Options = options;
        _source = source;
        _proposals = proposals;
        _resume = resume;
        _log = log;
        Recipe = config.ViewRecipe;
        Group = options.Group ?? new SingleProcessGroup();
        // batch_size is the global batch: rank r of n takes slice r of each one (the same run on any world size).
        var global = new EpochSampler(source.Entries.Count, config.BatchSize, config.Seed);
        Sampler = Group.IsDistributed ? global.SplitBatches(Group.Rank, Group.WorldSize) : global;
        StepsPerEpoch = Sampler.BatchesPerEpoch / config.Accumulate;
        if (StepsPerEpoch == 0)
            throw new ArgumentException($"{source.Entries.Count} images give {Sampler.BatchesPerEpoch} batches of {config.BatchSize} per epoch, fewer than accumulate = {config.Accumulate}: no full step");
        TotalSteps = StepsPerEpoch * config.Epochs;
        Schedule = new WarmupCosineSchedule(WarmupCosineSchedule.ScaledLr(config.BaseLr, config.TotalBatch), (long)StepsPerEpoch * config.WarmupEpochs,
            TotalSteps, config.FinalLr, config.WarmupMultiplier);
        StepsDone = stepsDone ?? resume?.Meta.Step ?? 0;
    }

    public ProcessGroup Group { get; }

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
        if (options.Group is { IsDistributed: true } g) return OpenDistributed(config, options, g);
        return OpenMain(config, options);
    }

    /// <summary>
    /// A data-parallel run: rank 0 opens the run folder as one process would (lock, checks, config, the checkpoint to
    /// resume from) and sends the others what they need — the resolved config, images, proposals and step — or its
    /// error, so every rank stops with it. The other ranks write nothing; they check they see the same image list.
    /// </summary>
    static PretrainRun OpenDistributed(PretrainConfig? config, PretrainOptions options, ProcessGroup g)
    {
        PretrainRun? run = null;
        string? error = null;
        if (g.IsMain)
        {
            try { run = OpenMain(config, options); }
            catch (Exception e) { g.BroadcastBytes(JsonSerializer.SerializeToUtf8Bytes(new OpenMessage(null, null, null, 0, null, e.Message))); throw; }
            var msg = new OpenMessage(PretrainConfigs.ToJson(run.Config), run.Options.Images, run.Options.Proposals, run.StepsDone,
                DataIdentity.Of(run.Options.Images, run._source, run.Options.Proposals, run._proposals), null);
            g.BroadcastBytes(JsonSerializer.SerializeToUtf8Bytes(msg));
        }
        else
        {
            var msg = JsonSerializer.Deserialize<OpenMessage>(g.BroadcastBytes([]))!;
            if (msg.Error is not null) throw new DistributedException($"rank 0 could not open the run: {msg.Error}");
            var cfg = PretrainConfigs.Parse(msg.Config!, "rank 0's config");
            var opts = options with { Images = msg.Images!, Proposals = msg.Proposals };
            var source = ImageSources.Open(opts.Images);
            ProposalIndex? proposals = opts.Proposals is { } p ? ProposalStore.Open(p).LoadCompactIndex(source.Entries) : null;
            var differs = msg.Data!.Differences(DataIdentity.Of(opts.Images, source, opts.Proposals, proposals));
            if (differs.Count > 0)
            {
                source.Dispose();
                error = $"rank {g.Rank} reads other data than rank 0 (rank 0's first): {string.Join("; ", differs)}. Every rank must read the same images and proposals";
            }
            else run = new PretrainRun(cfg, opts, source, proposals, null, TextWriter.Null, null, 0, msg.Step);
        }
        // Every rank learns whether all could open, so none waits in training for one that stopped.
        double failed = g.AllReduce(error is null ? 0 : 1);
        if (failed > 0)
        {
            run?.Dispose();
            throw new DistributedException(error ?? $"{failed} rank(s) could not open the run (see their messages)");
        }
        return run!;
    }

    sealed record OpenMessage(string? Config, string? Images, string? Proposals, long Step, DataIdentity? Data, string? Error);

    static PretrainRun OpenMain(PretrainConfig? config, PretrainOptions options)
    {
        string dir = options.RunDirectory;
        // One process per run folder: two would interleave metrics, rotate each other's checkpoints and remove each
        // other's temporary files. The lock is taken before anything is read, so what is read stays true.
        var folderLock = FolderLock.Acquire(dir, "soco pretrain");
        try
        {
            return OpenLocked(config, options, folderLock);
        }
        catch
        {
            folderLock.Dispose();
            throw;
        }
    }

    static PretrainRun OpenLocked(PretrainConfig? config, PretrainOptions options, FolderLock folderLock)
    {
        string dir = options.RunDirectory;
        string configPath = Path.Combine(dir, ConfigFile);
        PretrainConfig? saved;
        try
        {
            saved = File.Exists(configPath) ? PretrainConfigs.Parse(File.ReadAllText(configPath), configPath) : null;
        }
        catch (ArgumentException e) when (e.InnerException is System.Text.Json.JsonException json)
        {
            // Not valid JSON: the file was damaged (a valid file with a bad value stays the ArgumentException it is).
            throw new InvalidDataException($"{configPath} is damaged ({json.Message}); the run's config cannot be checked. Restore it, or start the run in another --out");
        }
        config ??= saved ?? throw new ArgumentException($"{dir} holds no run ({ConfigFile} missing): give a --config");
        config.Validate();
        if (saved is not null && PretrainConfigs.Differences(saved, config) is { Count: > 0 } diff)
            throw new ArgumentException($"{dir} holds a run with another config ({string.Join("; ", diff)}); resume it with its own config (omit --config and --set) or use another --out");

        var source = ImageSources.Open(options.Images);
        ProposalIndex? proposals = null;
        var notes = new List<string>();
        if (options.Proposals is { } p)
        {
            proposals = ProposalStore.Open(p).LoadCompactIndex(source.Entries);
            int covered = source.Entries.Count(e => proposals.TryGetValue(e.Key, out var r) && !r.IsFailure);
            if (covered == 0)
                throw new ArgumentException($"the proposal store {p} has no proposals for any of the {source.Entries.Count} images in {options.Images} " +
                    $"(store keys e.g. {string.Join(", ", proposals.Keys.Take(3).Select(k => $"'{k}'"))}; image keys e.g. {string.Join(", ", source.Entries.Take(3).Select(e => $"'{e.Key}'"))}): it was made for other images");
            if (covered < source.Entries.Count)
                notes.Add($"{source.Entries.Count - covered} of {source.Entries.Count} images have no proposals in {p}: their views use whole-image boxes");
        }
        else notes.Add("no proposal store given: every view uses one whole-image box (a smoke test, not SoCo's training signal)");

        if (folderLock.TookOverFrom is { } stale) notes.Add($"{dir}: took over {stale}");
        var store = new CheckpointStore(dir, config.KeepLast);
        var resume = store.OpenResume(options.ResumeFrom, options.Restart, options.RequireCheckpoint, notes);
        if (resume is not null)
        {
            var ckConfig = PretrainConfigs.Parse(resume.Meta.Config, resume.Path);
            if (PretrainConfigs.Differences(ckConfig, config) is { Count: > 0 } d)
            {
                resume.Dispose();
                throw new ArgumentException($"checkpoint {resume.Path} was made with another config ({string.Join("; ", d)})");
            }
        }

        // The data a run continues with must be the data it was made with (the step/epoch mapping, the warm-up and every
        // sample depend on it): a resume with other images or proposals is refused unless asked for explicitly.
        var data = DataIdentity.Of(options.Images, source, options.Proposals, proposals);
        var previous = ReadRunInfo(dir);
        var segments = new List<DataSegment>(previous?.Segments ?? []);
        if (resume is not null)
        {
            if (previous?.Data is { } before)
            {
                var dataDiff = before.Differences(data);
                if (dataDiff.Count > 0 && !options.AllowDataChange)
                {
                    resume.Dispose();
                    throw new ArgumentException($"{dir} was trained on other data than given now: {string.Join("; ", dataDiff)}. " +
                        "Resuming would change the step/epoch mapping and every sample. Give the run's own --images/--proposals (or omit them), " +
                        "use another --out, or pass --allow-data-change to continue this run on the new data from step " + resume.Meta.Step + ".");
                }
                if (dataDiff.Count > 0)
                {
                    // The new data maps steps to other epochs, so its epoch checkpoints would overwrite the old ones of the
                    // same name: the old history moves to its own folder, kept whole.
                    string kept = store.MoveHistoryAside($"data-until-step-{resume.Meta.Step}");
                    notes.Add($"--allow-data-change: continuing from step {resume.Meta.Step} on other data ({string.Join("; ", dataDiff)}); " +
                              $"the checkpoints written before are kept in {kept}");
                    segments.Add(new DataSegment(resume.Meta.Step, data));
                }
            }
            else notes.Add($"{Path.Combine(dir, RunFile)} records no data fingerprint (made by an older version): the data cannot be checked this time");
        }
        else segments.Clear();
        if (segments.Count == 0) segments.Add(new DataSegment(0, data));

        Directory.CreateDirectory(dir);
        if (saved is null) AtomicFile.WriteAllText(configPath, PretrainConfigs.ToJson(config));
        AtomicFile.WriteAllText(Path.Combine(dir, RunFile), JsonSerializer.Serialize(new RunInfo(Path.GetFullPath(options.Images),
            options.Proposals is null ? null : Path.GetFullPath(options.Proposals)) { Data = data, Segments = segments }, PretrainConfigs.Json));
        foreach (var pr in source.Problems) notes.Add($"warning: {pr.Location}: {pr.Reason}");
        if (proposals is not null && ProposalStore.Open(options.Proposals!).Info is { } pinfo && pinfo.Generator != "imported" && !pinfo.Parameters.ContainsKey("filter"))
            notes.Add($"note: {options.Proposals} is an unfiltered store (every selective-search box, including one-pixel-wide ones); SoCo trains on " +
                      $"filtered proposals: soco proposals filter --store {options.Proposals} --out <filtered> --strategy ratio3size0308post");
        var log = new StreamWriter(new FileStream(Path.Combine(dir, LogFile), FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        var run = new PretrainRun(config, options, source, proposals, resume, log, folderLock, segments[^1].FromStep);
        foreach (var n in notes) run.Note(n);
        if (resume is not null) run.Note($"resuming from {resume.Path} (step {resume.Meta.Step} of {run.TotalSteps})");
        return run;
    }

    /// <summary>Images and proposals a run was started with (<c>run.json</c>), so a resume needs only the folder.</summary>
    /// <param name="Data">What the data is (counts and fingerprints), checked on every resume.</param>
    /// <param name="Segments">From which step on each data was used (more than one only after <c>--allow-data-change</c>);
    /// checkpoint rotation never deletes the checkpoints of an earlier segment.</param>
    public sealed record RunInfo(string Images, string? Proposals)
    {
        public DataIdentity? Data { get; init; }
        public IReadOnlyList<DataSegment>? Segments { get; init; }
    }

    public static RunInfo? ReadRunInfo(string runDirectory)
    {
        string p = Path.Combine(runDirectory, RunFile);
        if (!File.Exists(p)) return null;
        try
        {
            return JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(p), PretrainConfigs.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{p} is damaged ({e.Message}); restore it or give --images and --proposals again");
        }
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

        ManagedHeap.CompactAfterLoading(); // the images' list and the proposal index are loaded: start the run without their garbage
        TorchRuntime.SetThreads(Options.Threads);
        var device = ResolveDevice(Options.Device);
        torch.manual_seed(Config.Seed);
        using var model = Config.BuildModel(ImageCount, Group);
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
        DataParallel? dataParallel = null;
        if (Group.IsDistributed)
        {
            // Every rank starts from rank 0's weights, buffers (EMA counter included) and LARS momentum (DDP's broadcast).
            DataParallel.BroadcastModule(Group, model);
            var state = DataParallel.BroadcastState(Group, Group.IsMain ? lars.StateDict() : null);
            if (!Group.IsMain && state.Count > 0) lars.LoadStateDict(state);
            dataParallel = new DataParallel(Group, model.OnlineParameters().Select(p => p.Parameter));
        }
        long sessionStart = StepsDone;
        var store = new CheckpointStore(RunDirectory, Config.KeepLast) { WrapStream = Options.CheckpointStreamWrapper, KeepUpToStep = _segmentStart };
        var dataset = new SocoDataset(_source, _proposals, Recipe, Config.Seed, Note);
        var loader = new SocoLoader(dataset, Sampler, new LoaderOptions { Workers = Options.Workers, PinMemory = device.type == DeviceType.CUDA });
        // Rank 0 alone writes the run's files.
        using var metrics = Group.IsMain ? new MetricsLog(Path.Combine(RunDirectory, MetricsFile), sessionStart, Note) : null;
        using var tb = Group.IsMain ? new TensorBoardWriter(Path.Combine(RunDirectory, TensorBoardFolder), sessionStart > 0 ? sessionStart + 1 : null) : null;
        string? lastCheckpoint = ResumedFrom;
        // Under data parallelism a stop is agreed at a step boundary (Trainer), never mid-step by the loader on one rank.
        var task = new PretrainStep(this, model, loader, device, Group.IsDistributed ? CancellationToken.None : cancel);

        string Save(long step, int? epoch)
        {
            using var scope = NewDisposeScope();
            // A checkpoint must be one to go back to: weights that overflowed in the last update are not saved.
            if (model.parameters().FirstOrDefault(p => !isfinite(p).all().item<bool>()) is not null)
                throw new TrainingDivergedException($"the weights became NaN or infinite in step {step} (loss {task.LastLoss}); nothing saved. " +
                    (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}.") +
                    " Lower base_lr or check the images, then rerun to resume from it.");
            var meta = new CheckpointMeta
            {
                Step = step, Epoch = (int)(step / StepsPerEpoch), Batch = (int)(step % StepsPerEpoch) * Config.Accumulate, TotalSteps = TotalSteps,
                EmaStep = model.EmaStep, Lr = task.LastLr, Loss = task.LastLoss, Model = Config.Model, Config = PretrainConfigs.ToJson(Config), SavedUtc = DateTime.UtcNow,
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

        // Pretraining on the engine: the step is PretrainStep's; schedule, logs, checkpoint policy and the caller's
        // progress are hooks, in the order the logs were always written (metrics line and event, then checkpoint).
        IHook[] hooks = metrics is not null && tb is not null
            ?
            [
                new LrScheduleHook(Schedule), task,
                new MetricsHook(metrics, tb, TensorBoardTags, Path.Combine(RunDirectory, CurvesFile), Title, Options.PlotEverySeconds),
                new CheckpointHook(Save, StepsPerEpoch, Config.SaveFreq, Config.CheckpointSteps),
                new ProgressHook(_ => onStep?.Invoke(metrics.History[^1])),
            ]
            : [new LrScheduleHook(Schedule), task];
        var trainer = new Trainer(task, lars, TotalSteps, hooks, sessionStart, Config.Accumulate)
        {
            DataParallel = dataParallel,
            StopAfter = Options.StopAfterStep,
            DescribeNonFiniteLoss = (step, _, value) => $"the loss is {value} at step {step} (epoch {task.Epoch}, batch {task.BatchIndex}); stopped before the optimiser step. " +
                (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}.") +
                " Lower base_lr or check the images, then rerun to resume from it.",
        };
        TrainStop ended;
        try
        {
            ended = trainer.Train(cancel);
        }
        catch (NonFiniteLossException e)
        {
            throw new TrainingDivergedException(e.Message);
        }
        var stop = ended switch
        {
            TrainStop.Cancelled => PretrainStop.Cancelled,
            TrainStop.StepLimit => PretrainStop.StepLimit,
            TrainStop.AlreadyFinished => PretrainStop.AlreadyFinished,
            _ => PretrainStop.Finished,
        };
        long step = StepsDone = trainer.Iter;
        long n = step - sessionStart;
        double sessionSeconds = task.SessionSeconds, sessionData = task.SessionDataSeconds;
        int unpaused = trainer.UnpausedSteps;
        Note($"session: {n} steps, {(sessionSeconds > 0 ? n / sessionSeconds : 0):F2} steps/s, data wait {(sessionSeconds > 0 ? 100 * sessionData / sessionSeconds : 0):F1} % of step time; stopped: {stop}" +
             (unpaused > 0 ? $"; the finalizer thread could not be held in {unpaused} step(s) (see FinalizerPause)" : ""));
        return new PretrainResult(RunDirectory, stop, step, TotalSteps, n, lastCheckpoint, task.FirstLoss, n > 0 ? task.LastLoss : null,
            sessionSeconds > 0 ? n / sessionSeconds : 0, sessionSeconds > 0 ? sessionData / sessionSeconds : 0);
    }

    /// <summary>The TensorBoard tags of a pretraining run (scalar → tag), as its event files always had them.</summary>
    static readonly (string Scalar, string Tag)[] TensorBoardTags =
        [("loss", "loss"), ("lr", "lr"), ("ema_momentum", "ema_momentum"), ("step_seconds", "step_seconds"), ("data_seconds", "data_wait_seconds")];

    /// <summary>
    /// SoCo pretraining as the engine's run_step: each micro-batch is the loader's next batch of the step's epoch through
    /// the model (online forward, the target network's EMA update on the first micro-batch only, target forward, loss).
    /// As a hook it records the step's epoch, first batch, EMA momentum and data wait, and closes the epoch's loader.
    /// </summary>
    sealed class PretrainStep(PretrainRun run, SocoModel model, SocoLoader loader, Device device, CancellationToken cancel) : IRunStep, IHook
    {
        IEnumerator<Data.SocoBatch>? _batches;
        int _batchesEpoch = -1;
        Data.SocoBatch? _data;
        double _dataSeconds, _momentum;
        int _firstBatch;

        public int Epoch { get; private set; }
        public int BatchIndex { get; private set; }
        public double? FirstLoss { get; private set; }
        public double LastLoss { get; private set; }
        public double LastLr { get; private set; }
        public double SessionSeconds { get; private set; }
        public double SessionDataSeconds { get; private set; }

        public void BeforeStep(Trainer trainer)
        {
            _dataSeconds = 0;
            _momentum = model.NextMomentum;
            Epoch = (int)(trainer.Iter / run.StepsPerEpoch);
        }

        public TorchSharp.torch.Tensor Forward(Trainer trainer, int micro)
        {
            ReleaseBatch();
            if (_batchesEpoch != Epoch)
            {
                _batches?.Dispose();
                _batches = loader.Epoch(Epoch, (int)(trainer.Iter % run.StepsPerEpoch) * trainer.Accumulate, cancel).GetEnumerator();
                _batchesEpoch = Epoch;
            }
            var wait = Stopwatch.StartNew();
            if (!_batches!.MoveNext()) throw new InvalidOperationException($"the loader ended early in epoch {Epoch}");
            _dataSeconds += wait.Elapsed.TotalSeconds;
            var data = _data = _batches.Current;
            BatchIndex = data.BatchIndex;
            if (micro == 0) _firstBatch = data.BatchIndex;
            model.UpdateTargetInForward = micro == 0;
            run.CheckBoxes(data, trainer.Iter + 1);
            try
            {
                return model.forward(BatchAdapter.ToModelBatch(data, run.Recipe, device, run.Config.Precision == "fp64" ? ScalarType.Float64 : null));
            }
            catch (ArgumentException e)
            {
                // A data error surfaces deep in the model; say where it came from, so it can be found and fixed.
                throw new InvalidDataException($"step {trainer.Iter + 1} (epoch {Epoch}, batch {data.BatchIndex}; images {run.ImagesOf(data)}): {e.Message}", e);
            }
        }

        public void BeforeOptimizerStep(Trainer trainer)
        {
            ReleaseBatch();
            model.UpdateTargetInForward = true;
        }

        public void AfterStep(Trainer trainer)
        {
            var s = trainer.Storage;
            s.Put("epoch", Epoch);
            s.Put("batch", _firstBatch);
            s.Put("ema_momentum", _momentum);
            s.Put("data_seconds", _dataSeconds);
            LastLoss = s["loss"];
            LastLr = s["lr"];
            FirstLoss ??= LastLoss;
            SessionSeconds += s["step_seconds"];
            SessionDataSeconds += _dataSeconds;
            if (trainer.Iter % run.StepsPerEpoch == 0) CloseEpoch();
        }

        public void AfterTrain(Trainer trainer)
        {
            ReleaseBatch();
            CloseEpoch();
            model.UpdateTargetInForward = true;
        }

        void ReleaseBatch()
        {
            _data?.Dispose();
            _data = null;
        }

        void CloseEpoch()
        {
            _batches?.Dispose();
            _batches = null;
            _batchesEpoch = -1;
        }
    }

    /// <summary>The images of a batch, for messages.</summary>
    string ImagesOf(Data.SocoBatch data)
    {
        var idx = data.Index.data<long>().ToArray();
        return string.Join(", ", idx.Select(i => i >= 0 && i < _source.Entries.Count ? _source.Entries[(int)i].Location : $"#{i}"));
    }

    /// <summary>Every box the model is about to pool must be finite and not inverted; a bad one is named with its image and step.</summary>
    void CheckBoxes(Data.SocoBatch data, long stepNumber)
    {
        var idx = data.Index.data<long>().ToArray();
        foreach (var (lists, side) in new[] { (data.Boxes1, "view 1"), (data.BoxesK, "partner view") })
            for (int p = 0; p < lists.Length; p++)
            {
                var v = lists[p].data<float>().ToArray();
                int perSample = v.Length / Math.Max(1, idx.Length);
                for (int i = 0; i + 4 < v.Length; i += 5)
                {
                    float x1 = v[i], y1 = v[i + 1], x2 = v[i + 2], y2 = v[i + 3];
                    if (float.IsFinite(x1) && float.IsFinite(y1) && float.IsFinite(x2) && float.IsFinite(y2) && x2 >= x1 && y2 >= y1) continue;
                    long sample = idx[Math.Min(idx.Length - 1, i / Math.Max(1, perSample))];
                    string image = sample >= 0 && sample < _source.Entries.Count ? _source.Entries[(int)sample].Location : $"#{sample}";
                    throw new InvalidDataException($"step {stepNumber} (epoch {data.Epoch}, batch {data.BatchIndex}): image {image} gives a bad box in {side} of pair {p + 1}: " +
                        $"[{x1}, {y1}, {x2}, {y2}] (normalised; inverted or not finite). The last checkpoint is intact; check this image's proposals.");
                }
            }
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
        _lock?.Dispose();
    }
}

/// <summary>The loader's batch (<see cref="Data.SocoBatch"/>, the official tuple) as the model's input
/// (<see cref="Modeling.SocoBatch"/>): view 1, and per recipe pair (1, k) view k, its box lists and correspondence.</summary>
public static class BatchAdapter
{
    /// <param name="imageType">The views' type when the model's is not float32 (precision=fp64); null: as loaded.</param>
    public static Modeling.SocoBatch ToModelBatch(Data.SocoBatch batch, ViewRecipe recipe, Device device, ScalarType? imageType = null)
    {
        // From pinned memory (LoaderOptions.PinMemory) the copy is asynchronous: the host goes on queueing the step's
        // kernels while the views travel; LibTorch's pinned-memory allocator keeps the source alive until the copy ends.
        Tensor D(Tensor t) => t.device_type == device.type && t.device_index == device.index ? t
            : t.to(device, non_blocking: device.type == DeviceType.CUDA && t.is_pinned());
        if (batch.Boxes1.Length != recipe.Pairs.Count)
            throw new ArgumentException($"batch has {batch.Boxes1.Length} pairs, recipe {recipe.Name} has {recipe.Pairs.Count}");
        Tensor V(Tensor t) => imageType is { } type && t.dtype != type ? D(t).to(type) : D(t);
        return new Modeling.SocoBatch(V(batch.Images[0]),
            recipe.Pairs.Select(p => V(batch.Images[p.View - 1])).ToList(),
            batch.Boxes1.Select(D).ToList(), batch.BoxesK.Select(D).ToList(), batch.Correspondence.Select(D).ToList());
    }
}
