using Soco.Modeling;
using Soco.Tests.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// The BYOL arm of the transfer benchmark against a PyTorch BYOL written from the paper (tools/byol_fixtures.py): with
/// the same weights, views and EMA counter, one training forward gives the same momentum, the same target network
/// after the EMA update, the same loss and the same gradients of every online parameter.
/// </summary>
public sealed class ByolTests(ITestOutputHelper log)
{
    static ByolModel FromFixture(TorchFixture f)
    {
        var model = new ByolModel(new SocoConfig
        {
            Backbone = new ResNetConfig { Depth = 18, BaseWidth = 8 }, MlpHiddenDim = 32, EmbeddingDim = 16, BaseMomentum = 0.9, TotalSteps = 10,
        });
        var state = f.Prefixed("state");
        model.load_state_dict(state, strict: true);
        model.train();
        return model;
    }

    static Soco.Modeling.SocoBatch Batch(TorchFixture f) => new(f["view1"], [f["view2"], f["view3"]], [], [], []);

    [Fact]
    public void LossEmaAndGradientsMatchPyTorchByol()
    {
        using var f = new TorchFixture("byol", "byol_reference.pth", "tools/byol_fixtures.py");
        using var model = FromFixture(f);
        Assert.Equal(3, model.EmaStep);
        Assert.Equal(f["momentum"].item<double>(), model.NextMomentum, 12);

        using var loss = model.forward(Batch(f));
        loss.backward();
        double expected = f["loss"].item<double>(), actual = loss.item<float>();
        log.WriteLine($"loss {actual:R} vs PyTorch {expected:R}");
        Assert.True(Math.Abs(actual - expected) <= 2e-5 * Math.Abs(expected), $"loss {actual} vs {expected}");
        Assert.Equal(4, model.EmaStep);

        var target = model.named_parameters().Where(p => p.name.Contains("_k.", StringComparison.Ordinal)).ToList();
        Assert.Equal(f.Prefixed("target_after").Count, target.Count);
        foreach (var (name, p) in target)
            Parity.Check(log, "target " + name, p, f["target_after." + name], 1e-6);

        var online = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Assert.Equal(f.Prefixed("grad").Count, online.Count);
        double worst = 0;
        foreach (var (name, p) in online)
        {
            Assert.True(p.grad is not null, $"{name} has no gradient");
            var (abs, rel) = Parity.Error(p.grad!, f["grad." + name]);
            // A bias right before BatchNorm has a zero gradient in exact arithmetic (BN removes the mean): both sides
            // hold rounding noise there, compared in absolute terms.
            if (abs <= 1e-6) continue;
            worst = Math.Max(worst, rel);
            Assert.True(rel <= 1e-4, $"gradient of {name}: relative error {rel:E2} (max abs {abs:E2})");
        }
        log.WriteLine($"worst relative gradient error over {online.Count} online parameters: {worst:E2}");
    }

    [Fact]
    public void LossIsBoundedAndZeroForIdenticalEmbeddings()
    {
        // 2 − 2cos: 0 when prediction and target agree, 4 when opposite — per pair direction.
        using var q = nn.functional.normalize(randn(5, 7, generator: new Generator(3)), p: 2, dim: 1);
        using var same = ByolLoss.Pair(q, q);
        using var neg = q.neg();
        using var opposite = ByolLoss.Pair(q, neg);
        Assert.True(Math.Abs(same.item<float>()) < 1e-6);
        Assert.True(Math.Abs(opposite.item<float>() - 4) < 1e-5);
        Assert.Throws<ArgumentException>(() => ByolLoss.Pair(q, q.unsqueeze(0)));
    }
}
