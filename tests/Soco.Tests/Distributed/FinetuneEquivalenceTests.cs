using Soco.Tests.Cli;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Distributed;

/// <summary>
/// Data-parallel fine-tuning over real MPI processes (docs/distributed.md §Fine-tuning): the demo detector, 2 images
/// per step; <c>mpirun -np 2</c> (one image per rank, SyncBN, the whole batch's padding and loss normalisers) stopped
/// after step 3 and resumed on one process gives the one-process run's loss at each of the 6 steps; rank 0 alone wrote
/// the run.
/// </summary>
[Collection("torch")]
public class FinetuneEquivalenceTests(ITestOutputHelper log)
{
    static string Gt => TestPaths.Fixture("detection", "detcli", "voc_gt.json");
    static string VocImages => Path.Combine(TestPaths.Samples, "voc", "JPEGImages");

    /// <summary>Largest |Δ| of the loss and of each of its four terms at any step (losses about 1–3): float32 summation
    /// order only — measured ≤ 6e-8 (a term's mean over the ranks vs one process's; one step's gradients agree to 1e-5,
    /// DetectorDataParallelTests), so over 6 trained steps 1e-5 leaves a margin of 100; a missing normaliser or per-rank
    /// padding moves a term by 1e-4 at step 1.</summary>
    const double Tolerance = 1e-5;

    static readonly string[] Terms = ["loss", "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"];

    /// <summary>The metrics file's numbers per line (metrics.jsonl: one JSON object per step).</summary>
    static List<Dictionary<string, double>> Lines(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.EnumerateObject()
            .Where(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.Number).ToDictionary(p => p.Name, p => p.Value.GetDouble())).ToList();

    static string[] Args(string run) =>
        ["finetune", "--config", "finetune_demo", "--set", "max_iter=6", "--set", "steps=[4]", "--set", "warmup_iters=2", "--set", "min_sizes=[160,192]",
         "--set", "max_size=300", "--set", "test_size=160", "--set", "checkpoint_period=3", "--init", "none", "--train", Gt, "--train-images", VocImages,
         "--threads", "1", "--out", run];

    [RequiresMpiFact]
    public void TwoRanksFollowOneProcessAndResumeOnOne()
    {
        using var dir = new TestPaths.TempDir();
        CliRunner.Ok(Args(dir["one"]));
        string two = dir["two"];
        using (var p = Mpi.Start(2, [.. Args(two), "--stop-after", "3"]))
        {
            p.Process.WaitForExit();
            Assert.True(p.Process.ExitCode == 0, p.Output);
        }
        Assert.Equal(3, MetricsLog.Read(Path.Combine(two, FinetuneRun.MetricsFile)).Count);
        var resumed = CliRunner.Ok(Args(two));
        Assert.Contains("resuming from", resumed);
        var e = Lines(Path.Combine(dir["one"], FinetuneRun.MetricsFile));
        var a = Lines(Path.Combine(two, FinetuneRun.MetricsFile));
        Assert.Equal(6, e.Count);
        Assert.Equal(e.Select(m => m["step"]), a.Select(m => m["step"]));
        double worst = 0;
        for (int i = 0; i < e.Count; i++)
        {
            Assert.Equal(e[i]["lr"], a[i]["lr"]);
            foreach (var k in Terms)
            {
                double d = Math.Abs(e[i][k] - a[i][k]);
                worst = Math.Max(worst, d);
                Assert.True(d <= Tolerance, $"step {e[i]["step"]} {k}: one process {e[i][k]:R}, MPI {a[i][k]:R}");
            }
            log.WriteLine($"step {e[i]["step"]}: loss one process {e[i]["loss"]:R}, 2 ranks{(i >= 3 ? " → 1" : "")} {a[i]["loss"]:R}; " +
                          string.Join(", ", Terms.Skip(1).Select(k => $"{k} |Δ| {Math.Abs(e[i][k] - a[i][k]):E1}")));
        }
        log.WriteLine($"worst |Δ| {worst:E2}");
        Assert.True(File.Exists(Path.Combine(two, FinetuneRun.ModelFileName)));
    }
}
