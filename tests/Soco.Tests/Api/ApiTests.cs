using System.Text.Json;
using Soco.Api;
using Soco.Engine;
using Soco.Tests.Cli;
using Soco.Tests.Training;
using Soco.Training;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Api;

/// <summary>
/// The library API (src/Soco/Api) gives what the commands give: the same proposal JSON, the same pretraining losses and
/// Detectron2 file, the same fine-tuned detections and COCO numbers; progress arrives once per item in order,
/// cancellation stops at a boundary and a rerun continues, and an unreadable photo is a result with its reason.
/// </summary>
[Collection("torch")]
public sealed class ApiTests
{
    /// <summary>Reports on the calling thread (<see cref="Progress{T}"/> posts to the thread pool, out of order).</summary>
    sealed class Recorder<T>(Action<T>? then = null) : IProgress<T>
    {
        public List<T> Items { get; } = [];
        public void Report(T value)
        {
            Items.Add(value);
            then?.Invoke(value);
        }
    }

    [Fact]
    public async Task ProposalsGiveTheCommandsJson()
    {
        using var dir = new TestPaths.TempDir();
        string photos = dir["photos"];
        Directory.CreateDirectory(photos);
        foreach (var p in new[] { "dog.jpg", "coffee.png" }) File.Copy(TestPaths.Photo(p), Path.Combine(photos, p));

        var progress = new Recorder<ProposalProgress>();
        var r = await SocoProposals.PrepareAsync(new ProposalOptions { Images = photos, OutputDirectory = dir["api"], Workers = 1 }, progress);
        Assert.Equal([1, 2], progress.Items.Select(p => p.Done));
        Assert.All(progress.Items, p => Assert.Equal(2, p.Total));
        Assert.Equal(2, r.Generation.Done);
        Assert.Equal(Path.Combine(dir["api"], "ratio3size0308post"), r.Store);

        Ok("proposals", "generate", "--images", photos, "--out", dir["cli/raw"], "--workers", "1");
        Ok("proposals", "filter", "--store", dir["cli/raw"], "--out", dir["cli/f"], "--strategy", "ratio3size0308post");
        Ok("proposals", "export", "--store", dir["cli/f"], "--out", dir["cli.json"]);
        Assert.Equal(File.ReadAllBytes(dir["cli.json"]), File.ReadAllBytes(r.Json));

        // Again: everything is in the store already, nothing is searched.
        var again = await SocoProposals.PrepareAsync(new ProposalOptions { Images = photos, OutputDirectory = dir["api"], Workers = 1 });
        Assert.Equal((0, 2), (again.Generation.Done, again.Generation.Skipped));
    }

    [Fact]
    public async Task PretrainingCancelledAndRerunMatchesTheCommandAndExportsTheSameDetectron2File()
    {
        using var data = new TrainingData();
        string[] overrides = [.. TrainingData.TinyOverrides, "epochs=1"];   // 3 steps on the six photos
        using var cancel = new CancellationTokenSource();
        var first = new Recorder<StepMetrics>(m => { if (m.Step == 1) cancel.Cancel(); });
        var options = new PretrainingOptions
        {
            Images = data.Images, Proposals = data.Proposals, RunDirectory = data["api"], Overrides = overrides, Threads = 1, Workers = 1,
        };
        var stopped = await SocoPretraining.RunAsync(options, first, cancel.Token);
        // Cancelled during step 1's report: the run stops at a step boundary before the end, with a checkpoint.
        Assert.Equal(PretrainStop.Cancelled, stopped.Stop);
        Assert.InRange(stopped.StepsDone, 1, 2);
        Assert.Equal(stopped.StepsDone, first.Items.Count);
        var second = new Recorder<StepMetrics>();
        var done = await SocoPretraining.RunAsync(options, second);
        Assert.Equal((PretrainStop.Finished, 3L, 3L), (done.Stop, done.StepsDone, done.TotalSteps));
        Assert.Equal(first.Items.Concat(second.Items).Select(m => m.Step), [1L, 2L, 3L]);

        Ok(["pretrain", "--config", "demo", .. overrides.SelectMany(o => new[] { "--set", o }), "--images", data.Images, "--proposals", data.Proposals,
            "--out", data["cli"], "--threads", "1", "--workers", "1"]);
        Assert.Equal(Losses(data["cli"]), Losses(data["api"]));
        Assert.Equal(first.Items.Concat(second.Items).Select(m => m.Loss), Losses(data["cli"]));

        int tensors = SocoExport.ToDetectron2(data["api"], data["api.pkl"]);
        Assert.True(tensors > 100, $"{tensors} tensors");
        Ok("export", "--checkpoint", data["cli"], "--format", "detectron2-fpn", "--out", data["cli.pkl"]);
        Assert.Equal(File.ReadAllBytes(data["cli.pkl"]), File.ReadAllBytes(data["api.pkl"]));
    }

    static List<double> Losses(string run) =>
        File.ReadLines(Path.Combine(run, PretrainRun.MetricsFile)).Select(l =>
        {
            using var d = JsonDocument.Parse(l);
            return d.RootElement.GetProperty("loss").GetDouble();
        }).ToList();

    [Fact]
    public async Task FineTunedDetectorStreamsPhotosAndEvaluatesLikeTheCommands()
    {
        using var dir = new TestPaths.TempDir();
        string gt = TestPaths.Fixture("detection", "detcli", "voc_gt.json");
        string images = Path.Combine(TestPaths.Samples, "voc", "JPEGImages");
        var steps = new Recorder<FinetuneProgress>();
        var run = await SocoFinetuning.RunAsync(new FinetuningOptions
        {
            Config = "finetune_demo", Train = gt, TrainImages = images, RunDirectory = dir["ft"], Threads = 1,
            Overrides = ["max_iter=2", "steps=[]", "warmup_iters=1", "min_sizes=[160]", "max_size=300", "test_size=160", "checkpoint_period=0"],
        }, steps);
        Assert.Equal(TrainStop.Finished, run.Stop);
        Assert.Equal([(1L, 2L), (2L, 2L)], steps.Items.Select(s => (s.Step, s.TotalSteps)));
        Assert.Equal(run.LastLoss, steps.Items[^1].Loss);
        Assert.NotNull(run.ModelFile);

        // The photos plus one that is not an image: it comes back as a result with its reason, the others are detected.
        string photos = dir["photos"];
        Directory.CreateDirectory(photos);
        foreach (var f in Directory.GetFiles(images)) File.Copy(f, Path.Combine(photos, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(photos, "zz_broken.jpg"), "not a JPEG");
        using var detector = SocoDetector.Load(run.ModelFile!, new DetectorSettings { ScoreThreshold = 0.0, MaxDetections = 10 });
        var results = new List<ImageDetections>();
        await foreach (var r in detector.DetectAllAsync(photos)) results.Add(r);
        Assert.Equal(Directory.GetFiles(photos).Order(StringComparer.Ordinal), results.Select(r => r.Path));
        Assert.Contains("zz_broken.jpg", results[^1].Error);
        Assert.All(results.SkipLast(1), r => Assert.Null(r.Error));

        Ok("detect", "--checkpoint", run.ModelFile!, "--image", photos, "--out", dir["cli.json"], "--score-threshold", "0", "--max-detections", "10");
        using var cli = JsonDocument.Parse(File.ReadAllText(dir["cli.json"]));
        var expected = cli.RootElement.EnumerateArray().Select(d => (d.GetProperty("image_id").GetString(), d.GetProperty("score").GetDouble())).ToList();
        var mine = results.SkipLast(1).SelectMany(r => r.Detections.Select(d => (Path.GetFileNameWithoutExtension(r.Path), (double)d.Score))).ToList();
        Assert.NotEmpty(mine);
        Assert.Equal(expected, mine);

        // Evaluation keeps what the model file says (as `soco evaluate --checkpoint`): a detector with the default settings.
        using var asSaved = SocoDetector.Load(run.ModelFile!);
        var counted = new Recorder<int>();
        var evaluation = await SocoEvaluation.EvaluateAsync(asSaved, gt, images, counted);
        Assert.Equal(Directory.GetFiles(images).Length, counted.Items[^1]);
        Ok("evaluate", "--data", gt, "--checkpoint", run.ModelFile!, "--images", images, "--out", dir["metrics.json"]);
        using var metrics = JsonDocument.Parse(File.ReadAllText(dir["metrics.json"]));
        foreach (var name in new[] { "AP", "AP50", "AR100" })
            Assert.Equal(metrics.RootElement.GetProperty(name).GetDouble(), evaluation.Stats[name]);
    }

    [Fact]
    public void EvaluatingResultFilesGivesPycocotoolsNumbers()
    {
        using var dir = new TestPaths.TempDir();
        string gt = TestPaths.Fixture("coco", "hand_gt.json"), dt = TestPaths.Fixture("coco", "hand_dt.json");
        var r = SocoEvaluation.Evaluate(gt, dt);
        Ok("evaluate", "--data", gt, "--detections", dt, "--out", dir["m.json"]);
        using var metrics = JsonDocument.Parse(File.ReadAllText(dir["m.json"]));
        foreach (var name in Soco.Evaluation.CocoEvalResult.StatNames)
            Assert.Equal(metrics.RootElement.GetProperty(name).GetDouble(), r.Stats[name]);
        Assert.Equal(12, r.SummaryLines.Count);
    }
}
