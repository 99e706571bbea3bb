using Soco.Engine;
using Soco.Training;

namespace Soco.Api;

/// <summary>A detector fine-tuning run (<see cref="SocoFinetuning.RunAsync"/>).</summary>
public sealed record FinetuningOptions
{
    /// <summary>Training annotations: a COCO instances JSON, or a Pascal VOC folder.</summary>
    public required string Train { get; init; }
    /// <summary>Folder of the training images (default for a VOC folder: its <c>JPEGImages/</c>).</summary>
    public string? TrainImages { get; init; }
    /// <summary>Validation annotations and images: COCO bbox AP logged during and after training.</summary>
    public string? Val { get; init; }
    public string? ValImages { get; init; }
    /// <summary>Where the backbone starts: a SoCo pretraining run folder, checkpoint or model file, a torchvision
    /// ResNet <c>.pth</c>, or <c>none</c>.</summary>
    public string Init { get; init; } = "none";
    /// <summary>Run folder (config, checkpoints, metrics, <c>model_final.pth</c>). A folder with checkpoints resumes.</summary>
    public required string RunDirectory { get; init; }
    /// <summary>A preset (<c>soco_fpn_1x</c>, <c>finetune_demo</c>) or a JSON file.</summary>
    public string Config { get; init; } = "soco_fpn_1x";
    /// <summary><c>key=value</c> overrides of the config, e.g. <c>solver.max_iter=500</c> (or the flat alias <c>max_iter=500</c>).</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; } = Environment.ProcessorCount;
    public long? StopAfterStep { get; init; }
    public Action<string>? Log { get; init; }
}

/// <summary>One fine-tuning step done: step (1-based) of total, its loss (the sum of the four) and learning rate.</summary>
public sealed record FinetuneProgress(long Step, long TotalSteps, double Loss, double Lr);

/// <summary>Fine-tuning a Faster R-CNN R-FPN detector (<c>soco finetune</c>): Detectron2's recipe with SoCo's changes.</summary>
public static class SocoFinetuning
{
    /// <summary>
    /// Trains to the end (or <see cref="FinetuningOptions.StopAfterStep"/>); <see cref="FinetuneResult.ModelFile"/> is the
    /// detector for <see cref="SocoDetector.Load"/>. Cancelling stops at the next step boundary with a checkpoint.
    /// </summary>
    public static Task<FinetuneResult> RunAsync(FinetuningOptions options, IProgress<FinetuneProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Task.Run(() =>
        {
            var config = FinetuneConfigs.Load(options.Config, options.Overrides);
            using var run = FinetuneRun.Open(config, new FinetuneOptions
            {
                Train = options.Train, TrainImages = options.TrainImages, Val = options.Val, ValImages = options.ValImages,
                Init = options.Init, RunDirectory = options.RunDirectory, Device = options.Device, Threads = options.Threads,
                StopAfterStep = options.StopAfterStep, Log = options.Log ?? (_ => { }),
            });
            return run.Run(t => progress?.Report(new FinetuneProgress(t.Iter, run.TotalSteps, t.Storage["loss"], t.Storage["lr"])),
                cancellationToken);
        }, CancellationToken.None);
    }
}
