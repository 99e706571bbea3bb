using System.Text.Json;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Tests.Solver;

public class ScheduleTests
{
    [Fact]
    public void WarmupMultiStepByHand()
    {
        // Detectron2's 1x: 90k iterations → milestones 60k and 80k; warm-up 1000 iterations from 0.001.
        var s = new WarmupMultiStepSchedule(0.02, 90_000);
        Assert.Equal([60_000L, 80_000L], s.Milestones);
        Assert.Equal(0.02 * 0.001, s.At(0), 15);
        Assert.Equal(0.02 * (0.001 * 0.5 + 0.5), s.At(500), 15);     // half-way through the warm-up
        Assert.Equal(0.02, s.At(1000));                              // warm-up over
        Assert.Equal(0.02, s.At(59_999));
        Assert.Equal(0.02 * 0.1, s.At(60_000), 15);                 // first decay at the milestone itself (bisect_right)
        Assert.Equal(0.02 * 0.1, s.At(79_999), 15);
        Assert.Equal(0.02 * 0.01, s.At(80_000), 15);
        Assert.Equal(0.02 * 0.01, s.At(89_999), 15);
    }

    [Fact]
    public void MultiStepMilestonesAndBadInput()
    {
        Assert.Equal([6L, 8L], WarmupMultiStepSchedule.DefaultMilestones(9));
        var s = new WarmupMultiStepSchedule(1, 100, [10, 20, 30], gamma: 0.5, warmupIters: 0);
        Assert.Equal(1, s.At(0));
        Assert.Equal(0.125, s.At(30));
        Assert.Throws<ArgumentException>(() => new WarmupMultiStepSchedule(1, 100, [20, 10]));
        Assert.Equal(0.01, new WarmupMultiStepSchedule(1, 3, warmupIters: 0).At(2), 15);   // a run so short both default milestones fall on one step
        Assert.Throws<ArgumentOutOfRangeException>(() => s.At(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupMultiStepSchedule(1, 0));
    }

    [Fact]
    public void WarmupCosineIsAnLrScheduleWithTheSameNumbers()
    {
        ILrSchedule s = new WarmupCosineSchedule(1.0, 50, 1000, 1e-6, 100);
        Assert.Equal(0.01, s.At(0), 15);
        Assert.Equal(1.0, s.At(50), 15);
        Assert.Equal(1e-6 + (1 - 1e-6) * (1 + Math.Cos(Math.PI * 475 / 950)) / 2, s.At(525), 15);
    }
}

[Collection("torch")]
public class SgdTests
{
    sealed record Golden(double base_lr, long max_iter, long warmup_iters, long[] milestones, double weight_decay,
        Dictionary<string, long[]> shapes, Dictionary<string, double[]> start, GoldenStep[] steps);
    sealed record GoldenStep(double lr, Dictionary<string, double[]> grads, Dictionary<string, double[]> @params, Dictionary<string, double[]> momentum);

    static Golden Load() => JsonSerializer.Deserialize<Golden>(File.ReadAllText(TestPaths.Fixture("training", "sgd_golden.json")))!;

    [Fact]
    public void MatchesPyTorchSgdWithDetectron2GroupsAndWarmupMultiStep()
    {
        TorchRuntime.SetThreads(1);
        var g = Load();
        using var scope = NewDisposeScope();
        var p = g.start.ToDictionary(kv => kv.Key, kv => new Parameter(tensor(kv.Value.Select(v => (float)v).ToArray(), g.shapes[kv.Key])));
        using var sgd = new Sgd([
            new SgdGroup("weights", [("conv.weight", p["conv.weight"])], g.weight_decay),
            new SgdGroup("biases", [("conv.bias", p["conv.bias"])], g.weight_decay),
            new SgdGroup("norms", [("bn.weight", p["bn.weight"]), ("bn.bias", p["bn.bias"])], 0),
        ], momentum: 0.9);
        var schedule = new WarmupMultiStepSchedule(g.base_lr, g.max_iter, warmupIters: g.warmup_iters);
        Assert.Equal(g.milestones, schedule.Milestones);
        for (int it = 0; it < g.steps.Length; it++)
        {
            var step = g.steps[it];
            Assert.Equal(step.lr, schedule.At(it));                     // bit-identical to the Python formula
            sgd.LearningRate = schedule.At(it);
            sgd.ZeroGrad();
            foreach (var (name, param) in p)
            {
                if (param.grad is null) (param * 0f).sum().backward();
                using var _ = no_grad();
                param.grad!.copy_(tensor(step.grads[name].Select(v => (float)v).ToArray(), g.shapes[name]));
            }
            sgd.Step();
            var state = sgd.StateDict();
            foreach (var (name, param) in p)
            {
                Assert.Equal(step.@params[name].Select(v => (float)v), param.detach().data<float>().ToArray());
                Assert.Equal(step.momentum[name].Select(v => (float)v), state[Sgd.BufferPrefix + name].data<float>().ToArray());
            }
        }
    }

    [Fact]
    public void StateRoundTripContinuesExactlyAndRefusesAnotherModel()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(3);
        Parameter P() => new(randn(3, 2));
        var a = P();
        var b = new Parameter(a.detach().clone());
        using var s1 = new Sgd([new SgdGroup("w", [("w", a)], 1e-2)]) { LearningRate = 0.1 };
        using var s2 = new Sgd([new SgdGroup("w", [("w", b)], 1e-2)]) { LearningRate = 0.1 };
        var grads = Enumerable.Range(0, 3).Select(_ => randn(3, 2)).ToList();
        void StepWith(Sgd s, Parameter w, Tensor grad)
        {
            s.ZeroGrad();
            (w * grad).sum().backward();
            s.Step();
        }
        StepWith(s1, a, grads[0]);
        StepWith(s2, b, grads[0]);
        using var s3 = new Sgd([new SgdGroup("w", [("w", b)], 1e-2)]) { LearningRate = 0.1 };
        s3.LoadStateDict(s2.StateDict());
        foreach (var grad in grads.Skip(1)) { StepWith(s1, a, grad); StepWith(s3, b, grad); }
        Assert.True(a.equal(b).all().item<bool>(), "a restored momentum buffer does not continue the run exactly");

        using var other = new Sgd([new SgdGroup("w", [("other", new Parameter(zeros(3, 2)))], 0)]);
        var e = Assert.Throws<InvalidDataException>(() => other.LoadStateDict(s1.StateDict()));
        Assert.Contains("'w'", e.Message);
        using var shape = new Sgd([new SgdGroup("w", [("w", new Parameter(zeros(2, 3)))], 0)]);
        Assert.Contains("[3, 2]", Assert.Throws<InvalidDataException>(() => shape.LoadStateDict(s1.StateDict())).Message);
    }

    sealed class Net : nn.Module<Tensor, Tensor>
    {
        readonly Linear fc = nn.Linear(4, 3);
        readonly BatchNorm1d bn = nn.BatchNorm1d(3);
        readonly Linear frozen = nn.Linear(3, 3);

        public Net() : base("net")
        {
            RegisterComponents();
            foreach (var (_, p) in frozen.named_parameters()) p.requires_grad = false;
        }

        public override Tensor forward(Tensor x) => frozen.forward(bn.forward(fc.forward(x)));
    }

    [Fact]
    public void DetectorGroupsLeaveNormsUndecayedAndFrozenParametersOut()
    {
        using var net = new Net();
        using var sgd = Sgd.ForDetector(net, momentum: 0.9, weightDecay: 1e-4);
        var groups = sgd.Groups.ToDictionary(g => g.Name);
        Assert.Equal(["fc.weight"], groups["weights"].Parameters.Select(p => p.Name));
        Assert.Equal(1e-4, groups["weights"].WeightDecay);
        Assert.Equal(["fc.bias"], groups["biases"].Parameters.Select(p => p.Name));
        Assert.Equal(1e-4, groups["biases"].WeightDecay);                 // WEIGHT_DECAY_BIAS defaults to WEIGHT_DECAY
        Assert.Equal(["bn.weight", "bn.bias"], groups["norms"].Parameters.Select(p => p.Name));
        Assert.Equal(0, groups["norms"].WeightDecay);                      // WEIGHT_DECAY_NORM = 0
        using var noBiasDecay = Sgd.ForDetector(net, weightDecay: 1e-4, weightDecayBias: 0);
        Assert.Equal(0, noBiasDecay.Groups.Single(g => g.Name == "biases").WeightDecay);
    }

    [Fact]
    public void GroupLrFactorScalesTheBaseRate()
    {
        using var sgd = new Sgd([new SgdGroup("a", [], 0), new SgdGroup("b", [], 0, LrFactor: 2)]) { LearningRate = 0.5 };
        Assert.Equal(["a", "b"], sgd.GroupNames);
        Assert.Equal(0.5, sgd.GroupLearningRate(0));
        Assert.Equal(1.0, sgd.GroupLearningRate(1));
    }

    [Fact]
    public void LarsIsAnOptimizerWithOneRateForBothGroups()
    {
        var w = new Parameter(ones(2, 2));
        var b = new Parameter(ones(2));
        IOptimizer lars = Lars.ForSoco([("w", w), ("b", b)], 1e-5);
        lars.LearningRate = 0.3;
        Assert.Equal(["weights", "biases_and_norms"], lars.GroupNames);
        Assert.Equal(0.3, lars.GroupLearningRate(0));
        Assert.Equal(0.3, lars.GroupLearningRate(1));
        lars.Dispose();
    }
}
