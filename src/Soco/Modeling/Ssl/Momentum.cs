using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>The target network's momentum schedule (docs/soco-reference.md §5.7), BYOL's cosine ramp from m0 to 1.</summary>
public static class MomentumSchedule
{
    /// <summary><c>m_k = 1 − (1 − m0)·(cos(π·k/K) + 1)/2</c>.</summary>
    public static double At(long step, long totalSteps, double baseMomentum)
    {
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), "the schedule length K must be > 0.");
        return 1.0 - (1.0 - baseMomentum) * (Math.Cos(Math.PI * step / totalSteps) + 1.0) / 2.0;
    }

    /// <summary>The official K: <c>int(num_images / world_size / batch_size · epochs)</c> (float division, so K is
    /// slightly above the real number of steps).</summary>
    public static long TotalSteps(long numImages, int worldSize, int batchPerGpu, int epochs)
        => (long)(numImages * 1.0 / worldSize / batchPerGpu * epochs);
}

/// <summary>
/// Exponential moving average of an online module's <em>parameters</em> into a target module of the same
/// architecture (docs/soco-reference.md §5.7): <c>ξ ← m·ξ + (1 − m)·θ</c>. Buffers (BN running statistics) are neither copied nor
/// averaged. Target parameters are frozen (<c>requires_grad = false</c>).
/// </summary>
public static class TargetNetwork
{
    /// <summary>
    /// The target network of <paramref name="online"/>: what lightly's <c>deepcopy</c> + <c>deactivate_requires_grad</c>
    /// give. TorchSharp has no deep copy of a module, so <paramref name="build"/> constructs the same architecture, and
    /// the online parameters and buffers are copied into it; its parameters are frozen. Its constructors draw from
    /// torch's generator as the official models' second construction does (SoCo_FPN.py builds <c>encoder_k</c>,
    /// <c>neck_k</c>, … and then copies, docs/soco-reference.md §5.7), so a seeded model starts from the same numbers.
    /// </summary>
    public static T CopyOf<T>(T online, Func<T> build) where T : nn.Module
    {
        var target = build();
        InitializeFrom(online, target);
        using var _ = no_grad();
        var qb = online.named_buffers().ToList();
        var kb = target.named_buffers().ToList();
        if (qb.Count != kb.Count || qb.Zip(kb).Any(p => p.First.name != p.Second.name))
            throw new InvalidOperationException($"{nameof(build)} made a network whose buffers differ from the online one's ({qb.Count} vs {kb.Count}).");
        for (int i = 0; i < qb.Count; i++) kb[i].buffer.copy_(qb[i].buffer);
        return target;
    }

    /// <summary>Copies the online parameters into the target and freezes the target's parameters.</summary>
    public static void InitializeFrom(nn.Module online, nn.Module target)
    {
        using var _ = no_grad();
        foreach (var (q, k) in Pairs(online, target))
        {
            k.copy_(q);
            k.requires_grad = false;
        }
    }

    /// <summary>One EMA step with momentum <paramref name="momentum"/>, evaluated as the official
    /// <c>ξ·m + θ·(1 − m)</c>.</summary>
    public static void Update(nn.Module online, nn.Module target, double momentum)
    {
        using var _ = no_grad();
        foreach (var (q, k) in Pairs(online, target))
        {
            using var a = k.Mul(momentum);
            using var b = q.Mul(1.0 - momentum);
            k.copy_(a.PlusInPlace(b));
        }
    }

    static IEnumerable<(Tensor Online, Tensor Target)> Pairs(nn.Module online, nn.Module target)
    {
        var q = online.named_parameters().ToList();
        var k = target.named_parameters().ToList();
        if (q.Count != k.Count) throw new InvalidOperationException($"online and target networks differ: {q.Count} vs {k.Count} parameters.");
        for (int i = 0; i < q.Count; i++)
        {
            if (q[i].name != k[i].name || !q[i].parameter.shape.SequenceEqual(k[i].parameter.shape))
                throw new InvalidOperationException($"online parameter '{q[i].name}' does not match target parameter '{k[i].name}'.");
            yield return (q[i].parameter, k[i].parameter);
        }
    }
}
