using System.Text.RegularExpressions;

namespace Soco.Proposals;

/// <summary>
/// SoCo's proposal filters (docs/soco-reference.md §2, official <c>filters.py</c>), parsed from the strategy
/// names the official scripts use: <c>none</c>, <c>ratioR</c>, <c>sizeXX</c>, <c>ratioRsizeAABB</c>, each optionally
/// followed by <c>post</c> (the step that refills images left with no proposal: <c>ratio3</c>, else <c>none</c>).
/// Rects are SoCo's <c>(x, y, w, h)</c>; every filter first requires w ≥ 32 and h ≥ 32; order is preserved.
/// </summary>
public sealed partial class ProposalFilter
{
    const int MinSide = 32;

    ProposalFilter(string name, double? ratio, double? minSize, double? maxSize, bool post)
    {
        Name = name;
        Ratio = ratio;
        MinSizeRatio = minSize;
        MaxSizeRatio = maxSize;
        Post = post;
    }

    public string Name { get; }
    /// <summary>Aspect bound R: keep 1/R ≤ w/h ≤ R (inclusive). Null: no aspect rule.</summary>
    public double? Ratio { get; }
    /// <summary>Keep min ≤ sqrt(w·h)/sqrt(W·H) ≤ max. Null: no size rule.</summary>
    public double? MinSizeRatio { get; }
    public double? MaxSizeRatio { get; }
    /// <summary>Whether images left empty are refilled with <c>ratio3</c>, else <c>none</c> (the official "post" step).</summary>
    public bool Post { get; }
    public bool NeedsImageSize => MinSizeRatio is not null;

    /// <summary>The released strategy.</summary>
    public static ProposalFilter Released => Parse("ratio3size0308post");

    [GeneratedRegex(@"^(?:(?<none>none)|ratio(?<r>\d)size(?<min>\d\d)(?<max>\d\d)|ratio(?<r2>\d)|size(?<s>\d\d))(?<post>post)?$")]
    private static partial Regex StrategyPattern();

    /// <summary>Parses a strategy name exactly as the official scripts interpret it; a clear error otherwise.</summary>
    public static ProposalFilter Parse(string strategy)
    {
        var m = StrategyPattern().Match(strategy ?? "");
        if (!m.Success)
            throw new ArgumentException(
                $"unknown filter strategy '{strategy}'; use none, ratioR (e.g. ratio3), sizeXX (e.g. size03: min 0.3), " +
                "ratioRsizeAABB (e.g. ratio3size0308), optionally followed by 'post'");
        bool post = m.Groups["post"].Success;
        // float(s[5]), float(s[-4:-2]) / 10, float(s[-2:]) / 10, as filter_ss_proposals_json.py computes them.
        if (m.Groups["none"].Success) return new ProposalFilter(strategy!, null, null, null, post);
        if (m.Groups["r"].Success)
            return new ProposalFilter(strategy!, double.Parse(m.Groups["r"].Value),
                double.Parse(m.Groups["min"].Value) / 10, double.Parse(m.Groups["max"].Value) / 10, post);
        if (m.Groups["r2"].Success) return new ProposalFilter(strategy!, double.Parse(m.Groups["r2"].Value), null, null, post);
        return new ProposalFilter(strategy!, null, double.Parse(m.Groups["s"].Value) / 10, 1.0, post);
    }

    /// <summary>Applies the filter (and the post step) to one image's rects. W, H: image size (needed by size rules).</summary>
    public ProposalRect[] Apply(ReadOnlySpan<ProposalRect> rects, int imageWidth, int imageHeight)
    {
        var kept = new ProposalRect[rects.Length];
        int n = Apply(rects, imageWidth, imageHeight, kept, out _);
        return kept.AsSpan(0, n).ToArray();
    }

    /// <summary>
    /// <see cref="Apply(ReadOnlySpan{ProposalRect}, int, int)"/> into <paramref name="kept"/> (at least as long as
    /// <paramref name="rects"/>): returns how many were kept; <paramref name="strategyLeftNone"/> says whether the
    /// strategy itself, before the post step, kept none.
    /// </summary>
    public int Apply(ReadOnlySpan<ProposalRect> rects, int imageWidth, int imageHeight, Span<ProposalRect> kept, out bool strategyLeftNone)
    {
        if (NeedsImageSize && (imageWidth <= 0 || imageHeight <= 0))
            throw new ArgumentException($"filter '{Name}' needs the image size, which this record lacks (proposals imported from JSON carry no size)");
        if (kept.Length < rects.Length) throw new ArgumentException("the output span is shorter than the input", nameof(kept));
        int n = Keep(rects, Ratio, MinSizeRatio, MaxSizeRatio, imageWidth, imageHeight, kept);
        strategyLeftNone = n == 0;
        if (n == 0 && Post)
        {
            n = Keep(rects, 3.0, null, null, imageWidth, imageHeight, kept);
            if (n == 0) n = Keep(rects, null, null, null, imageWidth, imageHeight, kept);
        }
        return n;
    }

    static int Keep(ReadOnlySpan<ProposalRect> rects, double? ratio, double? min, double? max, int iw, int ih, Span<ProposalRect> kept)
    {
        int n = 0;
        double imgSqrt = Math.Sqrt((double)iw * ih);
        foreach (var r in rects)
        {
            if (r.W < MinSide || r.H < MinSide) continue;
            if (ratio is double R)
            {
                double a = (double)r.W / r.H;
                if (!(1.0 / R <= a && a <= R)) continue;
            }
            if (min is double lo)
            {
                double s = Math.Sqrt((double)r.W * r.H) / imgSqrt;
                if (!(lo <= s && s <= max!.Value)) continue;
            }
            kept[n++] = r;
        }
        return n;
    }
}
