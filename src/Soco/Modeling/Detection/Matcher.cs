using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// Assigns each prediction (anchor or proposal) the ground-truth box it overlaps most (torchvision 0.14 <c>Matcher</c>;
/// docs/detection-parts.md §Matcher): best IoU &lt; low → <see cref="BelowLowThreshold"/> (−1, background), low ≤ IoU &lt;
/// high → <see cref="BetweenThresholds"/> (−2, ignored), otherwise the gt index. With low-quality matches, every
/// prediction whose IoU equals some gt's best IoU (ties included, even a best IoU of 0) gets back its own best gt.
/// </summary>
public sealed class Matcher
{
    public const long BelowLowThreshold = -1;
    public const long BetweenThresholds = -2;

    public Matcher(double highThreshold, double lowThreshold, bool allowLowQualityMatches)
    {
        if (lowThreshold > highThreshold) throw new ArgumentException($"matcher low threshold {lowThreshold} is above the high threshold {highThreshold}.");
        High = highThreshold;
        Low = lowThreshold;
        AllowLowQualityMatches = allowLowQualityMatches;
    }

    /// <summary>RPN: 0.7 / 0.3 with low-quality matches.</summary>
    public static Matcher Rpn() => new(0.7, 0.3, true);

    /// <summary>Box head: 0.5 / 0.5 without.</summary>
    public static Matcher Roi() => new(0.5, 0.5, false);

    public double High { get; }
    public double Low { get; }
    public bool AllowLowQualityMatches { get; }

    /// <summary><paramref name="quality"/> G×P (IoU of gt g with prediction p) → P matches (int64).</summary>
    public Tensor Match(Tensor quality)
    {
        ArgumentNullException.ThrowIfNull(quality);
        if (quality.dim() != 2) throw new ArgumentException($"match quality must be G×P, got shape [{string.Join(", ", quality.shape)}].", nameof(quality));
        if (quality.shape[0] == 0)
            throw new ArgumentException("no ground-truth boxes for an image: the matcher needs at least one (images without boxes are labelled background by the caller).", nameof(quality));
        if (quality.shape[1] == 0) return empty(0, dtype: int64, device: quality.device);
        using var scope = NewDisposeScope();
        var (vals, matches) = quality.max(0);
        var all = AllowLowQualityMatches ? matches.clone() : null;
        var below = vals.LtScalar(Low);
        var between = vals.Ge(Low).logical_and(vals.LtScalar(High));
        matches.MaskedFillInPlace(below, BelowLowThreshold);
        matches.MaskedFillInPlace(between, BetweenThresholds);
        if (all is not null)
        {
            var best = quality.max(1).values;
            var pairs = quality.eq(best.unsqueeze(1)).nonzero();
            var update = pairs[.., 1];
            matches.index_put_(all.index_select(0, update), update);
        }
        return matches.MoveToOuterDisposeScope();
    }
}
