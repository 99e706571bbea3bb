using System.Diagnostics;
using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// A fact that needs the reference PyTorch (Debian's /usr/bin/python3 with torch and torchvision); reported as
/// skipped, with the reason (also printed to the test run's error output, so a skip is never silent), where that is
/// not installed. With SOCO_REQUIRE_REFERENCE=1 (CI) a missing reference is a failure instead. The probe waits for
/// <c>import torch</c> however long it takes on a busy machine: no clock decides whether a test runs.
/// </summary>
public sealed class RequiresReferenceTorchFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";
    static readonly Lazy<string?> Missing = new(() =>
    {
        if (!File.Exists(Python)) return $"{Python} not found";
        try
        {
            using var p = Process.Start(new ProcessStartInfo(Python, ["-c", "import torch, torchvision"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null
                : "python3-torch / python3-torchvision are not installed (apt-get install -y python3-torch python3-torchvision): " +
                  stderr.Trim().Split('\n').LastOrDefault();
        }
        catch (Exception e) { return $"{Python} could not run: {e.Message}"; }
    });

    static bool _announced;

    public RequiresReferenceTorchFactAttribute()
    {
        // CI sets SOCO_REQUIRE_REFERENCE=1 (and installs the packages): there a missing reference fails instead of skipping.
        if (Missing.Value is string why && Environment.GetEnvironmentVariable("SOCO_REQUIRE_REFERENCE") != "1")
        {
            Skip = "reference PyTorch unavailable: " + why;
            if (!_announced)
            {
                _announced = true;
                Console.Error.WriteLine($"*** SKIPPING the tests that need the reference PyTorch: {why}. " +
                    "Set SOCO_REQUIRE_REFERENCE=1 to make this a failure (CI does). ***");
            }
        }
    }
}

[Collection("torch")]
public class FeaturesAndReferenceTests(ITestOutputHelper log)
{
    [Fact]
    public void FeaturesOfAnFpnModelRoundTripThroughPth()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(11);
        var model = new SocoFpn(SocoModelTests.Tiny());
        var image = randn(3, 64, 48);
        var boxes = tensor(new float[] { 0.1f, 0.1f, 0.6f, 0.5f, 1, 0.3f, 0.2f, 0.9f, 0.9f, 2 }).view(2, 5);
        var feats = SocoFeatures.Extract(model, image, boxes);
        Assert.True(model.training); // restored
        Assert.Equal(["c2", "c3", "c4", "c5", "p2", "p3", "p4", "p5", "head.p2", "projection.p2", "head.p3", "projection.p3", "head.p4", "projection.p4", "head.p5", "projection.p5"], feats.Keys);
        Assert.Equal(new long[] { 1, 16, 16, 12 }, feats["c2"].shape);
        Assert.Equal(new long[] { 1, 8, 2, 2 }, feats["p5"].shape);
        Assert.Equal(new long[] { 2, 16 }, feats["head.p3"].shape);
        Assert.Equal(new long[] { 2, 8 }, feats["projection.p3"].shape);
        // The same numbers as the model's own pieces in eval mode.
        model.eval();
        var p = model.Pyramid(image.unsqueeze(0));
        Assert.Equal(0f, (p[1] - feats["p3"]).abs().max().item<float>());
        model.train();

        using var dir = new TestPaths.TempDir();
        Pth.Save(feats, dir["f.pth"]);
        var back = Pth.LoadTensors(dir["f.pth"]);
        Assert.Equal(feats.Keys.OrderBy(k => k), back.Keys.OrderBy(k => k));
        foreach (var (k, v) in feats) Assert.Equal(0f, (v - back[k]).abs().max().item<float>());

        var c4 = new SocoC4(SocoModelTests.Tiny());
        var f4 = SocoFeatures.Extract(c4, image.unsqueeze(0), boxes);
        Assert.Equal(new long[] { 2, 128 }, f4["head"].shape);
        Assert.Equal(new long[] { 2, 8 }, f4["projection"].shape);
        Assert.Throws<ArgumentException>(() => SocoFeatures.Extract(model, randn(2, 3, 8, 8)));
    }

    /// <summary>
    /// Full-size parity: torchvision's own resnet50 (seeded, default init; fc dropped) and a 2×3×224×224 batch, written
    /// by /usr/bin/python3 (tools/torch_r50_reference.py) into a temporary folder at test time — the 100 MB weights stay
    /// out of the repository, and nothing is generated on the C# side that could share a bug with the reference. Loaded
    /// strictly into our ResNet (the torchvision names move unchanged); C2–C5 compared in eval and training-mode BN.
    /// </summary>
    [RequiresReferenceTorchFact]
    public void FullSizeResNet50MatchesTorchvision()
    {
        TorchRuntime.SetThreads(1);
        using var dir = new TestPaths.TempDir();
        var script = Path.Combine(TestPaths.RepoRoot, "tools", "torch_r50_reference.py");
        var psi = new ProcessStartInfo(RequiresReferenceTorchFactAttribute.Python, [script, dir.Path]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using (var proc = Process.Start(psi)!)
        {
            var err = proc.StandardError.ReadToEndAsync();
            log.WriteLine(proc.StandardOutput.ReadToEnd());
            proc.WaitForExit();
            Assert.True(proc.ExitCode == 0, "reference script failed: " + err.Result);
        }
        using var scope = NewDisposeScope();
        var net = new ResNet(ResNetConfig.R50);
        net.load_py(dir["r50.pth"], strict: true);
        var io = Pth.LoadTensors(dir["io.pth"]);
        using var _ = no_grad();
        // Eval-mode BN (running statistics): a plain function of the weights, held to 1e-5.
        net.eval();
        var e = net.forward(io["x"]);
        for (int i = 0; i < 4; i++) Parity.Check(log, $"R50 224² eval C{i + 2}", e[i], io[$"eval.c{i + 2}"], 1e-5);
        // Training-mode BN, as SoCo runs it: judged against the fp64 value like PyTorch's own fp32 result.
        net.train();
        var t = net.forward(io["x"]);
        for (int i = 0; i < 4; i++)
        {
            var exact = io[$"train64.c{i + 2}"];
            var (_, vsTorch) = Parity.Error(t[i], io[$"train.c{i + 2}"]);
            var (_, oursVsExact) = Parity.Error(t[i], exact);
            var (_, torchVsExact) = Parity.Error(io[$"train.c{i + 2}"], exact);
            log.WriteLine($"R50 224² train C{i + 2}: rel vs PyTorch fp32 {vsTorch:E2}; vs fp64: ours {oursVsExact:E2}, PyTorch {torchVsExact:E2}");
            Assert.True(oursVsExact <= Math.Max(2 * torchVsExact, 1e-5), $"C{i + 2}: ours {oursVsExact:E2} from fp64, PyTorch {torchVsExact:E2}");
            Assert.True(vsTorch <= 1e-4, $"C{i + 2}: {vsTorch:E2} from PyTorch fp32");
        }
    }
}
