using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

[Collection("torch")]
public class BackboneParityTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("resnet50_tiny.pt", 50)]
    [InlineData("resnet18_tiny.pt", 18)]
    public void ResNetMatchesPyTorch(string file, int depth)
    {
        using var f = new TorchFixture(file);
        using var scope = NewDisposeScope();
        var net = new ResNet(new ResNetConfig { Depth = depth, BaseWidth = 4 });
        net.load_state_dict(f.Prefixed("state"), strict: true);
        net.train();
        var x = f["in.x"].clone().requires_grad_(true);
        var outs = net.forward(x);
        for (int i = 0; i < 4; i++) Parity.Check(log, $"R{depth} C{i + 2}", outs[i], f[$"out.c{i + 2}"], 1e-5);
        Parity.WeightedSum(f, outs).backward();
        Parity.Check(log, $"R{depth} d/dinput", x.grad!, f["grad.in.x"], 1e-4);
        Parity.CheckGrads(log, $"R{depth}", net, f.Prefixed("grad").Where(kv => !kv.Key.StartsWith("in.")).ToDictionary(), 1e-4);
        // BN running statistics after one training-mode forward (momentum 0.1, unbiased variance).
        var after = f.Prefixed("after");
        foreach (var (name, b) in net.named_buffers())
            Parity.Check(NullLog.Instance, $"R{depth} buffer {name}", b, after[name], 1e-5);
    }

    [Fact]
    public void ResNetStateDictNamesAreTorchvisions()
    {
        TorchRuntime.SetThreads(1);
        using var net = new ResNet(new ResNetConfig { Depth = 50, BaseWidth = 4 });
        var keys = net.state_dict().Keys.ToList();
        // torchvision resnet50 has 320 keys, 2 of them fc.*
        Assert.Equal(318, keys.Count);
        Assert.Contains("conv1.weight", keys);
        Assert.Contains("bn1.num_batches_tracked", keys);
        Assert.Contains("layer1.0.downsample.0.weight", keys);
        Assert.Contains("layer1.0.downsample.1.running_var", keys);
        Assert.Contains("layer4.2.conv3.weight", keys);
        Assert.DoesNotContain("layer1.1.downsample.0.weight", keys);
        // PyTorch's registration order (optimizer state files index parameters by it)
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
            "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias", "layer1.0.conv3.weight", "layer1.0.bn3.weight",
            "layer1.0.bn3.bias", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight"], net.named_parameters().Take(14).Select(p => p.name));
        using var r101 = new ResNet(new ResNetConfig { Depth = 101, BaseWidth = 2 });
        Assert.Contains("layer3.22.bn3.weight", r101.state_dict().Keys);
        using var r34 = new ResNet(new ResNetConfig { Depth = 34, BaseWidth = 2 });
        var k34 = r34.state_dict().Keys.ToList();
        Assert.Contains("layer3.5.bn2.weight", k34);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", k34);
        Assert.Contains("layer2.0.downsample.0.weight", k34);
        Assert.Equal([2, 4, 8, 16], r34.OutChannels);
    }

    [Fact]
    public void ResNetInitFollowsTheSpec()
    {
        TorchRuntime.SetThreads(1);
        torch.manual_seed(1);
        using var net = new ResNet(new ResNetConfig { Depth = 50, BaseWidth = 16 });
        var p = net.named_parameters().ToDictionary(t => t.name, t => t.parameter);
        foreach (var (name, t) in p)
        {
            if (name.EndsWith("bn3.weight")) Assert.Equal(0.0, t.abs().max().item<float>());
            else if (name.Contains("bn") || name.Contains("downsample.1"))
                Assert.Equal(name.EndsWith("weight") ? 1.0 : 0.0, t.mean().item<float>(), 6);
        }
        // Every conv ~ N(0, sqrt(2 / (k·k·out))) (He, fan_out): sample mean and std within 5 standard errors of the
        // distribution's (σ/√n for the mean, σ/√(2n) for the std of n normal draws) — a statistical test with a
        // ~1e-6 false-alarm rate per tensor, not a loose ±10 %.
        int convs = 0;
        foreach (var (name, t) in p.Where(kv => kv.Value.dim() == 4))
        {
            long n = t.numel();
            double sigma = Math.Sqrt(2.0 / (t.shape[2] * t.shape[3] * t.shape[0]));
            double mean = t.mean().item<float>(), std = t.std().item<float>();
            Assert.True(Math.Abs(mean) <= 5 * sigma / Math.Sqrt(n), $"{name}: mean {mean:E3}, expected 0 ± {5 * sigma / Math.Sqrt(n):E2}");
            Assert.True(Math.Abs(std - sigma) <= 5 * sigma / Math.Sqrt(2.0 * n), $"{name}: std {std:E4}, expected {sigma:E4} ± {5 * sigma / Math.Sqrt(2.0 * n):E2}");
            convs++;
        }
        Assert.Equal(53, convs);   // stem + 16 blocks × 3 + 4 downsample convs
        // BasicBlock: its bn2 is the zero-initialised one
        using var r18 = new ResNet(new ResNetConfig { Depth = 18, BaseWidth = 4 });
        foreach (var (name, t) in r18.named_parameters())
            if (name.EndsWith("bn2.weight")) Assert.Equal(0.0, t.abs().max().item<float>());
    }

    [Fact]
    public void FpnMatchesPyTorch()
    {
        using var f = new TorchFixture("fpn.pt");
        using var scope = NewDisposeScope();
        var fpn = new Fpn([16, 32, 64, 128], 8, withP6: true);
        fpn.load_state_dict(f.Prefixed("state"), strict: true);
        fpn.train();
        var xs = Enumerable.Range(2, 4).Select(i => f[$"in.c{i}"].clone().requires_grad_(true)).ToArray();
        var outs = fpn.forward(xs);
        Assert.Equal(5, outs.Length);
        for (int i = 0; i < 5; i++) Parity.Check(log, $"FPN P{i + 2}", outs[i], f[$"out.p{i + 2}"], 1e-5);
        Assert.Equal(new long[] { 2, 8, 14, 14 }, outs[0].shape);
        Assert.Equal(new long[] { 2, 8, 1, 1 }, outs[4].shape);
        Parity.WeightedSum(f, outs).backward();
        for (int i = 0; i < 4; i++) Parity.Check(log, $"FPN d/dC{i + 2}", xs[i].grad!, f[$"grad.in.c{i + 2}"], 1e-4);
        Parity.CheckGrads(log, "FPN", fpn, f.Prefixed("grad").Where(kv => !kv.Key.StartsWith("in.")).ToDictionary(), 1e-4);
        var keys = fpn.state_dict().Keys.ToList();
        Assert.Contains("lateral_convs.0.conv.weight", keys);
        Assert.Contains("fpn_convs.3.bn.running_mean", keys);
        Assert.DoesNotContain(keys, k => k.EndsWith("conv.bias"));
    }

    [Fact]
    public void HeadAndMlpMatchPyTorch()
    {
        using var f = new TorchFixture("heads.pt");
        using var scope = NewDisposeScope();
        var head = new ConvFcBoxHead(8, 8, 7, 16);
        head.load_state_dict(f.Prefixed("head"), strict: true);
        var mlp = new MlpHead(16, 32, 8);
        mlp.load_state_dict(f.Prefixed("mlp"), strict: true);
        head.train();
        mlp.train();
        var x = f["in.rois"].clone().requires_grad_(true);
        var v = f["in.vec"].clone().requires_grad_(true);
        var ho = head.forward(x);
        var mo = mlp.forward(v);
        Parity.Check(log, "box head", ho, f["out.head"], 1e-5);
        Parity.Check(log, "MLP", mo, f["out.mlp"], 1e-5);
        Parity.WeightedSum(f, [ho, mo]).backward();
        Parity.Check(log, "box head d/dinput", x.grad!, f["grad.in.rois"], 1e-4);
        Parity.Check(log, "MLP d/dinput", v.grad!, f["grad.in.vec"], 1e-4);
        Parity.CheckGrads(log, "box head", head, f.Prefixed("grad.head"), 1e-4);
        Parity.CheckGrads(log, "MLP", mlp, f.Prefixed("grad.mlp"), 1e-4);
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias"], head.named_parameters().Take(3).Select(p => p.name));
        Assert.Contains("fc1.bias", head.state_dict().Keys);
        Assert.Equal(["linear1.weight", "linear1.bias", "bn1.weight", "bn1.bias", "linear2.weight", "linear2.bias"], mlp.named_parameters().Select(p => p.name));
    }
}

/// <summary>Swallows log lines (for checks too many to print).</summary>
public sealed class NullLog : ITestOutputHelper
{
    public static readonly NullLog Instance = new();
    public void WriteLine(string message) { }
    public void WriteLine(string format, params object[] args) { }
}
