using Soco.Interop;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Training;
using static Soco.Tests.Cli.CliRunner;
using static TorchSharp.torch;

namespace Soco.Tests.Interop;

/// <summary>
/// A BYOL pretraining run (the transfer benchmark's image-level arm, `soco pretrain --set model=byol`) is a model the
/// rest of the tool knows: `soco export`, `soco features` and `soco finetune --init` read it as they read a SoCo run.
/// </summary>
[Collection("torch")]
public sealed class ByolRunTests
{
    static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void ByolRunExportsGivesFeaturesAndInitialisesADetector()
    {
        TorchRuntime.SetThreads(1);
        using var dir = new TestPaths.TempDir();
        string pre = dir["pre"];
        Ok("pretrain", "--config", "demo", "--set", "model=byol", "--set", "depth=18", "--set", "base_width=4", "--set", "mlp_hidden_dim=32",
            "--set", "embedding_dim=8", "--set", "image_size=64", "--set", "batch_size=2", "--images", TestPaths.Photos, "--out", pre,
            "--stop-after", "2", "--threads", "1", "--workers", "1");

        var loaded = CheckpointReader.Read(pre);
        Assert.Equal(SocoArch.Byol, loaded.Arch);
        using (var model = loaded.CreateModel()) Assert.IsType<ByolModel>(model);

        // Export: the encoder as a torchvision ResNet state_dict.
        Ok("export", "--checkpoint", pre, "--format", "pytorch", "--arch", "byol", "--out", dir["byol.pth"]);
        var exported = Pth.Unpickle(dir["byol.pth"]);
        Assert.Equal(0f, MaxDiff(loaded.State["encoder.layer2.0.conv1.weight"], (Tensor)exported["layer2.0.conv1.weight"]!));

        // Features: backbone maps and the whole-image embedding (no boxes: BYOL has no object embeddings).
        Ok("features", "--checkpoint", pre, "--image", TestPaths.Photo("apple.jpg"), "--size", "64", "--out", dir["f.pth"]);
        var f = Pth.LoadTensors(dir["f.pth"]);
        Assert.Equal(new long[] { 1, loaded.Config.Backbone.StageChannels[3] }, f["pooled"].shape);
        Assert.Equal(new long[] { 1, 8 }, f["embedding"].shape);
        Assert.InRange(f["embedding"].norm().item<float>(), 0.999f, 1.001f);
        Assert.Equal(new long[] { 1, loaded.Config.Backbone.StageChannels[3], 2, 2 }, f["c5"].shape);

        // Fine-tuning init straight from the run folder: the encoder goes into the detector's backbone.
        var cfg = FinetuneConfigs.Load("finetune_demo", ["depth=18", "base_width=4"]);
        using (var det = new FasterRcnn(cfg.Detector(3, training: true)))
        {
            DetectorInit.Apply(det, pre);
            Assert.Equal(0f, MaxDiff(loaded.State["encoder.layer3.1.conv2.weight"], det.state_dict()["backbone.layer3.1.conv2.weight"]));
        }

        // A BYOL run is not taken for a SoCo C4 model (their weights have the same names and shapes).
        UserError(["export", "--checkpoint", pre, "--format", "pytorch", "--arch", "soco_c4", "--out", dir["x.pth"]], "byol");
    }
}
