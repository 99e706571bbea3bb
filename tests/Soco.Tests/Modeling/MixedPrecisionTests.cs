using Soco.Modeling;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

[Collection("torch")]
public class MixedPrecisionTests(ITestOutputHelper log)
{
    static SocoBatch Batch()
    {
        const int n = 4, l = 2, m = SocoFpn.Levels * l;
        var rng = new Random(5);
        Tensor Boxes() => SyntheticBoxes.Lists(rng, n, l);
        var c = eye(m).unsqueeze(0).expand(n, m, m).contiguous();
        return new SocoBatch(randn(n, 3, 32, 32), [randn(n, 3, 32, 32), randn(n, 3, 32, 32)], [Boxes(), Boxes()], [Boxes(), Boxes()], [c, c.clone()]);
    }

    static List<float> Train(ConvPrecision precision, int steps, out SocoFpn model)
    {
        manual_seed(11);
        model = new SocoFpn(SocoModelTests.Tiny() with { Precision = precision, TotalSteps = 100 });
        model.train();
        var batch = Batch();
        var opt = new Lars([new LarsGroup("all", model.OnlineParameters().ToList(), 1e-5, true)], new LarsOptions()) { LearningRate = 0.5 };
        var losses = new List<float>();
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            opt.ZeroGrad();
            var loss = model.forward(batch);
            loss.backward();
            opt.Step();
            losses.Add(loss.item<float>());
        }
        return losses;
    }

    [Fact]
    public void Bf16TrainsWithFloat32MasterWeights()
    {
        using var scope = NewDisposeScope();
        var bf = Train(ConvPrecision.Bf16, 8, out var model);
        var fp = Train(ConvPrecision.Fp32, 8, out _);
        log.WriteLine("bf16 losses: " + string.Join(", ", bf.Select(x => x.ToString("F5"))));
        log.WriteLine("fp32 losses: " + string.Join(", ", fp.Select(x => x.ToString("F5"))));
        Assert.All(bf, x => Assert.True(float.IsFinite(x)));
        Assert.True(bf[^1] < bf[0] - 0.05f, "the bf16 loss did not fall");
        // Same model and batch: the first bf16 loss is close to the fp32 one (only conv arithmetic is rounded).
        Assert.True(Math.Abs(bf[0] - fp[0]) < 0.05 * Math.Abs(fp[0]), $"first loss bf16 {bf[0]} vs fp32 {fp[0]}");
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            if (p.grad is not null) Assert.Equal(ScalarType.Float32, p.grad.dtype);
        }
        // Every convolution of the model (backbone, FPN, box head; online and target) is the one bf16-capable layer, set to bf16.
        var convs = model.modules().OfType<MixedConv2d>().ToList();
        Assert.Empty(model.modules().OfType<TorchSharp.Modules.Conv2d>());
        Assert.True(convs.Count > 0);
        Assert.All(convs, m => Assert.Equal(ConvPrecision.Bf16, m.Precision));
    }

    [Fact]
    public void PrecisionKeyIsValidatedAndReachesTheModel()
    {
        var cfg = new PretrainConfig();
        Assert.Equal("fp32", cfg.Precision);
        Assert.Equal(ConvPrecision.Fp32, cfg.ModelConfig(100).Precision);
        Assert.Equal(ConvPrecision.Bf16, (cfg with { Precision = "bf16" }).ModelConfig(100).Precision);
        var e = Assert.Throws<ArgumentException>(() => (cfg with { Precision = "fp16" }).Validate());
        Assert.Contains("precision", e.Message);
        Assert.Contains(PretrainConfigs.Keys, k => k.Key == "model.precision");
    }
}
