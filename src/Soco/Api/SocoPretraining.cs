using Soco.Training;

namespace Soco.Api;

/// <summary>A pretraining run (<see cref="SocoPretraining.RunAsync"/>).</summary>
public sealed record PretrainingOptions
{
    /// <summary>The images proposals were made for (the same folder, zip or list).</summary>
    public required string Images { get; init; }
    /// <summary>The filtered proposal store (<see cref="ProposalResult.Store"/>).</summary>
    public required string Proposals { get; init; }
    /// <summary>Run folder: config, checkpoints, metrics, TensorBoard events, curves. A folder with checkpoints resumes.</summary>
    public required string RunDirectory { get; init; }
    /// <summary>A preset (<c>demo</c>, <c>soco_fpn_100ep</c>, <c>soco_fpn_400ep</c>, <c>soco_fpn_star_400ep</c>,
    /// <c>soco_c4_100ep</c>, <c>soco_c4_400ep</c>) or a JSON file of the keys to change.</summary>
    public string Config { get; init; } = "demo";
    /// <summary><c>key=value</c> overrides of the config, e.g. <c>solver.epochs=10</c> (or the flat alias <c>epochs=10</c>).</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];
    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Torch threads and loader threads.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Stop with a checkpoint once the run has done this many steps in total (null: to the end).</summary>
    public long? StopAfterStep { get; init; }
    /// <summary>Loader warnings and resume notes; null: discarded.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>SoCo pretraining (<c>soco pretrain</c>) as a call: LARS, warm-up + cosine, atomic checkpoints, exact resume.</summary>
public static class SocoPretraining
{
    /// <summary>
    /// Trains until the end (or <see cref="PretrainingOptions.StopAfterStep"/>), reporting every step. Cancelling stops at
    /// the next step boundary with a checkpoint; the result then says <see cref="PretrainStop.Cancelled"/> (run again to
    /// continue). A finished run folder is reused as it is.
    /// </summary>
    public static Task<PretrainResult> RunAsync(PretrainingOptions options, IProgress<StepMetrics>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Task.Run(() =>
        {
            var config = PretrainConfigs.Load(options.Config, options.Overrides);
            using var run = PretrainRun.Open(config, new PretrainOptions
            {
                Images = options.Images, Proposals = options.Proposals, RunDirectory = options.RunDirectory,
                Device = options.Device, Threads = options.Threads, Workers = options.Workers,
                StopAfterStep = options.StopAfterStep, Log = options.Log ?? (_ => { }),
            });
            return run.Run(m => progress?.Report(m), cancellationToken);
        }, CancellationToken.None);
    }
}
