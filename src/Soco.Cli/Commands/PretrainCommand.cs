using System.CommandLine;
using System.Globalization;
using Soco.Training;
using Spectre.Console;

namespace Soco.Cli.Commands;

/// <summary>`soco pretrain`: SoCo pretraining into a run folder (config, checkpoints, metrics, TensorBoard, curves); resumes automatically.</summary>
public static class PretrainCommand
{
    public static Command Build()
    {
        var config = new Option<string?>("--config") { Description = "Preset (configs/<name>.json: demo, soco_c4_100ep, soco_c4_400ep, soco_fpn_100ep, soco_fpn_400ep, soco_fpn_star_400ep) or a JSON file; omit to resume a run folder with its saved config" };
        var set = new Option<string[]>("--set") { Description = "Override a config key, section.key=value (repeatable), e.g. --set solver.epochs=10 --set model.arch=c4; the old flat keys (epochs=10) are aliases", AllowMultipleArgumentsPerToken = false };
        var images = new Option<string?>("--images") { Description = "Images: folder, ImageNet zip (+map) or list file (default when resuming: the run's)" };
        var proposals = new Option<string?>("--proposals") { Description = "Filtered proposal store (soco proposals filter); default when resuming: the run's" };
        var output = new Option<string>("--out") { Description = "Run folder", Required = true };
        var resume = new Option<string?>("--resume") { Description = "Resume: alone, from the run folder's newest checkpoint (an error if it has none); with a path, from that checkpoint. Without --resume a run folder holding checkpoints resumes anyway", Arity = ArgumentArity.ZeroOrOne };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var workers = new Option<int>("--workers") { Description = "Loader threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var maxSteps = new Option<long?>("--stop-after") { Description = "Stop (with a checkpoint) once the run has done this many steps in total" };
        var show = new Option<bool>("--show-config") { Description = "Print the resolved config and exit" };
        var allowData = new Option<bool>("--allow-data-change") { Description = "Continue a run on other --images/--proposals than it was made with (refused otherwise); earlier checkpoints are kept" };
        var restart = new Option<bool>("--restart") { Description = "Move unreadable checkpoints to checkpoints/unreadable/ (kept) and continue from the newest readable one, or from step 0" };
        var cmd = new Command("pretrain", "SoCo pretraining: LARS, warm-up + cosine, atomic checkpoints, exact resume, metrics/TensorBoard/curves")
            { config, set, images, proposals, output, resume, device, threads, workers, maxSteps, show, allowData, restart };
        cmd.SetAction(p => SocoCli.Guard(() => Checked(() =>
        {
            string run = p.GetValue(output)!;
            var overrides = p.GetValue(set) ?? [];
            PretrainConfig? cfg = p.GetValue(config) is { } c ? PretrainConfigs.Load(c, overrides) : null;
            if (cfg is null && overrides.Length > 0) throw new ArgumentException("--set needs a --config to apply to (a run's saved config cannot change)");
            if (p.GetValue(show))
            {
                Out.Text.WriteLine(PretrainConfigs.ToJson(cfg ?? throw new ArgumentException("--show-config needs a --config")));
                return 0;
            }
            var info = PretrainRun.ReadRunInfo(run);
            bool resumeGiven = p.GetResult(resume) is not null;
            string? from = p.GetValue(resume);
            if (resumeGiven && from is null && !new CheckpointStore(run, 1).Any())
                throw new ArgumentException($"--resume: {run} holds no checkpoint to resume from");
            Stopped = 0;
            var options = new PretrainOptions
            {
                Images = p.GetValue(images) ?? info?.Images ?? throw new ArgumentException("--images is required for a new run"),
                Proposals = p.GetValue(proposals) ?? info?.Proposals,
                RunDirectory = run,
                Device = p.GetValue(device)!,
                Threads = p.GetValue(threads),
                Workers = p.GetValue(workers),
                StopAfterStep = p.GetValue(maxSteps),
                ResumeFrom = from,
                AllowDataChange = p.GetValue(allowData),
                Restart = p.GetValue(restart),
                RequireCheckpoint = resumeGiven && from is null,
                Group = Soco.Distributed.ProcessGroup.World,
            };
            var r = Execute(cfg, options);
            return r.Stop == PretrainStop.Cancelled ? (Stopped != 0 ? Stopped : 130) : 0;
        })));
        return cmd;
    }

    /// <summary>A damaged or foreign checkpoint is a user-facing error too (one line, exit code 2).</summary>
    internal static int Checked(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (InvalidDataException e)
        {
            Out.Error(e.Message);
            return 2;
        }
    }

    /// <summary>Opens the run, trains with a progress display (Ctrl+C, SIGTERM or SIGHUP stop at a step boundary with a checkpoint), prints a summary.</summary>
    internal static PretrainResult Execute(PretrainConfig? config, PretrainOptions options)
    {
        // Under mpirun/srun the other ranks print only their errors and warnings (rank 0 reports the run).
        using var quiet = options.Group is { IsMain: false } g ? Out.RedirectTo(new RankMessages(g.Rank)) : null;
        using var run = PretrainRun.Open(config, options with { Log = options.Log ?? Out.Info });
        var c = run.Config;
        Out.Info($"pretrain {c.Model} (ResNet-{c.Depth} width {c.BaseWidth}), recipe {run.Recipe.Name}, {run.ImageCount} images, " +
                 $"batch {c.BatchSize}{(c.Accumulate > 1 ? $" × {c.Accumulate}" : "")}, {run.StepsPerEpoch} steps/epoch × {c.Epochs} epochs = {run.TotalSteps} steps; " +
                 $"lr {run.Schedule.PeakLr.ToString("G4", CultureInfo.InvariantCulture)} (warm-up {run.Schedule.WarmupSteps} steps); device {options.Device} → {options.RunDirectory}");
        if (run.StepsDone >= run.TotalSteps)
        {
            Out.Ok($"{options.RunDirectory} is already finished ({run.StepsDone}/{run.TotalSteps} steps); reusing it");
            var done = run.Run();
            Summary(run, done);
            return done;
        }
        using var signals = new StopSignals("stopping at the next step boundary with a checkpoint (run the same command again to resume)");
        try
        {
            long stopAt = Math.Min(run.TotalSteps, options.StopAfterStep ?? run.TotalSteps);
            int remaining = (int)Math.Max(0, stopAt - run.StepsDone);
            var result = Out.WithProgress("pretrain", remaining, tick =>
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                long first = run.StepsDone;
                return run.Run(m =>
                {
                    double rate = (m.Step - first) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                    tick(1, string.Create(CultureInfo.InvariantCulture, $"step {m.Step}/{run.TotalSteps} loss {m.Loss:F4} lr {m.Lr:E2} {rate:F2} step/s"));
                }, signals.Token);
            });
            Summary(run, result);
            return result;
        }
        finally
        {
            Stopped = signals.Token.IsCancellationRequested ? signals.ExitCode : 0;
        }
    }

    /// <summary>Exit code of the last <see cref="Execute"/> when a signal stopped it (0: it was not stopped by one).</summary>
    internal static int Stopped { get; private set; }

    static void Summary(PretrainRun run, PretrainResult r)
    {
        string dir = r.RunDirectory;
        var t = new Table().AddColumns("", "");
        string state = r.Stop switch
        {
            PretrainStop.Finished => "finished",
            PretrainStop.AlreadyFinished => "already finished (reused)",
            PretrainStop.StepLimit => "stopped at the step limit (rerun to continue)",
            _ => "interrupted (rerun to continue)",
        };
        var inv = CultureInfo.InvariantCulture;
        t.AddRow("run", Markup.Escape($"{dir}: {state}, {r.StepsDone}/{r.TotalSteps} steps ({r.StepsThisSession} now)"));
        if (r.FirstLoss is double f && r.LastLoss is double l)
            t.AddRow("loss", Markup.Escape(string.Create(inv, $"{f:F4} (first step now) → {l:F4} (last); min possible {(run.Config.Model == "byol" ? 0 : -4 * run.Config.ModelPairs)}")));
        if (r.StepsThisSession > 0)
            t.AddRow("speed", Markup.Escape(string.Create(inv, $"{r.StepsPerSecond:F2} steps/s, data wait {100 * r.DataWaitShare:F1} % of step time")));
        if (r.LastCheckpoint is not null) t.AddRow("checkpoint", Markup.Escape(r.LastCheckpoint));
        t.AddRow("metrics", Markup.Escape(Path.Combine(dir, PretrainRun.MetricsFile) + " (one JSON line per step)"));
        t.AddRow("curves", Markup.Escape(Path.Combine(dir, PretrainRun.CurvesFile)));
        t.AddRow("tensorboard", Markup.Escape($"tensorboard --logdir {Path.Combine(dir, PretrainRun.TensorBoardFolder)}"));
        Out.Ansi.Write(t);
    }
}
