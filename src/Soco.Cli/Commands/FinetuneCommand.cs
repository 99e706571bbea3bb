using System.CommandLine;
using System.Globalization;
using Soco.Engine;
using Soco.Training;

namespace Soco.Cli.Commands;

/// <summary>`soco finetune`: trains a Faster R-CNN R-FPN detector from a SoCo checkpoint (or scratch, or a torchvision
/// backbone) into a run folder; resumes exactly when run again. Parsing and printing only: the run is <see cref="FinetuneRun"/>.</summary>
public static class FinetuneCommand
{
    public static Command Build()
    {
        var config = new Option<string?>("--config") { Description = "Preset (configs/finetune/<name>.json: soco_fpn_1x, soco_c4_1x, soco_mask_rcnn_fpn_1x, soco_mask_rcnn_c4_1x, finetune_demo, finetune_demo_c4, finetune_mask_demo, finetune_mask_demo_c4) or a JSON file; omit to resume a run folder with its saved config" };
        var set = new Option<string[]>("--set") { Description = "Override a config key, section.key=value (repeatable), e.g. --set solver.max_iter=500; the old flat keys (max_iter=500) are aliases" };
        var init = new Option<string>("--init") { Description = "SoCo checkpoint / model file / pretraining run folder, a torchvision ResNet .pth, or none", DefaultValueFactory = _ => "none" };
        var train = new Option<string>("--train") { Description = "Training annotations: COCO instances JSON, or a Pascal VOC folder", Required = true };
        var trainImages = new Option<string?>("--train-images") { Description = "Folder of the training images (default for a VOC folder: its JPEGImages/)" };
        var val = new Option<string?>("--val") { Description = "Validation annotations (COCO JSON or VOC folder): COCO bbox AP logged during and after training" };
        var valImages = new Option<string?>("--val-images") { Description = "Folder of the validation images" };
        var output = new Option<string>("--out") { Description = "Run folder (config.json, checkpoints/, metrics.jsonl, tb/, curves.png, log.txt, model_final.pth)", Required = true };
        var stopAfter = new Option<long?>("--stop-after") { Description = "Stop (with a checkpoint) once the run has done this many steps in total" };
        var resume = new Option<string?>("--resume") { Description = "Resume: alone, from the run folder's newest checkpoint (an error if it has none); with a path, from that checkpoint. Without --resume a run folder holding checkpoints resumes anyway", Arity = ArgumentArity.ZeroOrOne };
        var restart = new Option<bool>("--restart") { Description = "Move unreadable checkpoints to checkpoints/unreadable/ (kept) and continue from the newest readable one, or from step 0" };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var sampler = new Option<string?>("--sampler") { Description = "uniform (each image once per epoch) or repeat-factor (Detectron2's RepeatFactorTrainingSampler, for long-tailed data such as LVIS); same as --set data.sampler=..." };
        sampler.AcceptOnlyFromAmong("uniform", "repeat-factor", "repeat_factor");
        var repeatThreshold = new Option<double?>("--repeat-threshold") { Description = "t of the repeat-factor sampler: images of categories in fewer than this fraction of images are repeated (LVIS: 0.001)" };
        var cmd = new Command("finetune", "Fine-tune a Faster R-CNN R-FPN or R-C4 detector (Detectron2's recipe with SoCo's changes): SGD, warm-up + steps, checkpoints, exact resume, metrics, evaluation on --val")
            { config, set, init, train, trainImages, val, valImages, output, stopAfter, resume, restart, device, threads, sampler, repeatThreshold };
        cmd.SetAction(p => SocoCli.Guard(() => PretrainCommand.Checked(() =>
        {
            var overrides = (p.GetValue(set) ?? []).ToList();
            if (p.GetValue(sampler) is { } smp) overrides.Add("data.sampler=" + smp.Replace('-', '_'));
            if (p.GetValue(repeatThreshold) is { } rt) overrides.Add(string.Create(CultureInfo.InvariantCulture, $"data.repeat_threshold={rt:R}"));
            FinetuneConfig? cfg = p.GetValue(config) is { } c ? FinetuneConfigs.Load(c, overrides) : null;
            if (cfg is null && overrides.Count > 0) throw new ArgumentException("--set, --sampler and --repeat-threshold need a --config to apply to");
            var options = new FinetuneOptions
            {
                Train = p.GetValue(train)!, TrainImages = p.GetValue(trainImages), Val = p.GetValue(val), ValImages = p.GetValue(valImages),
                Init = p.GetValue(init)!, RunDirectory = p.GetValue(output)!, Device = p.GetValue(device)!, Threads = p.GetValue(threads),
                StopAfterStep = p.GetValue(stopAfter), Log = Out.Info,
                ResumeFrom = p.GetValue(resume), Restart = p.GetValue(restart), RequireCheckpoint = p.GetResult(resume) is not null && p.GetValue(resume) is null,
                Group = Soco.Distributed.ProcessGroup.World,
            };
            // Under mpirun/srun the other ranks print only their errors and warnings (rank 0 reports the run).
            using var quiet = options.Group is { IsMain: false } g ? Out.RedirectTo(new RankMessages(g.Rank)) : null;
            using var run = FinetuneRun.Open(cfg, options);
            var k = run.Config;
            Out.Info($"finetune ResNet-{k.Depth} width {k.BaseWidth} {k.Arch.ToUpperInvariant()}, {run.Data.Samples.Count} images, {k.ImagesPerStep} per step, {run.TotalSteps} steps, " +
                     string.Create(CultureInfo.InvariantCulture, $"lr {k.BaseLr:G4} (warm-up {k.WarmupIters}, steps {string.Join("/", k.Steps)}); init {options.Init}; device {options.Device} → {options.RunDirectory}"));
            using var signals = new StopSignals("stopping at the next step boundary with a checkpoint (run the same command again to resume)");
            long stopAt = Math.Min(run.TotalSteps, options.StopAfterStep ?? run.TotalSteps);
            int remaining = (int)Math.Max(0, stopAt - run.StepsDone);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long first = run.StepsDone;
            var r = Out.WithProgress("finetune", remaining, tick => run.Run(t =>
            {
                double rate = (t.Iter - first) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                double eta = rate > 0 ? (stopAt - t.Iter) / rate : 0;
                tick(1, string.Create(CultureInfo.InvariantCulture, $"step {t.Iter}/{run.TotalSteps} loss {t.Storage["loss"]:F4} lr {t.Storage["lr"]:E2} {rate:F2} step/s ETA {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}"));
            }, signals.Token));
            string state = r.Stop switch
            {
                TrainStop.Finished => "finished", TrainStop.AlreadyFinished => "already finished",
                TrainStop.StepLimit => "stopped at the step limit (rerun to continue)", _ => "interrupted (rerun to continue)",
            };
            Out.Ok($"{r.RunDirectory}: {state}, {r.StepsDone}/{r.TotalSteps} steps ({r.StepsThisSession} now" +
                   (r.FirstLoss is double f && r.LastLoss is double l ? string.Create(CultureInfo.InvariantCulture, $", loss {f:F4} → {l:F4}, {r.StepsPerSecond:F2} steps/s") : "") + ")");
            if (r.LastEval is { } ev) Out.Ok(string.Create(CultureInfo.InvariantCulture, $"val AP {ev["AP"]:F4} AP50 {ev["AP50"]:F4} AP75 {ev["AP75"]:F4}"));
            if (r.ModelFile is not null) Out.Ok($"detector model file: {r.ModelFile} (soco detect --checkpoint / soco evaluate --checkpoint)");
            return r.Stop == TrainStop.Cancelled ? (signals.ExitCode != 0 ? signals.ExitCode : 130) : 0;
        })));
        return cmd;
    }
}
