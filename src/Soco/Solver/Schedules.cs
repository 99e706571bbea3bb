namespace Soco.Solver;

/// <summary>A learning rate per iteration (0-based, the number of steps already done).</summary>
public interface ILrSchedule
{
    double At(long iteration);
}

/// <summary>
/// SoCo's learning-rate schedule (docs/soco-reference.md §6), stepped every iteration: linear warm-up from <c>peak/multiplier</c> to
/// <c>peak</c> over <see cref="WarmupSteps"/> iterations, then cosine from <c>peak</c> to <see cref="FinalLr"/> over the
/// remaining <c>TotalSteps − WarmupSteps</c>. Iteration t (0-based) uses
/// <c>peak/m · ((m − 1)·t/T_w + 1)</c> for t ≤ T_w and <c>final + (peak − final)·(1 + cos(π·(t − T_w)/T))/2</c> after.
/// </summary>
public sealed record WarmupCosineSchedule(double PeakLr, long WarmupSteps, long TotalSteps, double FinalLr = 1e-6, double WarmupMultiplier = 100) : ILrSchedule
{
    /// <summary>The peak lr of the official scaling rule: <c>base_lr · total_batch / 256</c>.</summary>
    public static double ScaledLr(double baseLr, int totalBatch) => baseLr * totalBatch / 256.0;

    /// <summary>Length T of the cosine part.</summary>
    public long CosineSteps => TotalSteps - WarmupSteps;

    /// <summary>The learning rate of iteration <paramref name="t"/> (0-based).</summary>
    public double At(long t)
    {
        if (t < 0) throw new ArgumentOutOfRangeException(nameof(t), t, "iterations count from 0");
        if (WarmupSteps > 0 && t <= WarmupSteps)
            return PeakLr / WarmupMultiplier * ((WarmupMultiplier - 1) * t / WarmupSteps + 1);
        long cos = Math.Max(1, CosineSteps);
        return FinalLr + (PeakLr - FinalLr) * (1 + Math.Cos(Math.PI * (t - WarmupSteps) / cos)) / 2;
    }
}

/// <summary>
/// Detectron2's <c>WarmupMultiStepLR</c> (docs/engine.md §schedules): iteration t uses
/// <c>base · warm(t) · γ^(number of milestones ≤ t)</c> with the linear warm-up factor
/// <c>warm(t) = f·(1 − t/T_w) + t/T_w</c> for t &lt; T_w and 1 after (f = <see cref="WarmupFactor"/>, 0.001 by default).
/// </summary>
public sealed record WarmupMultiStepSchedule : ILrSchedule
{
    public WarmupMultiStepSchedule(double baseLr, long maxIter, IReadOnlyList<long>? milestones = null, double gamma = 0.1,
        long warmupIters = 1000, double warmupFactor = 0.001)
    {
        if (maxIter <= 0) throw new ArgumentOutOfRangeException(nameof(maxIter), maxIter, "the run needs at least one iteration");
        if (warmupIters < 0) throw new ArgumentOutOfRangeException(nameof(warmupIters), warmupIters, "warm-up length cannot be negative");
        milestones ??= DefaultMilestones(maxIter);
        for (int i = 1; i < milestones.Count; i++)
            if (milestones[i] < milestones[i - 1])
                throw new ArgumentException($"milestones must be in increasing order (as detectron2 asks); got {string.Join(", ", milestones)}", nameof(milestones));
        BaseLr = baseLr;
        MaxIter = maxIter;
        Milestones = milestones.ToArray();
        Gamma = gamma;
        WarmupIters = warmupIters;
        WarmupFactor = warmupFactor;
    }

    public double BaseLr { get; }
    public long MaxIter { get; }
    public IReadOnlyList<long> Milestones { get; }
    public double Gamma { get; }
    public long WarmupIters { get; }
    public double WarmupFactor { get; }

    /// <summary>Detectron2's 1× proportions: decays at 2/3 and 8/9 of the run (60k and 80k of 90k iterations).</summary>
    public static long[] DefaultMilestones(long maxIter) => [maxIter * 2 / 3, maxIter * 8 / 9];

    public double At(long iteration)
    {
        if (iteration < 0) throw new ArgumentOutOfRangeException(nameof(iteration), iteration, "iterations count from 0");
        double warm = 1;
        if (iteration < WarmupIters)
        {
            double alpha = (double)iteration / WarmupIters;
            warm = WarmupFactor * (1 - alpha) + alpha;
        }
        // bisect_right(milestones, t): how many milestones are ≤ t.
        int passed = Milestones.Count(m => m <= iteration);
        return BaseLr * warm * Math.Pow(Gamma, passed);
    }
}
