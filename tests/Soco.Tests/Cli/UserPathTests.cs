using System.Runtime.InteropServices;
using System.Text.Json;
using Soco.Imaging;
using Soco.Interop;
using Soco.Proposals;
using Soco.Tests.Training;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Cli;

/// <summary>
/// README's commands as a user runs them, end to end (in-process through <see cref="CliRunner"/>, or as a child
/// process where a signal is involved): `soco demo` (shortened), `proposals recall`, `proposals bench`, `views bench`,
/// `pretrain --show-config`, `pretrain --resume &lt;checkpoint&gt;` and Ctrl+C.
/// </summary>
[Collection("torch")]
public class UserPathTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    static (int Code, string Output) Ok(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.Code == 0, $"soco {string.Join(' ', args)}: exit {r.Code}\n{r.Output}");
        return r;
    }

    string[] Pretrain(string run, params string[] more) =>
        ["pretrain", "--config", "demo", .. TrainingData.TinyOverrides.SelectMany(o => new[] { "--set", o }),
         "--images", _data.Images, "--proposals", _data.Proposals, "--out", run, "--threads", "1", "--workers", "1", .. more];

    /// <summary>
    /// `soco demo` on eight sample photos with the demo preset shortened to 2 epochs (4 steps): every stage runs and
    /// leaves what the summary table points to — proposals (raw, filtered, JSON, preview), a finished pretraining run
    /// with checkpoint and logs, and the four detector exports, which read back as the trained weights. A second run
    /// reuses everything.
    /// </summary>
    [Fact]
    public void DemoRunsEveryStageEndToEnd()
    {
        string images = _data["demo-images"], output = _data["demo"];
        Directory.CreateDirectory(images);
        foreach (var p in new[] { "aero1.jpg", "apple.jpg", "butterfly.jpg", "messi5.jpg", "orange.jpg", "squirrel_cls.jpg", "dog.jpg", "plant.jpg" })
            File.Copy(TestPaths.Photo(p), Path.Combine(images, p));
        var (_, text) = Ok("demo", "--images", images, "--out", output, "--workers", "1", "--set", "epochs=2", "--set", "warmup_epochs=1",
            "--finetune-set", "max_iter=6", "--finetune-set", "steps=[4,5]", "--finetune-set", "warmup_iters=2", "--finetune-set", "checkpoint_period=3");
        log.WriteLine(text);

        string raw = Path.Combine(output, "proposals", "raw"), filtered = Path.Combine(output, "proposals", "ratio3size0308post");
        Assert.Equal(8, ProposalStore.Open(raw).LoadIndex().Count);
        var kept = ProposalStore.Open(filtered).LoadIndex();
        Assert.Equal("ratio3size0308post", ProposalStore.Open(filtered).Info.Parameters["filter"]);
        Assert.True(kept.Values.Sum(r => r.Rects.Length) > 8, "the filter kept almost nothing");
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "proposals", "train_ratio3size0308post.json"))).RootElement;
        Assert.Equal(8, json.EnumerateObject().Count());
        var preview = ImageDecoder.Decode(Path.Combine(output, "proposals", "preview-dog.png"));
        Assert.True(preview.Width > 100);

        string pretrain = Path.Combine(output, "pretrain");
        var metrics = MetricsLog.Read(Path.Combine(pretrain, PretrainRun.MetricsFile));
        Assert.Equal(4, metrics.Count);                  // 8 photos, batch 4 → 2 steps per epoch × 2 epochs
        Assert.All(metrics, m => Assert.True(double.IsFinite(m.Loss)));
        Assert.True(File.Exists(Path.Combine(pretrain, PretrainRun.CurvesFile)));
        var ckpt = new CheckpointStore(pretrain, 2).LoadLatest();
        Assert.NotNull(ckpt);
        using (ckpt) Assert.Equal(4, ckpt!.Meta.Step);

        string export = Path.Combine(output, "export");
        foreach (var f in new[] { "soco_fpn_detectron2.pkl", "soco_c4_detectron2.pkl", "soco_fpn_mmdet.pth", "backbone_torchvision.pth" })
        {
            Assert.True(new FileInfo(Path.Combine(export, f)).Length > 1000, $"{f} missing or empty");
            Assert.Contains(Path.Combine(export, f), text);   // the summary names it
        }
        // The PyTorch export holds the trained backbone: the checkpoint's online encoder, tensor for tensor.
        var trained = CheckpointReader.Read(pretrain);
        var backbone = Pth.LoadTensors(Path.Combine(export, "backbone_torchvision.pth"));
        Assert.Equal(trained.State.Keys.Count(k => k.StartsWith("encoder.", StringComparison.Ordinal)), backbone.Count);
        foreach (var (k, v) in backbone)
            Assert.True(v.equal(trained.State["encoder." + k]).all().item<bool>(), $"{k} differs from the checkpoint's encoder");
        // The detector: fine-tuned from the pretraining run (its backbone, FPN and box head loaded), saved as a model
        // file, and its detections drawn on a labelled sample photo.
        string finetune = Path.Combine(output, "finetune");
        Assert.Contains("loaded 194 tensors", text);
        Assert.Equal(6, MetricsLog.Read(Path.Combine(finetune, "metrics.jsonl")).Count);
        Assert.True(File.Exists(Path.Combine(finetune, "model_final.pth")));
        var picture = ImageDecoder.Decode(Path.Combine(output, "detections.png"));
        Assert.Equal(ImageDecoder.Decode(Path.Combine(TestPaths.Samples, "voc", "JPEGImages", "2011_000003.jpg")).Width, picture.Width);
        Assert.Contains(Path.Combine(output, "detections.png"), text);
        Assert.Contains("demo finished", text);

        var (_, again) = Ok("demo", "--images", images, "--out", output, "--workers", "1", "--set", "epochs=2", "--set", "warmup_epochs=1",
            "--finetune-set", "max_iter=6", "--finetune-set", "steps=[4,5]", "--finetune-set", "warmup_iters=2", "--finetune-set", "checkpoint_period=3");
        Assert.Contains("already finished", again);
        Assert.Contains("8 reused", again);
        Assert.Equal(4, MetricsLog.Read(Path.Combine(pretrain, PretrainRun.MetricsFile)).Count);
        Assert.Equal(6, MetricsLog.Read(Path.Combine(finetune, "metrics.jsonl")).Count);
    }

    /// <summary>`soco proposals recall` on samples/voc prints README's figures (mean best IoU and recall per mode).</summary>
    [Fact]
    public void ProposalsRecallPrintsTheReadmeFigures()
    {
        var (_, text) = Ok("proposals", "recall", "--voc", Path.Combine(TestPaths.Samples, "voc"));
        log.WriteLine(text);
        var mean = Row(text, "mean");
        var r05 = Row(text, "recall@0.5");
        var r07 = Row(text, "recall@0.7");
        // columns: soco, soco+ratio3size0308post, fast, quality (README: 0.500 / 5 / 0, 0.444 / 4 / 0, 0.778 / 9 / 6, 0.839 / 9 / 8)
        Assert.Equal(["0.500", "0.444", "0.778", "0.839"], mean);
        Assert.Equal(["5/9", "4/9", "9/9", "9/9"], r05);
        Assert.Equal(["0/9", "0/9", "6/9", "8/9"], r07);
    }

    /// <summary>The numeric cells of a Spectre table row that starts with <paramref name="label"/>.</summary>
    static string[] Row(string table, string label)
    {
        var line = table.Split('\n').First(l => l.Split('│', StringSplitOptions.TrimEntries).Skip(1).FirstOrDefault() == label);
        return line.Split('│', StringSplitOptions.TrimEntries).Skip(3).Where(c => c.Length > 0).ToArray();
    }

    /// <summary>`soco proposals bench` times each image and writes its JSON with the same box counts as a plain run.</summary>
    [Fact]
    public void ProposalsBenchReportsEveryImage()
    {
        string images = _data["bench-images"];
        Directory.CreateDirectory(images);
        foreach (var p in new[] { "orange.jpg", "apple.jpg" }) File.Copy(TestPaths.Photo(p), Path.Combine(images, p));
        var (_, text) = Ok("proposals", "bench", "--images", images, "--mode", "soco", "--repeat", "1", "--max-workers", "1", "--json", _data["bench.json"]);
        log.WriteLine(text);
        var j = JsonDocument.Parse(File.ReadAllText(_data["bench.json"])).RootElement;
        Assert.Equal("soco.net-soco", j.GetProperty("impl").GetString());
        var perImage = j.GetProperty("per_image");
        Assert.Equal(["apple.jpg", "orange.jpg"], perImage.EnumerateObject().Select(p => p.Name));
        Assert.All(perImage.EnumerateObject(), p => Assert.True(p.Value.GetDouble() > 0));
        var gen = ProposalModes.Create("soco");
        foreach (var name in new[] { "apple.jpg", "orange.jpg" })
        {
            int expected = gen.Generate(ImageDecoder.Decode(Path.Combine(images, name))).Length;
            Assert.Contains($"│ {name}", text);
            Assert.Matches($@"│ {System.Text.RegularExpressions.Regex.Escape(name)}\s*│\s*[0-9.]+\s*│\s*{expected}\s*│", text);
        }
        Assert.Contains("1 worker(s):", text);
    }

    /// <summary>`soco views bench` builds samples of a recipe and batches through the loader, and reports both.</summary>
    [Fact]
    public void ViewsBenchReportsSamplesAndLoaderThroughput()
    {
        var (_, text) = Ok("views", "bench", "--images", _data.Images, "--proposals", _data.Proposals, "--recipe", "fpn",
            "--passes", "1", "--workers", "1", "--batch", "2", "--epochs", "1");
        log.WriteLine(text);
        var line = text.Split('\n').Single(l => l.StartsWith("{\"impl\": \"dotnet\"", StringComparison.Ordinal));
        var j = JsonDocument.Parse(line).RootElement;
        Assert.Equal("ImageAsymBboxAwareMultiJitter1", j.GetProperty("recipe").GetString());
        Assert.Equal(TrainingData.PhotoNames.Length, j.GetProperty("samples").GetInt32());   // one pass over the six photos
        Assert.True(j.GetProperty("per_second").GetDouble() > 0);
        Assert.Matches(@"loader workers 1: [0-9.]+ samples/s \(6 samples, batch 2\)", text);
    }

    /// <summary>`--show-config` prints the resolved config (preset + overrides) as the JSON a run saves, and starts nothing.</summary>
    [Fact]
    public void ShowConfigPrintsTheResolvedConfigAndStartsNothing()
    {
        string run = _data["never"];
        var (_, text) = Ok("pretrain", "--config", "demo", "--set", "epochs=12", "--set", "batch_size=3", "--out", run, "--show-config");
        var shown = PretrainConfigs.Parse(text, "shown");
        Assert.Equal(PretrainConfigs.Load("demo", ["epochs=12", "batch_size=3"]), shown);
        Assert.Equal(12, shown.Epochs);
        Assert.False(Directory.Exists(run));
        CliRunner.UserError(["pretrain", "--out", run, "--show-config"], "--show-config needs a --config");
    }

    /// <summary>
    /// `pretrain --resume &lt;checkpoint&gt;` resumes from that checkpoint, not the newest: the steps after it are redone,
    /// bit-identical to the first time (exact resume), and the run then finishes.
    /// </summary>
    [Fact]
    public void ResumeFromAChosenCheckpointRedoesTheStepsAfterIt()
    {
        string run = _data["run"];
        Ok(Pretrain(run, "--stop-after", "6"));
        var first = MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal(6, first.Count);
        string chosen = Path.Combine(run, CheckpointStore.Folder, CheckpointStore.StepName(4));
        Assert.True(File.Exists(chosen), "no step-4 checkpoint (checkpoint_steps=2, keep_last=2)");
        using (var newest = new CheckpointStore(run, 2).LoadLatest()) Assert.Equal(6, newest!.Meta.Step);   // ckpt_epoch_2.pth

        var (_, text) = Ok(Pretrain(run, "--resume", chosen));
        Assert.Contains($"resuming from {chosen} (step 4 of 9)", text);
        var all = MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal(Enumerable.Range(1, 9), all.Select(m => (int)m.Step));   // the log keeps steps ≤ 4, then 5..9 again
        Assert.Equal(first.Select(m => m.Loss), all.Take(6).Select(m => m.Loss));   // 5 and 6 redone bit for bit
        using var last = new CheckpointStore(run, 2).LoadLatest();
        Assert.Equal(9, last!.Meta.Step);
        // A path that is no checkpoint is refused by name.
        CliRunner.UserError(Pretrain(run, "--resume", _data["missing.pth"]), _data["missing.pth"]);
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    /// <summary>Ctrl+C (SIGINT) on a running `soco pretrain`: it stops at a step boundary with a checkpoint of that
    /// step, says so, exits with 130; rerunning continues from there to the end.</summary>
    [Fact]
    public void CtrlCStopsWithACheckpointAndExitCode130()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "signals are POSIX");
        string run = _data["run"];
        string metrics = Path.Combine(run, PretrainRun.MetricsFile);
        using (var p = TrainingData.StartCli(Pretrain(run, "--set", "epochs=40")))
        {
            while (!p.Process.HasExited && TrainingData.CountLines(metrics) < 2) Thread.Sleep(5);
            Assert.False(p.Process.HasExited, "the run ended before it could be interrupted: " + p.Output);
            Assert.Equal(0, kill(p.Process.Id, 2));   // SIGINT, what Ctrl+C sends
            int code = p.Wait();
            Assert.True(code == 130, $"exit {code}, expected 130:\n{p.Output}");
            Assert.True(p.Output.Contains(": interrupted (rerun to"), p.Output);   // the summary table (wrapped at 80 columns)
        }
        int steps = TrainingData.CountLines(metrics);
        Assert.InRange(steps, 2, 119);
        using (var c = new CheckpointStore(run, 2).LoadLatest())
        {
            Assert.NotNull(c);
            Assert.Equal(steps, c!.Meta.Step);   // the checkpoint is of the last step done
        }
        using (var p = TrainingData.StartCli(Pretrain(run, "--set", "epochs=40", "--stop-after", (steps + 2).ToString())))
        {
            Assert.True(p.Wait() == 0, p.Output);
            Assert.Contains("resuming from", p.Output);
        }
        Assert.Equal(steps + 2, TrainingData.CountLines(metrics));
    }
}
