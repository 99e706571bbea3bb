using Soco.Solver;

namespace Soco.Training;

/// <summary>
/// SoCo's learning-rate schedule (spec §6), stepped every iteration: linear warm-up from <c>peak/multiplier</c> to
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
