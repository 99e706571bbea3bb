using Soco.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// The linear layers under <c>precision: bf16</c> (docs/bf16.md §1, <see cref="MixedLinear"/>): PyTorch's
/// <c>nn.Linear</c> in float32 (bit-identical, so the fp32 path and the golden losses do not move), autocast's bfloat16
/// GEMM in bf16, and the box head and MLPs running their FC chains in bfloat16 while handing float32 to their callers.
/// </summary>
[Collection("torch")]
public class Bf16LinearTests(ITestOutputHelper log)
{
    [Fact]
    public void MixedLinearIsLinearInFp32()
    {
        using var scope = NewDisposeScope();
        manual_seed(31);
        var reference = nn.Linear(12, 5, hasBias: true);
        manual_seed(31);
        var layer = new MixedLinear(12, 5, hasBias: true);
        // Same keys, shapes and seeded initial values: checkpoints, .pth files and seeded runs do not change.
        Assert.Equal(reference.state_dict().Keys.OrderBy(k => k), layer.state_dict().Keys.OrderBy(k => k));
        Assert.True(reference.weight.equal(layer.Weight).all().item<bool>());
        Assert.True(reference.bias!.equal(layer.Bias!).all().item<bool>());
        var x = randn(7, 12);
        var y = layer.forward(x);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.True(reference.forward(x).equal(y).all().item<bool>());
        // Without a bias too (the state dict has no bias key then).
        var noBias = new MixedLinear(12, 5, hasBias: false);
        Assert.Null(noBias.Bias);
        Assert.DoesNotContain("bias", noBias.state_dict().Keys);
    }

    [Fact]
    public void Bf16LinearIsAutocastsBf16Gemm()
    {
        using var scope = NewDisposeScope();
        manual_seed(32);
        var layer = new MixedLinear(64, 24);
        var x = randn(9, 64);
        var fp = layer.forward(x).detach();
        MixedPrecision.Apply(layer, ConvPrecision.Bf16);
        Assert.Equal(ConvPrecision.Bf16, layer.Precision);
        var y = layer.forward(x);
        // autocast's linear: bfloat16 input, weight and bias in, bfloat16 out.
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        using (no_grad())
        {
            var expected = nn.functional.linear(x.to(ScalarType.BFloat16), layer.Weight.to(ScalarType.BFloat16), layer.Bias!.to(ScalarType.BFloat16));
            Assert.True(expected.equal(y.detach()).all().item<bool>(), "the bf16 layer is not linear(x, W, b) in bfloat16");
        }
        double rel = Rel(y.detach(), fp);
        log.WriteLine($"bf16 linear vs fp32: relative difference {rel:E2}");
        Assert.True(rel > 0 && rel < 2e-2, $"bf16 output differs from fp32 by {rel:E2}");
        // The gradient reaches the float32 master weight as float32.
        y.to(float32).pow(2).sum().backward();
        Assert.Equal(ScalarType.Float32, layer.Weight.grad!.dtype);
        Assert.Equal(ScalarType.Float32, layer.Bias!.grad!.dtype);
        Assert.True(layer.Weight.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void TheMlpRunsItsChainInBf16AndHandsBackFloat32()
    {
        using var scope = NewDisposeScope();
        manual_seed(33);
        var mlp = new MlpHead(16, 32, 8);
        mlp.train();
        var state = mlp.state_dict();
        var p = state.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var x = randn(10, 16);
        var fp = mlp.forward(x).detach();
        MixedPrecision.Apply(mlp, ConvPrecision.Bf16);
        var y = mlp.forward(x);
        Assert.Equal(ScalarType.Float32, y.dtype);
        // The same function written out the way autocast runs it: bf16 linear → BatchNorm1d on bf16 (float32 parameters
        // and statistics) → ReLU → bf16 linear, then float32.
        using (no_grad())
        {
            var bf = ScalarType.BFloat16;
            var h = nn.functional.linear(x.to(bf), p["linear1.weight"].to(bf), p["linear1.bias"].to(bf));
            h = nn.functional.batch_norm(h, p["bn1.running_mean"], p["bn1.running_var"], p["bn1.weight"], p["bn1.bias"], training: true, momentum: 0.1, eps: 1e-5);
            var expected = nn.functional.linear(nn.functional.relu(h), p["linear2.weight"].to(bf), p["linear2.bias"].to(bf)).to(float32);
            Assert.True(expected.equal(y.detach()).all().item<bool>(), $"the bf16 MLP is not the bf16 chain (differs by {Rel(y.detach(), expected):E2})");
        }
        double rel = Rel(y.detach(), fp);
        log.WriteLine($"bf16 MLP vs fp32: relative difference {rel:E2}");
        Assert.True(rel > 0 && rel < 5e-2, $"bf16 MLP output differs from fp32 by {rel:E2}");
        y.pow(2).sum().backward();
        foreach (var (name, prm) in mlp.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, prm.dtype);
            Assert.Equal(ScalarType.Float32, prm.grad!.dtype);
        }
    }

    [Fact]
    public void TheHeadsFcRunsInBf16AndTheHeadHandsBackFloat32()
    {
        using var scope = NewDisposeScope();
        manual_seed(34);
        var head = new ConvFcBoxHead(inChannels: 8, convDim: 8, resolution: 3, fcDim: 16);
        head.train();
        var x = randn(6, 8, 3, 3);
        var fp = head.forward(x).detach();
        MixedPrecision.Apply(head, ConvPrecision.Bf16, channelsLast: true);
        var y = head.forward(x);
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(ScalarType.Float32, head.ForwardChunks([x.narrow(0, 0, 2), x.narrow(0, 2, 4)])[0].dtype);
        double rel = Rel(y.detach(), fp);
        log.WriteLine($"bf16 head vs fp32: relative difference {rel:E2}");
        Assert.True(rel > 0 && rel < 5e-2, $"bf16 head output differs from fp32 by {rel:E2}");
        var fc = head.modules().OfType<MixedLinear>().Single();
        Assert.Equal(ConvPrecision.Bf16, fc.Precision);
    }

    [Theory]
    [InlineData(ConvPrecision.Bf16)]
    [InlineData(ConvPrecision.Fp32)]
    public void TheModelsLinearLayersFollowItsPrecision(ConvPrecision precision)
    {
        using var scope = NewDisposeScope();
        manual_seed(35);
        var model = new SocoFpn(SocoModelTests.Tiny() with { Precision = precision });
        // Every linear layer (box head FC, projector and predictor MLPs; online and target) is the precision-aware one.
        Assert.Empty(model.modules().OfType<TorchSharp.Modules.Linear>());
        var linears = model.modules().OfType<MixedLinear>().ToList();
        // online head fc1 + projector (2) + predictor (2) + target head fc1 + projector (2)
        Assert.Equal(8, linears.Count);
        Assert.All(linears, l => Assert.Equal(precision, l.Precision));
    }

    static double Rel(Tensor a, Tensor b)
    {
        using var d = a.to(float64).sub(b.to(float64));
        return d.norm().item<double>() / Math.Max(b.to(float64).norm().item<double>(), 1e-30);
    }
}
