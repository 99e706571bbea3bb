using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

[Collection("torch")]
public class SocoModelTests(ITestOutputHelper log)
{
    /// <summary>The tiny configuration of tools/torch_model_fixtures.py.</summary>
    internal static SocoConfig Tiny(LevelPooling pooling = LevelPooling.EveryLevel) => new()
    {
        Backbone = new ResNetConfig { Depth = 50, BaseWidth = 4 },
        FpnChannels = 8, HeadConvDim = 8, HeadFcDim = 16, MlpHiddenDim = 32, EmbeddingDim = 8,
        BaseMomentum = 0.99, TotalSteps = 10, Pooling = pooling,
    };

    static SocoBatch FpnBatch(TorchFixture f) => new(f["in.v1"], [f["in.v2"], f["in.v3"]], [f["in.b1_12"], f["in.b1_13"]],
        [f["in.b2"], f["in.b3"]], [f["in.c12"], f["in.c13"]]);

    /// <summary>
    /// The loss against PyTorch's fp32 value and against the fp64 value of the same model (fixture <c>out.loss64</c>).
    /// A random tiny SoCo network is ill-conditioned (dozens of BNs over batches of 8 RoIs): PyTorch's own fp32 loss
    /// is up to ~1e-5 from the exact one, so the gate is: our fp32 loss is as close to the exact value as PyTorch's
    /// (within 2× or 1e-5 relative), and within 2e-5 relative of PyTorch's fp32 loss.
    /// </summary>
    void CheckLoss(string what, Tensor loss, TorchFixture f)
    {
        double ours = loss.item<float>(), torch32 = f["out.loss"].item<float>(), exact = f["out.loss64"].item<double>();
        double errOurs = Math.Abs(ours - exact), errTorch = Math.Abs(torch32 - exact);
        log.WriteLine($"{what} loss: ours {ours:F8}, PyTorch fp32 {torch32:F8}, exact (fp64) {exact:F8}; " +
            $"|ours − PyTorch| {Math.Abs(ours - torch32):E2} (rel {Math.Abs(ours - torch32) / Math.Abs(torch32):E2}), " +
            $"|ours − exact| {errOurs:E2}, |PyTorch − exact| {errTorch:E2}");
        Assert.True(errOurs <= Math.Max(2 * errTorch, 1e-5 * Math.Abs(exact)), $"{what}: our loss is {errOurs:E2} from the exact value, PyTorch's {errTorch:E2}");
        Assert.True(Math.Abs(ours - torch32) <= 2e-5 * Math.Abs(torch32), $"{what}: loss differs from PyTorch by {Math.Abs(ours - torch32):E2}");
    }

    [Fact]
    public void SocoFpnLossGradientsAndEmaMatchPyTorch()
    {
        using var f = new TorchFixture("soco_fpn.pt");
        using var scope = NewDisposeScope();
        var model = new SocoFpn(Tiny());
        var sd = f.Prefixed("state");
        sd["ema_step"] = f["in.ema_step"];
        model.load_state_dict(sd, strict: true);
        Assert.Equal(3, model.EmaStep);
        model.train();
        var loss = model.forward(FpnBatch(f));
        CheckLoss("SoCo_FPN", loss, f);
        loss.backward();
        Parity.CheckGrads(log, "SoCo_FPN online gradients", model, f.Prefixed("grad"), 1e-4);
        Assert.Equal(4, model.EmaStep);
        var after = f.Prefixed("after");
        double worst = 0;
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("_k.")))
        {
            worst = Math.Max(worst, Parity.Error(p, after[name]).Rel);
            Assert.Null(p.grad);
            Assert.False(p.requires_grad);
        }
        Assert.Equal(after.Count, model.named_parameters().Count(p => p.name.Contains("_k.")));
        log.WriteLine($"SoCo_FPN target after EMA: worst rel {worst:E2}");
        Assert.True(worst <= 1e-6);
    }

    [Fact]
    public void PhaseEndedMarksTheForwardPhasesInOrderAtTheirBoundaries()
    {
        // `soco bench step --breakdown` attributes step time by these marks: each must come once, in the forward's order,
        // the EMA update between the online and the target forward, and the loss last.
        using var f = new TorchFixture("soco_fpn.pt");
        using var scope = NewDisposeScope();
        var model = new SocoFpn(Tiny());
        var sd = f.Prefixed("state");
        sd["ema_step"] = f["in.ema_step"];
        model.load_state_dict(sd, strict: true);
        model.train();
        var seen = new List<(string Phase, long EmaStep)>();
        model.PhaseEnded = phase => seen.Add((phase, model.EmaStep));
        var loss = model.forward(FpnBatch(f));
        Assert.Equal([("forward_online", 3L), ("ema", 4L), ("forward_target", 4L), ("loss", 4L)], seen);
        model.PhaseEnded = null;
        var again = model.forward(FpnBatch(f));
        Assert.Equal(4, seen.Count);
        Assert.True(double.IsFinite(loss.item<float>()) && double.IsFinite(again.item<float>()));
    }

    [Fact]
    public void SocoFpnStarLossMatchesPyTorch()
    {
        using var f = new TorchFixture("soco_fpn_star.pt");
        using var scope = NewDisposeScope();
        var model = new SocoFpnStar(Tiny() with { Backbone = new ResNetConfig { Depth = 18, BaseWidth = 4 } });
        var sd = f.Prefixed("state");
        sd["ema_step"] = tensor(0L);
        model.load_state_dict(sd, strict: true);
        model.train();
        var loss = model.forward(new SocoBatch(f["in.v1"], [f["in.v2"], f["in.v3"], f["in.v4"]], [f["in.b1_12"], f["in.b1_13"], f["in.b1_14"]],
            [f["in.b2"], f["in.b3"], f["in.b4"]], [f["in.c12"], f["in.c13"], f["in.c14"]]));
        CheckLoss("SoCo_FPN_Star", loss, f);
        loss.backward();
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Parity.Check(log, "SoCo_FPN_Star d/d predictor.linear2.weight", named["predictor.linear2.weight"].grad!, f["grad.predictor.linear2.weight"], 1e-4);
        Parity.Check(log, "SoCo_FPN_Star d/d encoder.conv1.weight", named["encoder.conv1.weight"].grad!, f["grad.encoder.conv1.weight"], 1e-4);
    }

    [Fact]
    public void SocoC4LossAndGradientsMatchPyTorch()
    {
        using var f = new TorchFixture("soco_c4.pt");
        using var scope = NewDisposeScope();
        var model = new SocoC4(Tiny());
        var sd = f.Prefixed("state");
        sd["ema_step"] = tensor(0L);
        model.load_state_dict(sd, strict: true);
        model.train();
        var loss = model.forward(new SocoBatch(f["in.v1"], [f["in.v2"]], [f["in.b1"]], [f["in.b2"]], [f["in.c"]]));
        CheckLoss("SoCo_C4", loss, f);
        loss.backward();
        Parity.CheckGrads(log, "SoCo_C4 online gradients", model, f.Prefixed("grad"), 1e-4);
        var after = f.Prefixed("after");
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("_k.")))
            Assert.True(Parity.Error(p, after[name]).Rel <= 1e-6, name);
    }

    [Fact]
    public void StateDictNamesMatchTheOfficialModels()
    {
        TorchRuntime.SetThreads(1);
        using var fpn = new SocoFpn(Tiny());
        var keys = fpn.state_dict().Keys.ToList();
        foreach (var prefix in new[] { "encoder.", "neck.", "head.", "projector.", "predictor.", "encoder_k.", "neck_k.", "head_k.", "projector_k." })
            Assert.Contains(keys, k => k.StartsWith(prefix));
        Assert.DoesNotContain(keys, k => k.StartsWith("predictor_k."));
        Assert.Contains("ema_step", keys);
        Assert.Contains("neck.lateral_convs.0.bn.running_var", keys);
        Assert.Contains("head.fc1.weight", keys);
        Assert.Contains("projector.bn1.running_mean", keys);
        Assert.Equal("encoder.conv1.weight", fpn.named_parameters().First().name);
        using var star = new SocoFpnStar(Tiny());
        Assert.Equal(keys, star.state_dict().Keys.ToList());
        using var c4 = new SocoC4(Tiny());
        Assert.Equal(["encoder.", "projector.", "predictor.", "encoder_k.", "projector_k."],
            c4.named_parameters().Select(p => p.name[..(p.name.IndexOf('.') + 1)]).Distinct());
        // Only online parameters are trainable.
        Assert.All(fpn.OnlineParameters(), p => Assert.DoesNotContain("_k.", p.Name));
        Assert.Equal(fpn.named_parameters().Count(p => !p.name.Contains("_k.")), fpn.OnlineParameters().Count());
    }

    [Fact]
    public void EmaFollowsTheClosedFormAndLeavesBuffersAlone()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(7);
        var model = new SocoFpn(Tiny() with { TotalSteps = 7, BaseMomentum = 0.9 });
        var online = model.named_parameters().Where(p => !p.name.Contains("_k.")).ToDictionary(p => p.name, p => p.parameter.detach().clone());
        // Start the target from zeros and give its BN buffers recognisable values.
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("_k."))) p.zero_();
            foreach (var (name, b) in model.named_buffers().Where(b => b.name.Contains("_k.") && b.name.EndsWith("running_mean"))) b.fill_(0.25);
        }
        double keep = 1; // ξ_k = θ·(1 − Π m_i) when ξ_0 = 0 and θ is fixed
        int steps = 5;
        for (int i = 0; i < steps; i++)
        {
            double m = MomentumSchedule.At(i, 7, 0.9);
            Assert.Equal(m, model.NextMomentum, 15);
            keep *= m;
            model.UpdateTargetNetwork();
        }
        Assert.Equal(steps, model.EmaStep);
        Assert.Equal(0.9, MomentumSchedule.At(0, 7, 0.9), 15);
        Assert.Equal(1.0, MomentumSchedule.At(7, 7, 0.9), 15);
        Assert.Equal(0.95, MomentumSchedule.At(35, 70, 0.9), 12);
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("_k.")))
        {
            var theta = online[name.Replace("_k.", ".")];
            var (abs, _) = Parity.Error(p, theta * (1 - keep));
            Assert.True(abs <= 1e-6 * Math.Max(1, theta.abs().max().item<float>()), $"{name}: {abs}");
        }
        foreach (var (name, b) in model.named_buffers().Where(b => b.name.Contains("_k.") && b.name.EndsWith("running_mean")))
            Assert.Equal(0.25f, b.mean().item<float>(), 6);
        Assert.Equal(62556, MomentumSchedule.TotalSteps(1281167, 16, 128, 100)); // 1281167 / 16 / 128 · 100 = 62556.9
    }

    [Fact]
    public void TargetGetsNoGradientAndTheCounterSurvivesASaveRoundTrip()
    {
        TorchRuntime.SetThreads(1);
        using var f = new TorchFixture("soco_fpn.pt");
        using var scope = NewDisposeScope();
        var model = new SocoFpn(Tiny());
        model.train();
        model.forward(FpnBatch(f)).backward();
        Assert.All(model.named_parameters().Where(p => p.name.Contains("_k.")), p => Assert.Null(p.parameter.grad));
        Assert.All(model.OnlineParameters(), p => Assert.NotNull(p.Parameter.grad));
        model.EmaStep = 41;
        using var dir = new TestPaths.TempDir();
        model.save(dir["m.bin"]);
        model.save_py(dir["m.pth"]);
        var a = new SocoFpn(Tiny());
        a.load(dir["m.bin"]);
        Assert.Equal(41, a.EmaStep);
        var b = new SocoFpn(Tiny());
        b.load_py(dir["m.pth"], strict: true);
        Assert.Equal(41, b.EmaStep);
        Assert.Equal(model.NextMomentum, b.NextMomentum);
    }

    [Fact]
    public void AssignedLevelModeGivesTheOfficialLossWhenBatchStatisticsAreOff()
    {
        // With BN in eval mode each RoI is processed independently, so skipping the slots no correspondence uses must
        // not change the loss; in training mode only the BN batches differ.
        using var f = new TorchFixture("soco_fpn.pt");
        using var scope = NewDisposeScope();
        var sd = f.Prefixed("state");
        sd["ema_step"] = f["in.ema_step"];
        var official = new SocoFpn(Tiny());
        official.load_state_dict(sd, strict: true);
        var assigned = new SocoFpn(Tiny(LevelPooling.AssignedLevels));
        assigned.load_state_dict(sd, strict: true);
        official.eval();
        assigned.eval();
        var lo = official.forward(FpnBatch(f));
        var la = assigned.forward(FpnBatch(f));
        Parity.Check(log, "assigned-level vs official loss (eval BN)", la, lo, 1e-5);
        assigned.train();
        var lt = assigned.forward(FpnBatch(f));
        lt.backward();
        Assert.True(float.IsFinite(lt.item<float>()));
        official.train();
        var lot = official.forward(FpnBatch(f));
        // Training mode: different BN batches (only the usable slots), so the losses must differ: the mode is active.
        log.WriteLine($"training-mode loss: official {lot.item<float>():F6}, assigned-level {lt.item<float>():F6}");
        Assert.True(Math.Abs(lot.item<float>() - lt.item<float>()) > 1e-4);
        Assert.All(assigned.OnlineParameters(), p => Assert.NotNull(p.Parameter.grad));
    }

    [Fact]
    public void ForwardRejectsInconsistentBatches()
    {
        TorchRuntime.SetThreads(1);
        using var f = new TorchFixture("soco_fpn.pt");
        using var scope = NewDisposeScope();
        var model = new SocoFpn(Tiny());
        var good = FpnBatch(f);
        Assert.Throws<ArgumentException>(() => model.forward(good with { OtherViews = [f["in.v2"]] }));
        Assert.Throws<ArgumentException>(() => model.forward(good with { Correspondences = [f["in.c12"].narrow(1, 0, 4), f["in.c13"]] }));
        Assert.Throws<ArgumentException>(() => new SocoFpnStar(Tiny()).forward(good));
        Assert.Equal(0, model.EmaStep); // nothing ran
    }
}
