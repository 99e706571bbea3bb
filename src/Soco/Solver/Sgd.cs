using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Solver;

/// <summary>A parameter group of <see cref="Sgd"/>: its named parameters, weight decay and learning-rate factor.</summary>
public sealed record SgdGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay, double LrFactor = 1);

/// <summary>
/// PyTorch's <c>torch.optim.SGD</c> (1.13, single-tensor path) with momentum μ, dampening 0, no Nesterov — the detector's
/// optimiser (docs/engine.md §SGD). Per parameter with a gradient: <c>d = g + wd·w</c> (when wd ≠ 0, one
/// <c>add(w, alpha: wd)</c> as PyTorch does); first step <c>v ← d</c>, later <c>v ← μ·v + d</c>; <c>w ← w − lr·v</c>.
/// Parameter groups carry their own weight decay (Detectron2 leaves norm layers undecayed: <see cref="ForDetector"/>).
/// Every scalar operand is an explicit <see cref="Scalar"/> held for the whole step (the implicit-Scalar finalizer race,
/// see <c>FinalizerPause</c>). Momentum buffers are saved by parameter name, as <c>Lars</c>'s.
/// </summary>
public sealed class Sgd : IOptimizer
{
    public const string BufferPrefix = "momentum_buffer.";

    readonly Tensor?[][] _buffers;

    public Sgd(IEnumerable<SgdGroup> groups, double momentum = 0.9)
    {
        Groups = groups.ToList();
        Momentum = momentum;
        var names = new HashSet<string>();
        foreach (var g in Groups)
            foreach (var (n, _) in g.Parameters)
                if (!names.Add(n)) throw new ArgumentException($"parameter '{n}' is in more than one SGD group");
        _buffers = Groups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
    }

    /// <summary>
    /// Detectron2's default groups (<c>get_default_optimizer_params</c>): parameters of normalisation layers (BatchNorm,
    /// GroupNorm, LayerNorm, InstanceNorm and any module whose type name ends in "Norm", e.g. a frozen BN) get
    /// <paramref name="weightDecayNorm"/> (0 in its configs: <c>WEIGHT_DECAY_NORM</c>); biases elsewhere get
    /// <paramref name="weightDecayBias"/> (null → <paramref name="weightDecay"/>); everything else <paramref name="weightDecay"/>.
    /// Parameters that do not require a gradient are left out. Empty groups are dropped.
    /// </summary>
    public static Sgd ForDetector(nn.Module model, double momentum = 0.9, double weightDecay = 1e-4, double weightDecayNorm = 0,
        double? weightDecayBias = null)
    {
        var norm = new List<(string, Parameter)>();
        var bias = new List<(string, Parameter)>();
        var rest = new List<(string, Parameter)>();
        var normModules = model.named_modules().Where(m => IsNorm(m.module)).Select(m => m.name).ToHashSet();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            int dot = name.LastIndexOf('.');
            string owner = dot < 0 ? "" : name[..dot], leaf = name[(dot + 1)..];
            if (normModules.Contains(owner)) norm.Add((name, p));
            else if (leaf == "bias") bias.Add((name, p));
            else rest.Add((name, p));
        }
        var groups = new List<SgdGroup>
        {
            new("weights", rest, weightDecay), new("biases", bias, weightDecayBias ?? weightDecay), new("norms", norm, weightDecayNorm),
        };
        return new Sgd(groups.Where(g => g.Parameters.Count > 0), momentum);
    }

    static bool IsNorm(nn.Module m) =>
        m is BatchNorm1d or BatchNorm2d or BatchNorm3d or GroupNorm or LayerNorm or InstanceNorm1d or InstanceNorm2d or InstanceNorm3d
        || m.GetType().Name.EndsWith("Norm", StringComparison.Ordinal) || m.GetType().Name.Contains("BatchNorm", StringComparison.Ordinal);

    public IReadOnlyList<SgdGroup> Groups { get; }
    public double Momentum { get; }
    public double LearningRate { get; set; }
    public IReadOnlyList<string> GroupNames => Groups.Select(g => g.Name).ToList();
    public double GroupLearningRate(int group) => LearningRate * Groups[group].LrFactor;

    public void ZeroGrad()
    {
        foreach (var g in Groups)
            foreach (var (_, p) in g.Parameters)
                p.grad?.zero_();
    }

    public void Step()
    {
        using var _ = no_grad();
        using var one = 1.ToScalar();
        using var momentum = Momentum.ToScalar();
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var group = Groups[gi];
            using var wd = group.WeightDecay.ToScalar();
            using var negLr = (-GroupLearningRate(gi)).ToScalar();
            for (int pi = 0; pi < group.Parameters.Count; pi++)
            {
                var w = group.Parameters[pi].Parameter;
                var grad = w.grad;
                if (grad is null) continue;
                using var scope = NewDisposeScope();
                var d = group.WeightDecay != 0 ? grad.add(w, wd) : grad;
                ref var buf = ref _buffers[gi][pi];
                if (Momentum != 0)
                {
                    if (buf is null) buf = d.clone().detach().DetachFromDisposeScope();
                    else buf.mul_(momentum).add_(d, one);
                    d = buf;
                }
                w.add_(d, alpha: negLr);
            }
        }
    }

    public Dictionary<string, Tensor> StateDict() => ParameterBuffers.Save(Groups.Select(g => g.Parameters).ToList(), _buffers, BufferPrefix);

    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state) =>
        ParameterBuffers.Load(Groups.Select(g => g.Parameters).ToList(), _buffers, BufferPrefix, state);

    public void Dispose()
    {
        foreach (var row in _buffers)
            foreach (var b in row) b?.Dispose();
    }
}

/// <summary>Per-parameter optimiser buffers saved and restored by parameter name (shared by <see cref="Sgd"/> and LARS).</summary>
public static class ParameterBuffers
{
    public static Dictionary<string, Tensor> Save(IReadOnlyList<IReadOnlyList<(string Name, Parameter Parameter)>> groups, Tensor?[][] buffers, string prefix)
    {
        var d = new Dictionary<string, Tensor>();
        for (int gi = 0; gi < groups.Count; gi++)
            for (int pi = 0; pi < groups[gi].Count; pi++)
                if (buffers[gi][pi] is { } b)
                    d[prefix + groups[gi][pi].Name] = b.detach().cpu().clone();
        return d;
    }

    /// <summary>Replaces every buffer by the state's; keys without <paramref name="prefix"/> are ignored.</summary>
    public static void Load(IReadOnlyList<IReadOnlyList<(string Name, Parameter Parameter)>> groups, Tensor?[][] buffers, string prefix,
        IReadOnlyDictionary<string, Tensor> state)
    {
        var slots = new Dictionary<string, (int G, int P)>();
        for (int gi = 0; gi < groups.Count; gi++)
            for (int pi = 0; pi < groups[gi].Count; pi++)
                slots[groups[gi][pi].Name] = (gi, pi);
        foreach (var row in buffers)
            for (int i = 0; i < row.Length; i++) { row[i]?.Dispose(); row[i] = null; }
        foreach (var (key, t) in state)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string name = key[prefix.Length..];
            if (!slots.TryGetValue(name, out var s)) throw new InvalidDataException($"optimiser state has a momentum buffer for '{name}', which this model does not train");
            var w = groups[s.G][s.P].Parameter;
            if (!t.shape.SequenceEqual(w.shape)) throw new InvalidDataException($"momentum buffer of '{name}' is [{string.Join(", ", t.shape)}], the parameter is [{string.Join(", ", w.shape)}]");
            buffers[s.G][s.P] = t.to(w.dtype, w.device).clone();
        }
    }
}
