using Soco.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// The residual stream under <c>precision: bf16</c> (docs/bf16.md §1): bfloat16 from block to block and through the
/// FPN's laterals, as under PyTorch's autocast, while every public output a caller reads (ResNet's C2–C5 and C4, the
/// FPN levels RoIAlign pools, SoCo_C4's res5 features) stays float32; in fp32 nothing changes.
/// </summary>
[Collection("torch")]
public class Bf16ResidualStreamTests(ITestOutputHelper log)
{
    static ResNet Net(ConvPrecision precision)
    {
        manual_seed(41);
        var net = new ResNet(new ResNetConfig { Depth = 50, BaseWidth = 4 });
        // Eval-mode BatchNorm (an affine map): training-mode statistics over a tiny batch at C4/C5's 2×2 and 1×1 maps
        // would amplify any rounding, and this test is about where the stream is rounded, not about that conditioning.
        net.eval();
        // Non-zero last BN γ, so every residual branch contributes (zero-init would make the blocks identities).
        using (no_grad()) foreach (var bn in net.modules().OfType<TorchSharp.Modules.BatchNorm>()) bn.weight!.fill_(0.5f);
        MixedPrecision.Apply(net, precision);
        return net;
    }

    [Fact]
    public void TheStreamStaysBf16InsideAndLeavesInFloat32()
    {
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 2, 3, 64, 64 }, generator: new Generator(42));
        var fp = Net(ConvPrecision.Fp32).forward(x).Select(t => t.detach()).ToArray();
        var net = Net(ConvPrecision.Bf16);
        var mixed = net.ForwardMixed(x);
        Assert.All(mixed, t => Assert.Equal(ScalarType.BFloat16, t.dtype));
        var outs = net.forward(x);
        Assert.All(outs, t => Assert.Equal(ScalarType.Float32, t.dtype));
        Assert.Equal(ScalarType.Float32, net.ForwardToC4(x).dtype);
        Assert.Equal(ScalarType.Float32, net.ForwardStem(x).dtype);
        for (int i = 0; i < outs.Length; i++)
        {
            // forward is ForwardMixed cast to float32 (same BatchNorm batch, so the same values), and bf16 rounding
            // (each block's sum rounded to bf16) keeps it close to the fp32 network.
            Assert.True(outs[i].detach().equal(mixed[i].detach().to(float32)).all().item<bool>(), $"C{i + 2}: forward is not ForwardMixed in float32");
            double rel = Rel(outs[i].detach(), fp[i]);
            log.WriteLine($"C{i + 2}: bf16 stream vs fp32 relative difference {rel:E2}");
            Assert.True(rel > 0 && rel < 0.05, $"C{i + 2} differs from fp32 by {rel:E2}");
        }
        // The gradient still reaches the float32 master weights through the bf16 stream.
        outs[^1].pow(2).sum().backward();
        foreach (var (name, p) in net.named_parameters())
        {
            Assert.NotNull(p.grad);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        }
    }

    [Fact]
    public void Fp32StreamIsUnchanged()
    {
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: new Generator(43));
        var net = Net(ConvPrecision.Fp32);
        var mixed = net.ForwardMixed(x).Select(t => t.detach()).ToArray();
        var again = Net(ConvPrecision.Fp32).forward(x);
        for (int i = 0; i < mixed.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, mixed[i].dtype);
            Assert.True(again[i].detach().equal(mixed[i]).all().item<bool>(), $"C{i + 2} is not bit-identical in fp32");
        }
    }

    [Fact]
    public void ABf16BranchMeetingAFloat32ShortcutSumsInFloat32()
    {
        using var scope = NewDisposeScope();
        // SoCo_C4's res5 runs on RoIAlign's float32 RoIs: its later blocks (no downsample) add a bf16 branch to the
        // shortcut the previous block gave; a float32 shortcut keeps the sum float32.
        var y = randn(3, 4).to(ScalarType.BFloat16);
        var s = randn(3, 4);
        var sum = MixedPrecision.ResidualSum(y.clone(), s);
        Assert.Equal(ScalarType.Float32, sum.dtype);
        Assert.True(sum.equal(y.to(float32).add(s, 1.ToScalar())).all().item<bool>());
        var bsum = MixedPrecision.ResidualSum(y.clone(), s.to(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, bsum.dtype);
    }

    [Fact]
    public void TheModelsPublicOutputsStayFloat32()
    {
        using var scope = NewDisposeScope();
        manual_seed(44);
        var fpn = new SocoFpn(SocoModelTests.Tiny() with { Precision = ConvPrecision.Bf16 });
        fpn.train();
        var image = randn(2, 3, 32, 32);
        Assert.All(fpn.Pyramid(image), t => Assert.Equal(ScalarType.Float32, t.dtype));
        manual_seed(45);
        var c4 = new SocoC4(SocoModelTests.Tiny() with { Precision = ConvPrecision.Bf16 });
        c4.train();
        var boxes = SyntheticBoxes.Lists(new Random(46), 2, 2);
        Assert.Equal(ScalarType.Float32, c4.BoxFeatures(image, boxes).dtype);
    }

    static double Rel(Tensor a, Tensor b)
    {
        using var d = a.to(float64).sub(b.to(float64));
        return d.norm().item<double>() / Math.Max(b.to(float64).norm().item<double>(), 1e-30);
    }
}
