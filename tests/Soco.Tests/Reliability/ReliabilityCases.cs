using System.Runtime.InteropServices;
using Soco.Data;
using Soco.Geometry;
using Soco.Imaging;
using Soco.Interop;
using Soco.Proposals;
using Soco.Tests.Training;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Reliability;

/// <summary>
/// The ten cases of issue 17 (and <c>--strict</c>), each as a user meets it: resuming with other data, a raw store's
/// one-pixel boxes, unreadable checkpoints, an unlistable subfolder, derived config keys, SIGTERM (in
/// <see cref="SignalTests"/>), a bare-tensor .pth, duplicate JSON keys, a symlink loop, a negative --max-pixels.
/// </summary>
[Collection("torch")]
public class ReliabilityCases(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    static PretrainResult Train(PretrainConfig config, PretrainOptions options)
    {
        using var run = PretrainRun.Open(config, options);
        return run.Run();
    }

    static string[] CheckpointNames(string run) =>
        Directory.GetFiles(Path.Combine(run, CheckpointStore.Folder)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    /// <summary>The six photos plus a renamed copy of each: other data of the same kind, under another folder.</summary>
    string MoreImages()
    {
        string dir = _data["more-images"];
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(_data.Images))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            File.Copy(f, Path.Combine(dir, "copy_" + Path.GetFileName(f)));
        }
        return dir;
    }

    // ---- 1. resuming with other data

    [Fact]
    public void ResumingWithOtherImagesIsRefusedNamingWhatDiffersAndAllowedOnlyExplicitlyWithoutDeletingTheOldCheckpoints()
    {
        var config = TrainingData.Tiny();
        string run = _data["run"];
        Train(config, _data.Options(run) with { StopAfterStep = 4 });
        Assert.Equal(["ckpt_step_00000002.pth", "ckpt_step_00000004.pth"], CheckpointNames(run));
        string more = MoreImages();

        var e = Assert.Throws<ArgumentException>(() => PretrainRun.Open(config, _data.Options(run) with { Images = more }));
        log.WriteLine(e.Message);
        Assert.Contains("other data", e.Message);
        Assert.Contains("images: 6", e.Message);
        Assert.Contains("now 12", e.Message);
        Assert.Contains("--allow-data-change", e.Message);
        // Nothing was changed by the refusal.
        Assert.Equal(6, PretrainRun.ReadRunInfo(run)!.Data!.ImageCount);

        // Other proposals for the same images are other data too.
        string otherProps = _data["other-proposals"];
        ProposalPipeline.Generate(new ProposalPipeline.Request(_data.Images, otherProps, "soco") { Options = new GenerateOptions { Workers = 1 } });
        var p = Assert.Throws<ArgumentException>(() => PretrainRun.Open(config, _data.Options(run) with { Proposals = otherProps }));
        Assert.Contains("proposals: ", p.Message);
        Assert.Contains("store fingerprint", p.Message);

        // Explicitly allowed: it continues from step 4 on the new data and rotation keeps the checkpoints of the old data.
        var r = Train(config, _data.Options(run) with { Images = more, AllowDataChange = true });
        Assert.Equal(PretrainStop.Finished, r.Stop);
        string kept = Path.Combine(run, CheckpointStore.Folder, "data-until-step-4");
        var names = Directory.GetFiles(kept).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        log.WriteLine($"kept: {string.Join(", ", names)}; now: {string.Join(", ", Directory.GetFiles(Path.Combine(run, CheckpointStore.Folder)).Select(Path.GetFileName))}");
        Assert.Equal(["ckpt_step_00000002.pth", "ckpt_step_00000004.pth"], names);
        var info = PretrainRun.ReadRunInfo(run)!;
        Assert.Equal([0L, 4L], info.Segments!.Select(s => s.FromStep));
        Assert.Equal(12, info.Data!.ImageCount);
    }

    // ---- 2. one-pixel proposals of a raw store

    [Fact]
    public void JitterNeverInvertsABoxOfOnePixel()
    {
        var rng = SampleRandom.FromSeed(17);
        var boxes = new List<Box>();
        for (int i = 0; i < 2000; i++)
        {
            double x = rng.NextInt(500), y = rng.NextInt(500);
            boxes.Add(new Box(x, y, x + rng.NextInt(3), y + rng.NextInt(3), i + 1)); // widths and heights of 1, 2, 3 pixels
        }
        foreach (double ratio in new[] { 0.1, 0.2, 0.5 })
            foreach (var b in ProposalSelection.Jitter(boxes, 1.0, ratio, rng))
                Assert.True(b.X2 >= b.X1 && b.Y2 >= b.Y1, $"ratio {ratio}: {b}");
    }

    [Fact]
    public void NoValidProposalEverGivesAnInvertedBoxThroughTheWholeViewPipeline()
    {
        // Property: random images, random valid proposals (many one pixel wide or high, as a raw selective-search store
        // holds), every recipe with jitter: every normalised box of every pair is finite and not inverted.
        var rng = SampleRandom.FromSeed(2026);
        var recipes = new[] { ViewRecipe.Fpn, ViewRecipe.FpnCutout, ViewRecipe.FpnStar, ViewRecipe.C4 }
            .Select(r => new ViewSampleBuilder(RecipeScaling.Scale(r, 32 / 224.0), color: false)).ToArray();
        int checkedBoxes = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            int w = 2 + rng.NextInt(120), h = 2 + rng.NextInt(120);
            var rects = new List<ProposalRect>();
            int n = 1 + rng.NextInt(12);
            for (int k = 0; k < n; k++)
            {
                int x = rng.NextInt(w), y = rng.NextInt(h);
                // SoCo's rect: w = max − min, so w = 1 is a box one pixel wide after the −1 of docs/soco-reference.md §3 … and w = 0 is dropped as empty.
                int rw = rng.NextInt(4) == 0 ? 1 : rng.NextInt(Math.Max(1, w - x)), rh = rng.NextInt(4) == 0 ? 1 : rng.NextInt(Math.Max(1, h - y));
                rects.Add(new ProposalRect(x, y, rw, rh));
            }
            var proposals = ProposalBoxes.Prepare(rects, w, h);
            var image = new RgbImage(w, h);
            foreach (var builder in recipes)
            {
                var sample = builder.Build(image, proposals, SampleRandom.For(trial, 0, trial), trial);
                foreach (var pair in sample.Pairs)
                    foreach (var list in new[] { pair.Boxes1, pair.BoxesK })
                        for (int i = 0; i < list.Length; i += 5)
                        {
                            checkedBoxes++;
                            Assert.True(float.IsFinite(list[i]) && float.IsFinite(list[i + 2]) && list[i + 2] >= list[i] && list[i + 3] >= list[i + 1],
                                $"trial {trial}, {builder.Recipe.Name}, image {w}×{h}: box [{list[i]}, {list[i + 1]}, {list[i + 2]}, {list[i + 3]}]");
                        }
            }
        }
        log.WriteLine($"{checkedBoxes} boxes checked");
    }

    [Fact]
    public void ARawStoreTrainsAndTheLogSaysHowToFilterIt()
    {
        string raw = _data["raw"];
        ProposalPipeline.Generate(new ProposalPipeline.Request(_data.Images, raw, "soco") { Options = new GenerateOptions { Workers = 1 } });
        var notes = new List<string>();
        var config = TrainingData.Tiny("epochs=4");
        var r = Train(config, _data.Options(_data["run"]) with { Proposals = raw, Log = notes.Add });
        Assert.Equal(PretrainStop.Finished, r.Stop);
        Assert.Contains(notes, n => n.Contains("unfiltered store") && n.Contains($"soco proposals filter --store {raw}"));
    }

    // ---- 3. unreadable checkpoints

    [Fact]
    public void UnreadableCheckpointsStopTheRunAndRestartMovesThemAsideWithoutLosingMetrics()
    {
        var config = TrainingData.Tiny();
        string run = _data["run"];
        Train(config, _data.Options(run) with { StopAfterStep = 4 });
        string metrics = Path.Combine(run, PretrainRun.MetricsFile);
        Assert.Equal(4, MetricsLog.Read(metrics).Count);
        string dir = Path.Combine(run, CheckpointStore.Folder);
        foreach (var f in Directory.GetFiles(dir)) File.WriteAllBytes(f, File.ReadAllBytes(f)[..100]);

        var e = Assert.Throws<InvalidDataException>(() => PretrainRun.Open(config, _data.Options(run)));
        log.WriteLine(e.Message);
        Assert.Contains("2 checkpoint(s)", e.Message);
        Assert.Contains("cannot be read", e.Message);
        Assert.Contains("--restart", e.Message);
        Assert.Equal(4, MetricsLog.Read(metrics).Count);                                   // nothing truncated
        Assert.Equal(["ckpt_step_00000002.pth", "ckpt_step_00000004.pth"], CheckpointNames(run));

        // A bare --resume with only unreadable checkpoints is an error too, not a fresh start.
        Assert.Throws<ArgumentException>(() => PretrainRun.Open(config, _data.Options(run) with { Restart = true, RequireCheckpoint = true }));

        var r = Train(config, _data.Options(run) with { Restart = true, StopAfterStep = 2 });
        Assert.Equal(2, r.StepsDone);
        var moved = Directory.GetFiles(Path.Combine(dir, CheckpointStore.UnreadableFolder)).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["ckpt_step_00000002.pth", "ckpt_step_00000004.pth"], moved);        // kept, not deleted
        Assert.Equal(4, MetricsLog.Read(metrics + MetricsLog.ReplacedSuffix).Count);      // the old history is kept
        Assert.Equal(2, MetricsLog.Read(metrics).Count);
    }

    [Fact]
    public void RotationNeverDeletesNewerCheckpointsOfAnotherHistory()
    {
        var config = TrainingData.Tiny();
        string run = _data["run"];
        Train(config, _data.Options(run) with { StopAfterStep = 8 });
        Assert.Equal(["ckpt_epoch_2.pth", "ckpt_step_00000004.pth", "ckpt_step_00000008.pth"], CheckpointNames(run));
        // Resumed by hand from the step-4 checkpoint: its new step checkpoints must not push out step 8, which belongs to
        // the other (later) history.
        string from = Path.Combine(run, CheckpointStore.Folder, "ckpt_step_00000004.pth");
        string keep = _data["keep.pth"];
        File.Copy(from, keep);
        Train(config, _data.Options(run) with { ResumeFrom = keep, StopAfterStep = 7 });
        var names = CheckpointNames(run);
        log.WriteLine(string.Join(", ", names));
        Assert.Contains("ckpt_step_00000008.pth", names);
        // … and the new history keeps its own newest two, 4 (where it resumed) and 7 (step 6 was an epoch end): by name
        // alone, step 8 would count as one of them and push out 4.
        Assert.Contains("ckpt_step_00000004.pth", names);
        Assert.Contains("ckpt_step_00000007.pth", names);
    }

    // ---- 4. unlistable subfolder, 9. symlink loop

    [Fact]
    public void ASymlinkLoopIsNamedAndEveryRealFileIsVisitedOnce()
    {
        using var tmp = new TestPaths.TempDir();
        string root = tmp["images"], sub = Path.Combine(root, "sub");
        Directory.CreateDirectory(sub);
        File.Copy(TestPaths.Photo("apple.jpg"), Path.Combine(root, "apple.jpg"));
        File.Copy(TestPaths.Photo("orange.jpg"), Path.Combine(sub, "orange.jpg"));
        Directory.CreateSymbolicLink(Path.Combine(sub, "loop"), root);      // sub/loop → the images folder: a loop
        Directory.CreateSymbolicLink(Path.Combine(root, "again"), sub);     // again → sub: the same folder twice, no loop
        using var src = new FolderImageSource(root);
        Assert.Equal(["apple.jpg", "sub/orange.jpg"], src.Entries.Select(e => e.RelativePath).Order(StringComparer.Ordinal).ToArray());
        var problem = Assert.Single(src.Problems);
        log.WriteLine($"{problem.RelativePath}: {problem.Reason}");
        Assert.Contains("symbolic link loop", problem.Reason);

        // Generation records it like an unreadable image.
        var s = ProposalPipeline.Generate(new ProposalPipeline.Request(root, tmp["store"], "soco") { Options = new GenerateOptions { Workers = 1 } });
        Assert.Equal(1, s.Failed);
        var failed = Assert.Single(ProposalStore.Open(tmp["store"]).ReadAll(), r => r.IsFailure);
        Assert.Contains("symbolic link loop", failed.FailureReason);
    }

    [Fact]
    public void AnUnlistableSubfolderIsRecordedNotDropped()
    {
        if (OperatingSystem.IsWindows()) return;   // folder permissions as tested here are POSIX modes
        using var tmp = new TestPaths.TempDir();
        string root = tmp["images"], locked = Path.Combine(root, "locked");
        Directory.CreateDirectory(locked);
        File.Copy(TestPaths.Photo("apple.jpg"), Path.Combine(root, "apple.jpg"));
        File.Copy(TestPaths.Photo("orange.jpg"), Path.Combine(locked, "orange.jpg"));
        File.SetUnixFileMode(locked, UnixFileMode.None);
        try
        {
            string store = tmp["store"];
            // Root reads every folder: the check runs in a child process without the capabilities that let it.
            bool root0 = geteuid() == 0;
            string[] args = ["proposals", "generate", "--images", root, "--out", store, "--workers", "1"];
            using var p = root0 ? ChildCli.Start(["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"], args) : ChildCli.Start([], args);
            Assert.True(p.Wait() == 0, p.Output);
            log.WriteLine(p.Output);
            Assert.Contains("cannot list the folder", p.Output);
            var records = ProposalStore.Open(store).ReadAll().ToList();
            Assert.Equal(2, records.Count);
            Assert.Contains(records, r => r.Key == "locked/" && r.IsFailure && r.FailureReason!.Contains("permission denied"));
        }
        finally
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [DllImport("libc")]
    static extern uint geteuid();

    // ---- 5. derived keys

    [Theory]
    [InlineData("total_batch=2048", "batch_size and accumulate")]
    [InlineData("model_pairs=2", "set model")]
    public void DerivedConfigKeysAreRefusedWithWhatToSetInstead(string set, string advice)
    {
        var e = Assert.Throws<ArgumentException>(() => PretrainConfigs.Load("demo", [set]));
        Assert.Contains("derived", e.Message);
        Assert.Contains(advice, e.Message);
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["c.json"], $"{{\"{set.Split('=')[0]}\": 2}}");
        Assert.Contains(advice, Assert.Throws<ArgumentException>(() => PretrainConfigs.Load(tmp["c.json"])).Message);
    }

    // ---- 7. a .pth that is not a checkpoint

    [Theory]
    [InlineData("bare_tensor.pth", "a bare tensor")]
    [InlineData("tensor_list.pth", "a list")]
    public void APthThatIsNotADictionaryGetsOneLineSayingWhatItHolds(string file, string what)
    {
        string path = TestPaths.Fixture("reliability", file);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(path));
        Assert.Contains(what, e.Message);
        Assert.Contains(what, Assert.Throws<InvalidDataException>(() => CheckpointStore.Load(path)).Message);
        foreach (var cmd in new[]
                 {
                     new[] { "import", "--from", path, "--out", _data["x.pth"] },
                     ["export", "--checkpoint", path, "--format", "pytorch", "--out", _data["y.pth"]],
                     ["features", "--checkpoint", path, "--image", TestPaths.Photo("apple.jpg"), "--out", _data["z.pth"]],
                 })
        {
            using var p = TrainingData.StartCli(cmd);
            Assert.Equal(2, p.Wait());
            Assert.Contains(what, Flat(p.Output));
            Assert.DoesNotContain("   at ", p.Output);
        }
    }

    // ---- 8. duplicate keys in proposal JSON

    [Fact]
    public void DuplicateKeysInProposalJsonAreRefusedOrMergedOnRequest()
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["dup.json"], """{"a": [[0, 0, 10, 10]], "b": [[2, 2, 3, 3]], "a": [[1, 1, 5, 5]]}""");
        var e = Assert.Throws<FormatException>(() => ProposalJson.Import(tmp["dup.json"], tmp["store"]));
        Assert.Contains("'a'", e.Message);
        Assert.Contains("more than once", e.Message);
        Assert.False(ProposalStore.Exists(tmp["store"]) && ProposalStore.Open(tmp["store"]).ReadAll().Any(), "a refused import leaves no records");

        var r = ProposalJson.Import(tmp["dup.json"], tmp["merged"], mergeDuplicates: true);
        Assert.Equal((2, 3L, 1), (r.Images, r.Boxes, r.MergedKeys));
        var index = ProposalStore.Open(tmp["merged"]).LoadIndex();
        Assert.Equal([new ProposalRect(0, 0, 10, 10), new ProposalRect(1, 1, 5, 5)], index["a"].Rects);
        Assert.Single(index["b"].Rects);
    }

    // ---- 10. --max-pixels, and --strict

    [Theory]
    [InlineData(-1L)]
    [InlineData(0L)]
    public void ANonPositiveMaxPixelsIsRefusedUpFront(long maxPixels)
    {
        var e = Assert.Throws<ArgumentException>(() => ProposalPipeline.Prepare(new ProposalPipeline.Request(_data.Images, _data["store"])
            { Decode = ProposalPipeline.DefaultDecode with { MaxPixels = maxPixels } }));
        Assert.Contains("--max-pixels must be ≥ 1", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_data["store"], "parts")));
    }

    [Fact]
    public void StrictGivesANonZeroExitWhenAnImageFailedAndTheCountIsTheLastLine()
    {
        using var tmp = new TestPaths.TempDir();
        string images = tmp["images"];
        Directory.CreateDirectory(images);
        File.Copy(TestPaths.Photo("apple.jpg"), Path.Combine(images, "apple.jpg"));
        File.WriteAllBytes(Path.Combine(images, "broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
        using (var p = TrainingData.StartCli("proposals", "generate", "--images", images, "--out", tmp["a"], "--workers", "1"))
        {
            Assert.Equal(0, p.Wait());
            Assert.StartsWith($"failed images in {tmp["a"]}: 1", LastLine(p.Output));
        }
        using (var p = TrainingData.StartCli("proposals", "generate", "--images", images, "--out", tmp["b"], "--workers", "1", "--strict"))
        {
            Assert.Equal(3, p.Wait());
            Assert.StartsWith($"failed images in {tmp["b"]}: 1", LastLine(p.Output));
        }
        using (var p = TrainingData.StartCli("proposals", "generate", "--images", images, "--out", tmp["b"], "--workers", "1", "--strict"))
            Assert.Equal(3, p.Wait());   // failures recorded earlier count too: the store is what a script gets
    }

    /// <summary>Console output with the terminal's line wrapping undone.</summary>
    public static string Flat(string output) => System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");

    static string LastLine(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).Last(l => l.Trim().Length > 0);
}
