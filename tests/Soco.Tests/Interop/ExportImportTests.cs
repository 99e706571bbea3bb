using System.Diagnostics;
using Soco.Cli;
using Soco.Cli.Commands;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Tests.Modeling;
using static TorchSharp.torch;

namespace Soco.Tests.Interop;

/// <summary>
/// Exports read back by Python as the consuming tools read them (tools/check_exports.py with Debian's python3-torch and
/// numpy), and imports of checkpoints in the official layout (tools/official_checkpoint_fixtures.py).
/// </summary>
[Collection("torch")]
public class ExportImportTests
{
    static string Interop(string f) => TestPaths.Fixture("interop", f);

    static void Python(params string[] args)
    {
        var psi = new ProcessStartInfo(RequiresReferenceTorchFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "tools", "check_exports.py"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0 && stdout.Trim() == "OK", $"check_exports.py {string.Join(' ', args)}: {stdout}{stderr}");
    }

    /// <summary>Import an official checkpoint, export it again: the same tensors as the official converters wrote.</summary>
    [RequiresReferenceTorchFact]
    public void ImportedOfficialCheckpointsExportLikeTheOfficialConverters()
    {
        TorchRuntime.SetThreads(1);
        using var tmp = new TestPaths.TempDir();
        Assert.Equal(0, SocoCli.Run(["import", "--from", Interop("official_fpn.pth"), "--out", tmp["fpn.pth"]]));
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["fpn.pth"], "--format", "detectron2-fpn", "--out", tmp["fpn.pkl"]]));
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["fpn.pth"], "--format", "mmdet", "--out", tmp["fpn_mm.pth"]]));
        Assert.Equal(0, SocoCli.Run(["import", "--from", Interop("official_c4.pth"), "--out", tmp["c4.pth"]]));
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["c4.pth"], "--format", "detectron2-c4", "--out", tmp["c4.pkl"]]));
        Python("same-pickle", tmp["fpn.pkl"], Interop("official_fpn.detectron2_head.pkl"));
        Python("same-torch", tmp["fpn_mm.pth"], Interop("official_fpn.mmdet.pth"));
        Python("same-pickle", tmp["c4.pkl"], Interop("official_c4.detectron2_c4.pkl"));

        var imported = CheckpointReader.Read(tmp["fpn.pth"]);
        Assert.Equal(SocoArch.SocoFpn, imported.Arch);
        Assert.Equal(1875, imported.State["ema_step"].item<long>());   // the official counter, restored from the scheduler
        using var model = imported.CreateModel();
        Assert.Equal(1875, model.EmaStep);
    }

    /// <summary>A full-size R50 SoCo_FPN: both Detectron2 files hold exactly Detectron2's keys, shapes and dtypes, and the
    /// PyTorch export loads into torchvision's resnet50 (only fc missing) and gives our C5 on a sample photo.</summary>
    [RequiresReferenceTorchFact]
    public void FullSizeExportsLoadWhereDetectorsLoadThem()
    {
        TorchRuntime.SetThreads(2);
        using var tmp = new TestPaths.TempDir();
        manual_seed(3);
        using var model = new SocoFpn(new SocoConfig());
        ModelFile.Save(tmp["model.pth"], SocoArch.SocoFpn, model.Config, model.state_dict());
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["model.pth"], "--format", "detectron2-fpn", "--out", tmp["fpn.pkl"]]));
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["model.pth"], "--format", "detectron2-c4", "--out", tmp["c4.pkl"]]));
        Assert.Equal(0, SocoCli.Run(["export", "--checkpoint", tmp["model.pth"], "--format", "pytorch", "--out", tmp["r50.pth"]]));
        Python("d2-keys", tmp["fpn.pkl"], Interop("detectron2_expected_keys.json"), "R50-FPN-4conv1fc");
        Python("d2-keys", tmp["c4.pkl"], Interop("detectron2_expected_keys.json"), "R50-C4");

        var image = ModelCommands.ImageTensor(ImageDecoder.Decode(TestPaths.Photo("dog.jpg")), 224);
        model.eval();
        Tensor ours;
        using (no_grad()) ours = model.Encoder.forward(image)[3];
        SocoFeatures.SavePth(new Dictionary<string, Tensor> { ["image"] = image }, tmp["input.pth"]);
        Python("torchvision", tmp["r50.pth"], tmp["input.pth"], tmp["c5.pth"]);
        var theirs = SocoFeatures.LoadPth(tmp["c5.pth"])["c5"];
        double rel = (ours - theirs).abs().max().item<float>() / theirs.abs().max().item<float>();
        Assert.True(rel <= 1e-5, $"C5 differs by {rel:E2} (relative)");
    }

    [Theory]
    [InlineData("official_fpn_legacy.pth", "legacy (non-zip)")]
    [InlineData("plain_resnet.pth", "plain ResNet state dict")]
    public void UnusableFilesSayWhatTheyAreAndWhatWasExpected(string file, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(Interop(file)));
        Assert.Contains(expected, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void TruncatedEmptyAndForeignFilesAreClearErrors()
    {
        using var tmp = new TestPaths.TempDir();
        var bytes = File.ReadAllBytes(Interop("official_fpn.pth"));
        File.WriteAllBytes(tmp["cut.pth"], bytes[..(bytes.Length / 3)]);
        File.WriteAllBytes(tmp["empty.pth"], []);
        File.WriteAllText(tmp["text.pth"], "not a checkpoint");
        Assert.Contains("truncated or damaged", Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(tmp["cut.pth"])).Message);
        Assert.Contains("empty file", Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(tmp["empty.pth"])).Message);
        Assert.Contains("not a PyTorch checkpoint", Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(tmp["text.pth"])).Message);
        Assert.Throws<FileNotFoundException>(() => CheckpointReader.Read(tmp["missing.pth"]));
    }

    [Fact]
    public void AnotherArchitectureThanAskedIsRefused()
    {
        var e = Assert.Throws<InvalidDataException>(() => CheckpointReader.Read(Interop("official_fpn.pth"), SocoArch.SocoC4));
        Assert.Contains("soco_fpn model, not soco_c4", e.Message);
        Assert.Equal(2, SocoCli.Run(["export", "--checkpoint", Interop("official_c4.pth"), "--format", "detectron2-fpn", "--out", "/tmp/never.pkl"]));
    }

    [Fact]
    public void FeaturesCommandWritesNamedTensors()
    {
        TorchRuntime.SetThreads(1);
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["boxes.json"], "[[120, 200, 320, 540], [60, 60, 500, 400]]");
        Assert.Equal(0, SocoCli.Run(["import", "--from", Interop("official_fpn.pth"), "--out", tmp["m.pth"]]));
        Assert.Equal(0, SocoCli.Run(["features", "--checkpoint", tmp["m.pth"], "--image", TestPaths.Photo("dog.jpg"),
            "--boxes", tmp["boxes.json"], "--size", "128", "--out", tmp["f.pth"]]));
        var f = SocoFeatures.LoadPth(tmp["f.pth"]);
        Assert.Equal(new long[] { 1, 16, 32, 32 }, f["p2"].shape);
        Assert.Equal(new long[] { 1, 16 * 8, 4, 4 }, f["c5"].shape);
        Assert.Equal(new long[] { 2, 32 }, f["head.p3"].shape);
        Assert.Equal(new long[] { 2, 16 }, f["projection.p5"].shape);
        File.WriteAllText(tmp["bad.json"], "[[10, 10, 5, 40]]");
        Assert.Equal(2, SocoCli.Run(["features", "--checkpoint", tmp["m.pth"], "--image", TestPaths.Photo("dog.jpg"), "--boxes", tmp["bad.json"], "--out", tmp["g.pth"]]));
    }
}
