using Soco.Data;

namespace Soco.Geometry;

/// <summary>Choosing, jittering, clipping and padding the proposals of a view pair (docs/soco-reference.md §4.2–§4.6).</summary>
public static class ProposalSelection
{
    /// <summary>
    /// Spec §4.2.1: the overlap of two crop rectangles (strict test), or null when they do not overlap.
    /// </summary>
    public static Box? Overlap(CropParams a, CropParams b)
    {
        Box ra = a.Rect, rb = b.Rect;
        if (!ra.OverlapsStrictly(rb)) return null;
        return ra.Intersect(rb);
    }

    /// <summary>Spec §4.2.2: proposals overlapping the region (strict test), in their original order.</summary>
    public static List<Box> Candidates(IReadOnlyList<Box> proposals, Box? overlap)
    {
        var list = new List<Box>();
        if (overlap is not { } o) return list;
        foreach (var p in proposals)
            if (o.OverlapsStrictly(p)) list.Add(p);
        return list;
    }

    /// <summary>
    /// Spec §4.2.3 (<c>select_strategy random</c>): fewer than k candidates → all of them in order; otherwise k
    /// distinct ones uniformly at random, in random order.
    /// </summary>
    public static List<Box> SelectRandom(List<Box> candidates, int k, SampleRandom rng)
    {
        if (candidates.Count < k) return candidates;
        var picked = rng.Sample(candidates.Count, k);
        return picked.Select(i => candidates[i]).ToList();
    }

    /// <summary>
    /// Spec §4.4: each box independently with probability <paramref name="prob"/> gets
    /// <c>x1' = x1 + j0·w, y1' = y1 + j1·h, x2' = x1' + w(1+j2) − 1, y2' = y1' + h(1+j3) − 1</c>, j ~ U(−r, r);
    /// x2' and y2' never below x1' and y1' (a fix: the official formula inverts one-pixel-wide boxes).
    /// </summary>
    public static List<Box> Jitter(IReadOnlyList<Box> boxes, double prob, double ratio, SampleRandom rng)
    {
        var result = new List<Box>(boxes.Count);
        foreach (var b in boxes)
        {
            if (!rng.Bernoulli(prob))
            {
                result.Add(b);
                continue;
            }
            double j0 = rng.Uniform(-ratio, ratio), j1 = rng.Uniform(-ratio, ratio);
            double j2 = rng.Uniform(-ratio, ratio), j3 = rng.Uniform(-ratio, ratio);
            double w = b.Width, h = b.Height;
            double x1 = b.X1 + j0 * w, y1 = b.Y1 + j1 * h;
            // The official formula inverts a one-pixel-wide (or -high) box whenever it shrinks it (w(1+j2) − 1 < 0 for
            // w = 1, j2 < 0), and RoIAlign then pools an inverted box (docs/reliability.md). Such a box keeps its jittered
            // corner and zero extent; every box of two pixels or more is the official one (for ratios ≤ 0.5).
            double x2 = Math.Max(x1, x1 + w * (1 + j2) - 1), y2 = Math.Max(y1, y1 + h * (1 + j3) - 1);
            result.Add(new Box(x1, y1, x2, y2, b.Id));
        }
        return result;
    }

    /// <summary>
    /// Spec §4.5: each box clipped to the view (crop-relative), dropped when it does not overlap it; when none
    /// survives, the whole view with id 1.
    /// </summary>
    public static List<Box> ClipToView(IReadOnlyList<Box> boxes, ViewTransform view, out bool fellBack)
    {
        var list = new List<Box>(boxes.Count);
        foreach (var b in boxes)
            if (view.ClipToView(b) is { } c) list.Add(c);
        fellBack = list.Count == 0;
        if (fellBack) list.Add(view.WholeView(1));
        return list;
    }

    /// <summary>Spec §4.6: ids of the view-1 boxes that also occur among the view-k boxes.</summary>
    public static HashSet<int> CommonIds(IReadOnlyList<Box> view1, IReadOnlyList<Box> viewK)
    {
        var k = viewK.Select(b => b.Id).ToHashSet();
        return view1.Select(b => b.Id).Where(k.Contains).ToHashSet();
    }

    /// <summary>
    /// Spec §4.6: appends <c>padK − count</c> rows drawn uniformly with replacement from this list's boxes whose id
    /// is common; never truncates.
    /// </summary>
    public static List<Box> Pad(List<Box> boxes, IReadOnlySet<int> common, int padK, SampleRandom rng)
    {
        if (boxes.Count >= padK) return boxes;
        var pool = boxes.Where(b => common.Contains(b.Id)).ToList();
        if (pool.Count == 0) throw new InvalidOperationException("no common box to pad with");
        var result = new List<Box>(boxes);
        while (result.Count < padK) result.Add(pool[rng.NextInt(pool.Count)]);
        return result;
    }
}
