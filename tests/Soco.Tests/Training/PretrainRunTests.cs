using Soco.Modeling;
using Soco.Proposals;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Training;

[Collection("torch")]
public class PretrainRunTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    PretrainResult Train(PretrainConfig config, PretrainOptions options)
    {
        using var run = PretrainRun.Open(config, options);
        return run.Run();
    }

    static List<StepMetrics> Metrics(string run) => MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));

    [Fact]
    public void CheckpointRoundTripRestoresModelOptimizerEmaCounterAndRng()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(5);
        var model = new SocoFpn(TrainingData.TinyModel);
        model.EmaStep = 7;
        using var lars = Lars.ForSoco(model.OnlineParameters(), 1e-5);
        foreach (var (_, p) in model.OnlineParameters()) (p * randn_like(p)).sum().backward();
        lars.LearningRate = 0.5;
        lars.Step();
        var meta = new CheckpointMeta { Step = 7, Epoch = 2, Batch = 3, TotalSteps = 20, EmaStep = 7, Lr = 0.5, Loss = -1.25, Model = "fpn", Config = "{}" };
        var store = new CheckpointStore(_data["run"], keepLast: 2);
        string path = store.Save(Checkpoint.Capture(model, lars, meta), 7, null);
        var next = randn(5);                                   // the draw that follows the saved RNG state

        manual_seed(99);
        var fresh = new SocoFpn(TrainingData.TinyModel);
        using var freshLars = Lars.ForSoco(fresh.OnlineParameters(), 1e-5);
        using (var c = CheckpointStore.Load(path))
        {
            Assert.Equal(meta with { SavedUtc = c.Meta.SavedUtc }, c.Meta);
            c.Restore(fresh, freshLars);
        }
        Assert.Equal(7, fresh.EmaStep);
        var a = model.state_dict();
        var b = fresh.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.Contains("ema_step", a.Keys);
        Assert.Contains(a.Keys, k => k.StartsWith("encoder_k."));
        foreach (var k in a.Keys) Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{k} differs after the round trip");
        var sa = lars.StateDict();
        var sb = freshLars.StateDict();
        Assert.Equal(sa.Keys.Order(), sb.Keys.Order());
        foreach (var k in sa.Keys) Assert.True(sa[k].equal(sb[k]).all().item<bool>(), k);
        Assert.True(randn(5).equal(next).all().item<bool>(), "torch RNG state not restored");
        // The file is a flat {name: tensor} .pth that torch.load reads (PyTorch zip format).
        Assert.Equal((byte)'P', File.ReadAllBytes(path)[0]);
    }

    [Fact]
    public void FullDiskWhileCheckpointingStopsCleanlyAndTheResumedRunContinuesExactly()
    {
        var config = TrainingData.Tiny();
        string clean = _data["clean"], broken = _data["broken"];
        var done = Train(config, _data.Options(clean));
        Assert.Equal(PretrainStop.Finished, done.Stop);
        Assert.Equal(9, done.StepsDone);
        var expected = Metrics(clean);

        // The second checkpoint write (step 4) hits a full disk half-way.
        int writes = 0;
        var failing = _data.Options(broken) with { CheckpointStreamWrapper = s => ++writes == 2 ? new FullDiskStream(s, 2000) : s };
        var e = Assert.Throws<IOException>(() => Train(config, failing));
        log.WriteLine(e.Message);
        Assert.Contains("no space left", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("ckpt_step_00000002.pth is intact", e.Message);
        var files = Directory.GetFiles(Path.Combine(broken, CheckpointStore.Folder)).Select(Path.GetFileName).ToList();
        Assert.Equal(["ckpt_step_00000002.pth"], files);            // nothing half-written, nothing older lost

        var resumed = Train(config, _data.Options(broken));
        Assert.Equal(PretrainStop.Finished, resumed.Stop);
        Assert.Equal(7, resumed.StepsThisSession);
        var actual = Metrics(broken);
        Assert.Equal(expected.Select(m => m.Step), actual.Select(m => m.Step));
        Assert.Equal(expected.Select(m => m.Loss), actual.Select(m => m.Loss));   // bit-identical
        Assert.Equal(expected.Select(m => m.Lr), actual.Select(m => m.Lr));
        // A finished run is reused, not retrained.
        var again = Train(config, _data.Options(broken));
        Assert.Equal(PretrainStop.AlreadyFinished, again.Stop);
        Assert.Equal(9, Metrics(broken).Count);
    }

    [Fact]
    public void AKillDuringACheckpointWriteLeavesThePreviousOneUsable()
    {
        var config = TrainingData.Tiny("epochs=1");
        string run = _data["run"];
        Train(config, _data.Options(run) with { StopAfterStep = 2 });
        var store = new CheckpointStore(run, 2);
        var good = Assert.Single(store.Files());
        // What a writer killed mid-write leaves: its temporary file. And, worse than atomic writes allow, a torn file
        // under a final name, written last.
        string dir = Path.Combine(run, CheckpointStore.Folder);
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(Path.Combine(dir, ".ckpt_step_00000003.pth.4242.0123456789abcdef.tmp"), bytes[..(bytes.Length / 2)]);
        string torn = Path.Combine(dir, CheckpointStore.StepName(3));
        File.WriteAllBytes(torn, bytes[..(bytes.Length / 3)]);
        File.SetLastWriteTimeUtc(torn, DateTime.UtcNow.AddMinutes(1));
        var warnings = new List<string>();
        using (var c = store.LoadLatest(warnings.Add))
        {
            Assert.NotNull(c);
            Assert.Equal(good, c!.Path);
            Assert.Equal(2, c.Meta.Step);
        }
        Assert.Contains(warnings, w => w.Contains("ckpt_step_00000003.pth") && w.Contains("cannot be read"));
        File.Delete(torn);
        var r = Train(config, _data.Options(run));
        Assert.Equal(PretrainStop.Finished, r.Stop);
        Assert.Equal(1, r.StepsThisSession);
        Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".tmp"));   // stale temporaries removed on resume
    }

    /// <summary>
    /// base_lr 4e40 (lr 3.1e38, just below float32's maximum, which LibTorch requires of the lr): step 1's loss is finite, its update overflows the weights to infinity, and the checkpoint of
    /// step 1 refuses them: nothing is saved, and the message says there is no checkpoint to go back to.
    /// </summary>
    [Fact]
    public void CheckpointsRefuseNonFiniteWeights()
    {
        var config = TrainingData.Tiny("base_lr=4e40", "checkpoint_steps=1", "warmup_epochs=0");
        string run = _data["run"];
        var e = Assert.Throws<TrainingDivergedException>(() => Train(config, _data.Options(run)));
        log.WriteLine(e.Message);
        Assert.Contains("the weights became NaN or infinite in step 1", e.Message);
        Assert.Contains("nothing saved", e.Message);
        Assert.Contains("No checkpoint was written yet", e.Message);
        Assert.Empty(new CheckpointStore(run, 2).Files());
        Assert.Single(Metrics(run));   // step 1 ran (finite loss); its weights were not kept
        Assert.True(double.IsFinite(Metrics(run)[0].Loss));
    }

    /// <summary>The loss branch before any checkpoint: step 2's loss (after step 1 overflowed the weights, with no
    /// checkpoint due) stops the run before the optimiser step, and the message says no checkpoint exists.</summary>
    [Fact]
    public void NonFiniteLossBeforeAnyCheckpointSaysThereIsNone()
    {
        var config = TrainingData.Tiny("base_lr=4e40", "checkpoint_steps=100", "warmup_epochs=0");
        string run = _data["run"];
        var e = Assert.Throws<TrainingDivergedException>(() => Train(config, _data.Options(run)));
        log.WriteLine(e.Message);
        Assert.Matches("the loss is (NaN|-?∞|-?Infinity) at step 2", e.Message);
        Assert.Contains("stopped before the optimiser step", e.Message);
        Assert.Contains("No checkpoint was written yet", e.Message);
        Assert.Contains("base_lr", e.Message);
        Assert.Empty(new CheckpointStore(run, 2).Files());
        Assert.All(Metrics(run), m => Assert.True(double.IsFinite(m.Loss)));
    }

    /// <summary>
    /// The loss branch after a checkpoint: a run stopped at step 2 (checkpoint written), whose checkpoint is then given
    /// finite but overflowing stem weights (3e38), resumes and its first loss is not finite: the message names that
    /// checkpoint as the last good one, and the file is left exactly as it was.
    /// </summary>
    [Fact]
    public void NonFiniteLossAfterACheckpointNamesTheLastGoodOne()
    {
        var config = TrainingData.Tiny();
        string run = _data["run"];
        Train(config, _data.Options(run) with { StopAfterStep = 2 });
        var store = new CheckpointStore(run, 2);
        string good = Assert.Single(store.Files());
        var entries = Pth.Unpickle(good);
        using (no_grad()) ((Tensor)entries["model.encoder.conv1.weight"]!).fill_(3e38f);
        using (var f = File.Create(good)) TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(f, entries);
        var bytes = File.ReadAllBytes(good);

        var e = Assert.Throws<TrainingDivergedException>(() => Train(config, _data.Options(run)));
        log.WriteLine(e.Message);
        Assert.Matches("the loss is (NaN|-?∞|-?Infinity) at step 3", e.Message);
        Assert.Contains($"The last good checkpoint is {good}.", e.Message);
        Assert.Equal(good, Assert.Single(store.Files()));
        Assert.Equal(bytes, File.ReadAllBytes(good));
        Assert.Equal(2, Metrics(run).Count);
    }

    [Fact]
    public void DemoPresetLossFallsOnTheSamplePhotos()
    {
        string store = _data["all-proposals"];
        ProposalJson.Import(TestPaths.Fixture("views", "proposals_ratio3size0308post.json"), store);
        var config = PretrainConfigs.Load("demo", ["epochs=3", "warmup_epochs=1"]);
        var r = Train(config, _data.Options(_data["demo"]) with { Images = TestPaths.Photos, Proposals = store });
        var m = Metrics(_data["demo"]);
        Assert.Equal(15, m.Count);   // 22 photos, batch 4 → 5 steps per epoch
        double first = m[0].Loss, last = m.TakeLast(5).Average(x => x.Loss);
        log.WriteLine($"demo preset: loss {first:F4} at step 1 → {last:F4} (mean of steps 11-15); {r.StepsPerSecond:F2} steps/s, data wait {100 * r.DataWaitShare:F1} %");
        Assert.True(last < first - 1.0, $"loss did not fall: {first} → {last}");
        Assert.True(File.Exists(Path.Combine(_data["demo"], PretrainRun.CurvesFile)));
        Assert.Single(Directory.GetFiles(Path.Combine(_data["demo"], PretrainRun.TensorBoardFolder)));
        var saved = PretrainConfigs.Parse(File.ReadAllText(Path.Combine(_data["demo"], PretrainRun.ConfigFile)), "saved");
        Assert.Equal(config, saved);
    }

    [Fact]
    public void BadInputsGiveClearErrors()
    {
        var config = TrainingData.Tiny();
        var missing = Assert.ThrowsAny<Exception>(() => PretrainRun.Open(config, _data.Options(_data["r1"]) with { Images = _data["no-such-folder"] }));
        Assert.Contains("images folder not found", missing.Message);
        // A proposal store made for other images.
        string other = _data["other.json"];
        File.WriteAllText(other, """{"cat_001": [[1, 2, 30, 40]], "cat_002": [[5, 5, 20, 20]]}""");
        ProposalJson.Import(other, _data["other-store"]);
        var foreign = Assert.Throws<ArgumentException>(() => PretrainRun.Open(config, _data.Options(_data["r2"]) with { Proposals = _data["other-store"] }));
        Assert.Contains("made for other images", foreign.Message);
        Assert.Contains("'cat_001'", foreign.Message);
        Assert.False(Directory.Exists(_data["r2"]));   // nothing written for a run that could not start
        // A run folder keeps its config: another one is refused, with the differing keys named.
        Train(config, _data.Options(_data["r3"]) with { StopAfterStep = 1 });
        var changed = Assert.Throws<ArgumentException>(() => PretrainRun.Open(TrainingData.Tiny("batch_size=3"), _data.Options(_data["r3"])));
        Assert.Contains("batch_size: 2 → 3", changed.Message);
        // The model must fit the recipe.
        var mismatch = Assert.Throws<ArgumentException>(() => TrainingData.Tiny("model=c4"));
        Assert.Contains("model c4 needs a recipe with 1 view pair", mismatch.Message);
    }
}
