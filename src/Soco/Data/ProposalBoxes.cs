using Soco.Geometry;
using Soco.Proposals;

namespace Soco.Data;

/// <summary>The proposals of one image as pixel boxes with ids, ready for the view pipeline (docs/soco-reference.md §3, §3.1).</summary>
/// <param name="Boxes">Inclusive pixel boxes with ids 1…n (the proposal's position in the stored list + 1).</param>
/// <param name="WholeImage">True when there was no usable proposal and the single box is the whole image.</param>
/// <param name="Warning">What was wrong with the input (dropped or clipped boxes), for the log; null when all was fine.</param>
public sealed record ProposalBoxes(IReadOnlyList<Box> Boxes, bool WholeImage, string? Warning)
{
    /// <summary>
    /// Converts SoCo rects <c>[x, y, w, h]</c> (w = max − min) to <c>[x, y, x+w−1, y+h−1]</c> (docs/soco-reference.md §3, keeping the
    /// one-pixel-short PITFALL), numbers them 1…n, and makes bad input harmless: non-finite values, negative sizes
    /// and boxes with no pixel (x2 &lt; x1) or entirely outside the image are dropped; boxes sticking out are clipped
    /// to the image. No usable box → the whole image <c>[0, 0, W−1, H−1]</c> with id 1 (docs/soco-reference.md §3.1).
    /// </summary>
    public static ProposalBoxes Prepare(IReadOnlyList<(double X, double Y, double W, double H)> rects, int imageW, int imageH)
    {
        var image = new Box(0, 0, imageW - 1, imageH - 1, 0);
        var boxes = new List<Box>(rects.Count);
        int bad = 0, outside = 0, clipped = 0;
        string? firstBad = null;
        for (int k = 0; k < rects.Count; k++)
        {
            var (x, y, w, h) = rects[k];
            var b = new Box(x, y, x + w - 1, y + h - 1, k + 1);
            if (!b.IsFinite || w < 0 || h < 0 || b.X2 < b.X1 || b.Y2 < b.Y1)
            {
                bad++;
                firstBad ??= $"[{x}, {y}, {w}, {h}]";
                continue;
            }
            if (b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= image.X2 && b.Y2 <= image.Y2)
            {
                boxes.Add(b);
                continue;
            }
            // Sticking out: keep the part inside (at least one pixel), else drop.
            var c = b.Intersect(image);
            if (c.X2 < c.X1 || c.Y2 < c.Y1)
            {
                outside++;
                firstBad ??= $"[{x}, {y}, {w}, {h}]";
                continue;
            }
            clipped++;
            boxes.Add(c);
        }
        var parts = new List<string>();
        if (bad > 0) parts.Add($"{bad} invalid (NaN, negative or empty size)");
        if (outside > 0) parts.Add($"{outside} outside the {imageW}×{imageH} image");
        string? warning = parts.Count > 0 ? $"dropped {string.Join(" and ", parts)} proposal(s), e.g. {firstBad}" : null;
        if (clipped > 0) warning = (warning is null ? "" : warning + "; ") + $"clipped {clipped} proposal(s) to the image";
        bool whole = boxes.Count == 0;
        if (whole) boxes.Add(new Box(0, 0, imageW - 1, imageH - 1, 1));
        return new ProposalBoxes(boxes, whole, warning);
    }

    public static ProposalBoxes Prepare(IReadOnlyList<ProposalRect> rects, int imageW, int imageH) =>
        Prepare(rects.Select(r => ((double)r.X, (double)r.Y, (double)r.W, (double)r.H)).ToList(), imageW, imageH);

    /// <summary>The proposals of a stored record for a decoded image; a failed or missing record gives the whole image.</summary>
    public static ProposalBoxes FromRecord(ProposalRecord? record, int imageW, int imageH)
    {
        if (record is null || record.IsFailure) return Prepare(Array.Empty<ProposalRect>(), imageW, imageH);
        var p = Prepare(record.Rects, imageW, imageH);
        if (record.Width > 0 && (record.Width != imageW || record.Height != imageH))
            p = p with { Warning = $"proposals were made for a {record.Width}×{record.Height} image, decoded {imageW}×{imageH}" + (p.Warning is null ? "" : "; " + p.Warning) };
        return p;
    }
}
