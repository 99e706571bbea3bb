using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Solver;

/// <summary>LARS settings (docs/soco-reference.md §6): SGD momentum 0.9 (dampening 0, no Nesterov), trust coefficient 0.001, eps 1e-8.</summary>
public sealed record LarsOptions
{
    public double Momentum { get; init; } = 0.9;
    public double TrustCoefficient { get; init; } = 0.001;
    public double Eps { get; init; } = 1e-8;
}

/// <summary>A parameter group: its named parameters, its weight decay, and whether the LARS trust ratio applies.</summary>
public sealed record LarsGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay, bool Adapt);

/// <summary>
/// SoCo's LARS (docs/soco-reference.md §6): a wrapper around SGD with momentum. Per step, per parameter with a gradient:
/// <list type="number">
/// <item>if the group's weight decay wd &gt; 0: <c>g ← g + wd·w</c>;</item>
/// <item>if the group adapts: <c>trust = c·‖w‖ / (‖g‖ + eps)</c> when both whole-tensor L2 norms are &gt; 0, else 1; <c>g ← trust·g</c>;</item>
/// <item>SGD: <c>v ← μ·v + g</c> (first step: <c>v ← g</c>, as PyTorch's SGD); <c>w ← w − lr·v</c>.</item>
/// </list>
/// The learning rate is set before every step by the schedule (<see cref="LearningRate"/>). Written as its own small
/// class rather than a TorchSharp <c>OptimizerHelper</c>: the momentum buffers are saved and restored by parameter name
/// (<see cref="StateDict"/>), which makes a checkpoint independent of parameter order and readable by PyTorch.
/// </summary>
public sealed class Lars : IOptimizer
{
    readonly Tensor?[][] _buffers;

    public Lars(IEnumerable<LarsGroup> groups, LarsOptions? options = null)
    {
        Groups = groups.ToList();
        Options = options ?? new LarsOptions();
        var names = new HashSet<string>();
        foreach (var g in Groups)
            foreach (var (n, _) in g.Parameters)
                if (!names.Add(n)) throw new ArgumentException($"parameter '{n}' is in more than one LARS group");
        _buffers = Groups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
    }

    /// <summary>
    /// The official groups (docs/soco-reference.md §6) over the online parameters: every 1-D parameter (biases, BN γ/β) → {weight decay 0,
    /// LARS off}; every other (conv and linear weights) → {<paramref name="weightDecay"/>, LARS on}.
    /// </summary>
    public static Lars ForSoco(IEnumerable<(string Name, Parameter Parameter)> onlineParameters, double weightDecay, LarsOptions? options = null)
    {
        var all = onlineParameters.Where(p => p.Parameter.requires_grad).ToList();
        var plain = all.Where(p => p.Parameter.dim() == 1).ToList();
        var adapted = all.Where(p => p.Parameter.dim() != 1).ToList();
        return new Lars([new LarsGroup("weights", adapted, weightDecay, true), new LarsGroup("biases_and_norms", plain, 0, false)], options);
    }

    public IReadOnlyList<LarsGroup> Groups { get; }
    public LarsOptions Options { get; }

    /// <summary>The learning rate of the next <see cref="Step"/> (both groups share it).</summary>
    public double LearningRate { get; set; }

    public IReadOnlyList<string> GroupNames => Groups.Select(g => g.Name).ToList();

    /// <summary>Every group uses <see cref="LearningRate"/> (the official LARS has one lr).</summary>
    public double GroupLearningRate(int group) => group >= 0 && group < Groups.Count ? LearningRate : throw new ArgumentOutOfRangeException(nameof(group));

    /// <summary>Zeroes every gradient (PyTorch 1.6 <c>zero_grad()</c>: in place, not set to none).</summary>
    public void ZeroGrad()
    {
        foreach (var g in Groups)
            foreach (var (_, p) in g.Parameters)
                p.grad?.zero_();
    }

    /// <summary>One LARS + SGD-momentum update with <see cref="LearningRate"/>. Every scalar operand is an explicit
    /// <see cref="Scalar"/> held for the whole step (see <c>FinalizerPause</c> for why).</summary>
    public void Step()
    {
        using var _ = no_grad();
        using var zero = 0.0.ToScalar();
        using var one = 1.ToScalar();
        using var trustC = Options.TrustCoefficient.ToScalar();
        using var eps = Options.Eps.ToScalar();
        using var momentum = Options.Momentum.ToScalar();
        using var negLr = (-LearningRate).ToScalar();
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var group = Groups[gi];
            using var wd = group.WeightDecay.ToScalar();
            for (int pi = 0; pi < group.Parameters.Count; pi++)
            {
                var w = group.Parameters[pi].Parameter;
                var grad = w.grad;
                if (grad is null) continue;
                using var scope = NewDisposeScope();
                var g = grad;
                if (group.WeightDecay != 0) g = g.add(w.mul(wd), one);
                if (group.Adapt)
                {
                    var wn = w.norm();
                    var gn = g.norm();
                    var trust = where(wn.gt(zero).logical_and(gn.gt(zero)), wn.mul(trustC).div(gn.add(eps)), ones_like(wn));
                    g = g.mul(trust);
                }
                ref var buf = ref _buffers[gi][pi];
                if (buf is null) buf = g.clone().DetachFromDisposeScope();
                else buf.mul_(momentum).add_(g, one); // add_(g) would pass an implicit alpha = 1 scalar
                w.add_(buf, alpha: negLr);
            }
        }
    }

    /// <summary>Momentum buffers by parameter name (<c>momentum_buffer.&lt;name&gt;</c>), copied to the CPU.</summary>
    public Dictionary<string, Tensor> StateDict() => ParameterBuffers.Save(Groups.Select(g => g.Parameters).ToList(), _buffers, Sgd.BufferPrefix);

    /// <summary>Restores momentum buffers saved by <see cref="StateDict"/>; a buffer for an unknown parameter or of the
    /// wrong shape is an error (the checkpoint belongs to another model).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state) =>
        ParameterBuffers.Load(Groups.Select(g => g.Parameters).ToList(), _buffers, Sgd.BufferPrefix, state);

    public void Dispose()
    {
        foreach (var row in _buffers)
            foreach (var b in row) b?.Dispose();
    }
}
