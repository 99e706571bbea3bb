using Soco.Interop;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Tests.Cli;
using Soco.Tests.Detection;
using Soco.Tests.Training;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Interop;

/// <summary>
/// The model registry (<see cref="SocoArchitecture"/>) and the one config reader: every pretraining kind builds,
/// names and reads back the same way; a BYOL run is exported, inspected and used as a detector's --init like a SoCo
/// run; fine-tuning's --set gives the pretraining config's messages.
/// </summary>
[Collection("torch")]
public sealed class ModelRegistryTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public void EveryKindIsFoundByItsNamesAndInferredFromItsOwnWeights()
    {
        TorchRuntime.SetThreads(1);
        foreach (var kind in SocoArchitecture.Kinds)
        {
            foreach (var name in kind.AllNames) Assert.Equal(kind.Arch, SocoArchitecture.Parse(name));
            Assert.Equal(kind.Arch, SocoArchitecture.Parse(kind.Name.ToUpperInvariant()));
            using var model = kind.Create(TrainingData.TinyModel);
            var state = model.state_dict();
            // The official names: the online parts, the predictor, the target's with _k, the EMA counter.
            string[] parts = kind.HasFpn ? ["encoder", "neck", "head", "projector"] : ["encoder", "projector"];
            Assert.Equal([.. parts, "predictor", .. parts.Select(p => p + "_k"), "ema_step"], state.Keys.Select(k => k.Split('.')[0]).Distinct());
            var (arch, config) = SocoArchitecture.Infer(state, "test", kind.Arch);
            Assert.Equal(kind.Arch, arch);
            Assert.Equal(TrainingData.TinyModel.Backbone, config.Backbone);
            Assert.Equal(TrainingData.TinyModel.EmbeddingDim, config.EmbeddingDim);
            // Without a hint, the weights alone say FPN or not.
            Assert.Equal(kind.HasFpn ? SocoArch.SocoFpn : SocoArch.SocoC4, SocoArchitecture.Infer(state, "test").Arch);
        }
        Assert.Contains("unknown architecture 'soco_detr'", Assert.Throws<ArgumentException>(() => SocoArchitecture.Parse("soco_detr")).Message);
        foreach (var (name, arch) in SocoArchitecture.DetectorKinds) Assert.Equal(name, SocoArchitecture.DetectorName(arch));
    }

    [Fact]
    public void ATargetIsACopyOfItsOnlineBranchWithFrozenParameters()
    {
        TorchRuntime.SetThreads(1);
        manual_seed(4);
        using var model = new SocoFpn(TrainingData.TinyModel);
        var online = model.Online.state_dict();
        var target = model.Target.state_dict();
        Assert.Equal(online.Keys, target.Keys);
        foreach (var (k, t) in online) Assert.True(t.equal(target[k]).all().item<bool>(), $"{k} differs between online and target");
        Assert.All(model.Target.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(model.Online.parameters(), p => Assert.True(p.requires_grad));
        // The model's state dict holds the branches' parts under the official names, not under the branches.
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("online.", StringComparison.Ordinal) || k.StartsWith("target.", StringComparison.Ordinal));
        Assert.Same(model.Online.Encoder, model.Encoder);
    }

    [Fact]
    public void AByolRunIsExportedInspectedAndInitialisesADetector()
    {
        string run = _data["byol"];
        using (var r = PretrainRun.Open(TrainingData.Tiny("model=byol"), _data.Options(run) with { StopAfterStep = 2 })) r.Run();

        var loaded = CheckpointReader.Read(run);
        Assert.Equal(SocoArch.Byol, loaded.Arch);
        using (var model = loaded.CreateModel()) Assert.IsType<ByolModel>(model);

        // export: the online backbone with torchvision's names.
        string pth = _data["byol_r18.pth"];
        var output = CliRunner.Ok("export", "--checkpoint", run, "--format", "pytorch", "--out", pth);
        log.WriteLine(output);
        Assert.Contains("of a byol model", output);
        var exported = Pth.LoadTensors(pth);
        Assert.True(exported["conv1.weight"].equal(loaded.State["encoder.conv1.weight"]).all().item<bool>());

        // A model file keeps the kind.
        string file = _data["byol_model.pth"];
        ModelFile.Save(file, loaded.Arch, loaded.Config, loaded.State);
        Assert.Equal(SocoArch.Byol, CheckpointReader.Read(file).Arch);
        CliRunner.UserError(["export", "--checkpoint", file, "--arch", "soco_fpn", "--format", "pytorch", "--out", _data["x.pth"]], "a byol model, not soco_fpn");

        // features: backbone maps, the pooled C5, its projection and the normalised prediction (ByolRunTests).
        string features = _data["f.pth"];
        CliRunner.Ok("features", "--checkpoint", run, "--image", TestPaths.Photo("dog.jpg"), "--size", "64", "--out", features);
        var f = Pth.LoadTensors(features);
        Assert.Equal(["c2", "c3", "c4", "c5", "embedding", "pooled", "projection"], f.Keys.Order());
        Assert.Equal(new long[] { 1, TrainingData.TinyModel.EmbeddingDim }, f["projection"].shape);

        // --init: the encoder becomes the detector's backbone.
        manual_seed(0);
        using var detector = new FasterRcnn(FasterRcnnTests.TinyConfig with { Backbone = TrainingData.TinyModel.Backbone });
        var lines = DetectorInit.Apply(detector, run);
        foreach (var l in lines) log.WriteLine(l);
        Assert.Contains(lines, l => l.Contains("SoCo soco.net pretraining weights", StringComparison.Ordinal));
        Assert.True(detector.state_dict()["backbone.conv1.weight"].equal(loaded.State["encoder.conv1.weight"]).all().item<bool>());
    }

    [Fact]
    public void FinetuneOverridesAreReadAsPretrainingOnes()
    {
        Assert.Contains("unknown config key 'max_itr' (did you mean 'max_iter'?)", Assert.Throws<ArgumentException>(() => FinetuneConfigs.Load("finetune_demo", ["max_itr=5"])).Message);
        Assert.Contains("config key 'max_iter' takes an integer; '1.5' is not one", Assert.Throws<ArgumentException>(() => FinetuneConfigs.Load("finetune_demo", ["max_iter=1.5"])).Message);
        Assert.Contains("key 'steps' has the wrong type (expected a JSON list of integers", Assert.Throws<ArgumentException>(() => FinetuneConfigs.Load("finetune_demo", ["steps=[4,\"x\"]"])).Message);
        Assert.Contains("must be key=value", Assert.Throws<ArgumentException>(() => FinetuneConfigs.Load("finetune_demo", ["max_iter"])).Message);
        // Dashes and capitals in an override's key, lists as JSON, strings as they are.
        var c = FinetuneConfigs.Load("finetune_demo", ["Max-Iter=7", "steps=[3,5]", "min_sizes=[96,128]", "arch=c4"]);
        Assert.Equal(7, c.MaxIter);
        Assert.Equal([3L, 5L], c.Steps);
        Assert.Equal([96, 128], c.MinSizes);
        Assert.Equal("c4", c.Arch);
        Assert.Contains("is derived and cannot be set", Assert.Throws<ArgumentException>(() => PretrainConfigs.Load("demo", ["total_batch=4"])).Message);
    }
}
