using Soco.Interop;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// Against the official SoCo model code itself (hologerry/SoCo's SoCo_FPN, SoCo_FPN_Star, SoCo_C4, its FPN, box head,
/// MLPs, ResNet and LARS wrapper, run by tools/official_model_fixtures.py), not a re-implementation: the official
/// checkpoint goes through our import path (<see cref="CheckpointReader"/>, what <c>soco import</c> uses), gets the same
/// views, boxes and correspondences, and must give the same loss, the same gradients, the same target network after the
/// forward's EMA update (the official <c>_momentum_update_key_encoder</c>, from the imported counter k = 5 of K = 10),
/// and — for SoCo_FPN — the same parameters after two steps of the official LARS.
/// </summary>
[Collection("torch")]
public class OfficialModelParityTests(ITestOutputHelper log)
{
    const string Script = "tools/official_model_fixtures.py";

    /// <summary>Loss: as close to the fp64 value of the same model as the official fp32 loss is (within 2× or 1e-5
    /// relative), and within 2e-5 relative of it — the gate <see cref="SocoModelTests"/> uses, for the same reason.</summary>
    void CheckLoss(string what, Tensor loss, TorchFixture f)
    {
        double ours = loss.item<float>(), official = f["out.loss"].item<float>(), exact = f["out.loss64"].item<double>();
        double errOurs = Math.Abs(ours - exact), errOfficial = Math.Abs(official - exact);
        log.WriteLine($"{what} loss: ours {ours:F8}, official fp32 {official:F8}, fp64 {exact:F8}; |ours − official| {Math.Abs(ours - official):E2}, " +
            $"|ours − fp64| {errOurs:E2}, |official − fp64| {errOfficial:E2}");
        Assert.True(errOurs <= Math.Max(2 * errOfficial, 1e-5 * Math.Abs(exact)), $"{what}: our loss is {errOurs:E2} from the fp64 value, the official {errOfficial:E2}");
        Assert.True(Math.Abs(ours - official) <= 2e-5 * Math.Abs(official), $"{what}: loss differs from the official code's by {Math.Abs(ours - official):E2}");
    }

    /// <summary>Reads the official checkpoint through the import path and builds the model with the fixture's EMA schedule.</summary>
    static SocoModel Import(string name, SocoArch arch, TorchFixture f)
    {
        var loaded = CheckpointReader.Read(TestPaths.Fixture("official", name + ".pth"));
        Assert.Equal("official", loaded.Layout);
        Assert.Equal(arch, loaded.Arch);   // from the checkpoint's opt.model
        var model = loaded.CreateModel(loaded.Config with { TotalSteps = f["meta.K"].item<long>(), BaseMomentum = 0.99 });
        // The official checkpoint has no EMA counter: the import takes it from the scheduler's iteration count.
        Assert.Equal(f["meta.k"].item<long>(), model.EmaStep);
        return model;
    }

    void CheckTarget(string what, SocoModel model, Dictionary<string, Tensor> expected, double tol)
    {
        double worst = 0;
        var target = model.named_parameters().Where(p => p.name.Contains("_k.")).ToList();
        Assert.Equal(expected.Count, target.Count);
        foreach (var (name, p) in target) worst = Math.Max(worst, Parity.Error(p, expected[name]).Rel);
        log.WriteLine($"{what}: {target.Count} target parameters, worst rel {worst:E2}");
        Assert.True(worst <= tol, $"{what}: target parameters differ by {worst:E2} (relative)");
    }

    /// <summary>
    /// Each online gradient against the official fp32 one and the fp64 one of the same model. Like the loss, some
    /// gradients of a random tiny SoCo network are ill-conditioned (the official fp32 result is up to ~1e-4 from fp64):
    /// ours must be as close to the fp64 gradient as the official fp32 one is (within 2×, or 1e-4 relative), and within
    /// 5e-4 of the official one. Relative to max(the tensor's max |g|, 1e-3 × the largest max |g|), as
    /// <see cref="Parity.CheckGrads"/> does.
    /// </summary>
    void CheckGradients(string what, SocoModel model, TorchFixture f)
    {
        var official = f.Prefixed("grad");
        var exact = f.Prefixed("grad64");
        var online = model.OnlineParameters().ToList();
        Assert.Equal(official.Count, online.Count);
        double globalMax = official.Values.Max(g => g.abs().max().item<float>());
        double worstVsOfficial = 0, worstVsExact = 0, worstOfficialVsExact = 0;
        foreach (var (name, p) in online)
        {
            Assert.NotNull(p.grad);
            double Rel(Tensor a, Tensor e)
            {
                using var d = (a.to(float64) - e.to(float64)).abs().max();
                using var m = e.abs().max();
                return d.item<double>() / Math.Max(m.item<float>(), 1e-3 * globalMax);
            }
            double vsOfficial = Rel(p.grad!, official[name]), vsExact = Rel(p.grad!, exact[name]), officialVsExact = Rel(official[name], exact[name]);
            worstVsOfficial = Math.Max(worstVsOfficial, vsOfficial);
            worstVsExact = Math.Max(worstVsExact, vsExact);
            worstOfficialVsExact = Math.Max(worstOfficialVsExact, officialVsExact);
            Assert.True(vsExact <= Math.Max(2 * officialVsExact, 1e-4),
                $"{what}: gradient of {name} is {vsExact:E2} from fp64 (relative), the official fp32 one {officialVsExact:E2}");
            Assert.True(vsOfficial <= 5e-4, $"{what}: gradient of {name} differs from the official one by {vsOfficial:E2} (relative)");
        }
        log.WriteLine($"{what}: {online.Count} online gradients; worst rel vs official fp32 {worstVsOfficial:E2}, vs fp64: ours {worstVsExact:E2}, official {worstOfficialVsExact:E2}");
    }

    static SocoBatch FpnBatch(TorchFixture f, bool star) => star
        ? new(f["in.v1"], [f["in.v2"], f["in.v3"], f["in.v4"]], [f["in.b1_12"], f["in.b1_13"], f["in.b1_14"]],
            [f["in.b2"], f["in.b3"], f["in.b4"]], [f["in.c12"], f["in.c13"], f["in.c14"]])
        : new(f["in.v1"], [f["in.v2"], f["in.v3"]], [f["in.b1_12"], f["in.b1_13"]], [f["in.b2"], f["in.b3"]], [f["in.c12"], f["in.c13"]]);

    [Theory]
    [InlineData("official_fpn", SocoArch.SocoFpn)]
    [InlineData("official_fpn_star", SocoArch.SocoFpnStar)]
    [InlineData("official_c4", SocoArch.SocoC4)]
    public void LossGradientsAndEmaMatchTheOfficialCode(string name, SocoArch arch)
    {
        using var f = new TorchFixture("official", name + "_io.pt", Script);
        using var scope = NewDisposeScope();
        using var model = Import(name, arch, f);
        model.train();
        var batch = arch == SocoArch.SocoC4
            ? new SocoBatch(f["in.v1"], [f["in.v2"]], [f["in.b1"]], [f["in.b2"]], [f["in.c"]])
            : FpnBatch(f, arch == SocoArch.SocoFpnStar);
        Tensor loss;
        using (new FinalizerPause()) loss = model.forward(batch);
        CheckLoss(name, loss, f);
        using (new FinalizerPause()) loss.backward();
        CheckGradients(name, model, f);
        Assert.Equal(f["meta.k"].item<long>() + 1, model.EmaStep);
        CheckTarget($"{name} after the forward's EMA", model, f.Prefixed("after"), 1e-6);
    }

    /// <summary>
    /// The optimizer alone, fed the official gradients: two steps of our LARS against two steps of the official
    /// <c>LARS(SGD(add_weight_decay(model, wd), lr, momentum=0.9))</c> (the second step goes through the momentum
    /// buffers). Parameters are compared relative to each tensor's scale, as README states LARS's float32 figure.
    /// </summary>
    [Fact]
    public void LarsStepsAndTheNextEmaUpdateMatchTheOfficialCode()
    {
        using var f = new TorchFixture("official", "official_fpn_io.pt", Script);
        using var scope = NewDisposeScope();
        using var model = Import("official_fpn", SocoArch.SocoFpn, f);
        var grads = f.Prefixed("grad");
        var online = model.OnlineParameters().ToList();
        Assert.Equal(grads.Count, online.Count);
        using var lars = Lars.ForSoco(online, f["meta.wd"].item<double>());
        lars.LearningRate = f["meta.lr"].item<double>();

        double Step(string expectedPrefix)
        {
            foreach (var (n, p) in online)
            {
                p.grad?.zero_();
                (p * grads[n]).sum().backward();   // d/dp Σ p·g = g exactly
            }
            using (new FinalizerPause()) lars.Step();
            double worst = 0;
            foreach (var (n, p) in online) worst = Math.Max(worst, Parity.Error(p, f[$"{expectedPrefix}.{n}"]).Rel);
            log.WriteLine($"LARS vs official, {expectedPrefix}: {online.Count} parameters, worst rel {worst:E2}");
            return worst;
        }

        Assert.True(Step("lars1") <= 9e-8, "first LARS step differs from the official one");
        Assert.True(Step("lars2") <= 9e-8, "second LARS step (momentum) differs from the official one");
    }
}
