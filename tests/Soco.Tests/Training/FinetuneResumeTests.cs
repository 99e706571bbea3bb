using System.Text.Json;
using Soco.Runtime;
using Soco.Tests.Cli;
using Soco.Training;
using Xunit.Abstractions;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Training;

/// <summary>
/// `soco finetune` resumes the way `soco pretrain` does (the rule is shared: CheckpointStore.OpenResume): a bare
/// <c>--resume</c> needs a checkpoint, <c>--resume PATH</c> continues from that checkpoint and redoes the steps after it
/// bit for bit, an unreadable newest checkpoint stops the run with a message naming <c>--restart</c>, and
/// <c>--restart</c> moves it to checkpoints/unreadable/ and continues exactly from the newest readable one.
/// </summary>
[Collection("torch")]
public class FinetuneResumeTests
{
    readonly ITestOutputHelper log;

    public FinetuneResumeTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    static string Gt => TestPaths.VocGt;
    static string VocImages => TestPaths.VocImages;

    static List<string> LossLines(string run) => TestPaths.MetricLines(Path.Combine(run, FinetuneRun.MetricsFile), "step", "loss", "lr");

    [Fact]
    public void ResumeRestartAndStopAfterBehaveAsInPretraining()
    {
        using var dir = new TestPaths.TempDir();
        string[] common = ["finetune", "--config", "finetune_demo", "--set", "max_iter=6", "--set", "steps=[4]", "--set", "warmup_iters=2",
            "--set", "min_sizes=[128,160]", "--set", "max_size=240", "--set", "test_size=128", "--set", "checkpoint_period=2", "--set", "keep_last=3",
            "--init", "none", "--train", Gt, "--train-images", VocImages, "--threads", "1"];
        string whole = dir["whole"], split = dir["split"], other = dir["other"];
        Ok([.. common, "--out", whole]);
        var all = LossLines(whole);
        Assert.Equal(6, all.Count);

        // A bare --resume needs a checkpoint to resume from.
        CliRunner.UserError([.. common, "--out", dir["empty"], "--resume"], "holds no checkpoint to resume from");

        // --stop-after, then the newest checkpoint damaged: the run stops, names --restart and changes nothing.
        Ok([.. common, "--out", split, "--stop-after", "4"]);
        string ck4 = Path.Combine(split, CheckpointStore.Folder, CheckpointStore.StepName(4));
        Assert.True(File.Exists(ck4));
        File.WriteAllBytes(ck4, File.ReadAllBytes(ck4)[..1000]);
        CliRunner.UserError([.. common, "--out", split], "cannot be read", "--restart", "step 2");
        Assert.True(File.Exists(ck4));
        // --restart moves it aside (kept) and continues from step 2: the same losses as the run that was never stopped.
        var o = Ok([.. common, "--out", split, "--restart"]);
        Assert.Contains("moved the unreadable checkpoint", o);
        Assert.True(File.Exists(Path.Combine(split, CheckpointStore.Folder, CheckpointStore.UnreadableFolder, CheckpointStore.StepName(4))));
        Assert.Equal(all, LossLines(split));

        // --resume PATH: another folder continues from the whole run's step-4 checkpoint and redoes steps 5 and 6 exactly.
        Ok([.. common, "--out", other, "--resume", Path.Combine(whole, CheckpointStore.Folder, CheckpointStore.StepName(4))]);
        Assert.Equal(all.Skip(4), LossLines(other));
        Assert.True(File.Exists(Path.Combine(other, FinetuneRun.ModelFileName)));
        log.WriteLine(string.Join("\n", all));
    }
}
