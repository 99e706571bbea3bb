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

    /// <summary>`soco import` of the official FPN and C4 checkpoints, then `soco export` to the formats the official
    /// converters write; every command must succeed (its output is shown when one does not).</summary>
    static (string FpnPkl, string FpnMmdet, string C4Pkl, string FpnModel) ImportAndExportOfficial(TestPaths.TempDir tmp)
    {
        void Ok(params string[] args)
        {
            var (code, output) = Soco.Tests.Cli.CliRunner.Run(args);
            Assert.True(code == 0, $"soco {string.Join(' ', args)}: exit {code}\n{output}");
        }
        Ok("import", "--from", Interop("official_fpn.pth"), "--out", tmp["fpn.pth"]);
        Ok("export", "--checkpoint", tmp["fpn.pth"], "--format", "detectron2-fpn", "--out", tmp["fpn.pkl"]);
        Ok("export", "--checkpoint", tmp["fpn.pth"], "--format", "mmdet", "--out", tmp["fpn_mm.pth"]);
        Ok("import", "--from", Interop("official_c4.pth"), "--out", tmp["c4.pth"]);
        Ok("export", "--checkpoint", tmp["c4.pth"], "--format", "detectron2-c4", "--out", tmp["c4.pkl"]);
        return (tmp["fpn.pkl"], tmp["fpn_mm.pth"], tmp["c4.pkl"], tmp["fpn.pth"]);
    }

    /// <summary>No Python needed: the import succeeds, takes the EMA counter from the official scheduler (the
    /// official checkpoint does not store it), and every export writes a file of its format (a pickle, a PyTorch zip).</summary>
    [Fact]
    public void OfficialCheckpointsImportWithTheSchedulersEmaCounterAndExport()
    {
        TorchRuntime.SetThreads(1);
        using var tmp = new TestPaths.TempDir();
        var (fpnPkl, fpnMm, c4Pkl, fpnModel) = ImportAndExportOfficial(tmp);
        var imported = CheckpointReader.Read(fpnModel);
        Assert.Equal(SocoArch.SocoFpn, imported.Arch);
        Assert.Equal(1875, imported.State["ema_step"].item<long>());   // the official counter, restored from the scheduler
        using (var model = imported.CreateModel()) Assert.Equal(1875, model.EmaStep);
        var official = CheckpointReader.Read(Interop("official_fpn.pth"));
        Assert.Equal("official", official.Layout);
        Assert.Equal(1875, official.State["ema_step"].item<long>());
        foreach (var pkl in new[] { fpnPkl, c4Pkl })
        {
            var bytes = File.ReadAllBytes(pkl);
            Assert.True(bytes.Length > 1000 && bytes[0] == 0x80 && bytes[^1] == (byte)'.', $"{pkl} is not a complete pickle");
        }
        var mm = File.ReadAllBytes(fpnMm);
        Assert.True(mm.Length > 1000 && mm[0] == (byte)'P' && mm[1] == (byte)'K', $"{fpnMm} is not a PyTorch zip file");
    }

    /// <summary>The exports read back with Python: the same tensors as the official converters wrote.</summary>
    [RequiresReferenceTorchFact]
    public void ImportedOfficialCheckpointsExportLikeTheOfficialConverters()
    {
        TorchRuntime.SetThreads(1);
        using var tmp = new TestPaths.TempDir();
        var (fpnPkl, fpnMm, c4Pkl, _) = ImportAndExportOfficial(tmp);
        Python("same-pickle", fpnPkl, Interop("official_fpn.detectron2_head.pkl"));
        Python("same-torch", fpnMm, Interop("official_fpn.mmdet.pth"));
        Python("same-pickle", c4Pkl, Interop("official_c4.detectron2_c4.pkl"));
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

        var image = SocoFeatures.ImageTensor(ImageDecoder.Decode(TestPaths.Photo("dog.jpg")), 224);
        model.eval();
        Tensor ours;
        using (no_grad()) ours = model.Encoder.forward(image)[3];
        Pth.Save(new Dictionary<string, Tensor> { ["image"] = image }, tmp["input.pth"]);
        Python("torchvision", tmp["r50.pth"], tmp["input.pth"], tmp["c5.pth"]);
        var theirs = Pth.LoadTensors(tmp["c5.pth"])["c5"];
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
        using var tmp = new TestPaths.TempDir();
        Soco.Tests.Cli.CliRunner.UserError(["export", "--checkpoint", Interop("official_c4.pth"), "--format", "detectron2-fpn", "--out", tmp["never.pkl"]],
            "detectron2-fpn needs an FPN model", "use --format detectron2-c4");
        Assert.False(File.Exists(tmp["never.pkl"]));
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
        var f = Pth.LoadTensors(tmp["f.pth"]);
        Assert.Equal(new long[] { 1, 16, 32, 32 }, f["p2"].shape);
        Assert.Equal(new long[] { 1, 16 * 8, 4, 4 }, f["c5"].shape);
        Assert.Equal(new long[] { 2, 32 }, f["head.p3"].shape);
        Assert.Equal(new long[] { 2, 16 }, f["projection.p5"].shape);
        File.WriteAllText(tmp["bad.json"], "[[10, 10, 5, 40]]");
        Soco.Tests.Cli.CliRunner.UserError(["features", "--checkpoint", tmp["m.pth"], "--image", TestPaths.Photo("dog.jpg"), "--boxes", tmp["bad.json"], "--out", tmp["g.pth"]],
            tmp["bad.json"], "box 0 [10, 10, 5, 40] is not [x1, y1, x2, y2]");
        Assert.False(File.Exists(tmp["g.pth"]));
    }
}
