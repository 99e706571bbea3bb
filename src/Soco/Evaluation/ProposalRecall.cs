using Soco.Data.Voc;
using Soco.Proposals;

namespace Soco.Evaluation;

/// <summary>Recall of proposals on ground truth: the best IoU of each ground-truth box among the proposals.</summary>
public static class ProposalRecall
{
    /// <summary>
    /// The continuous extent of a rect: [x, x + w + 1) for SoCo's convention (w = max − min), [x, x + w) for OpenCV's.
    /// </summary>
    public static (double X1, double Y1, double X2, double Y2) Extent(ProposalRect r, string rectConvention)
    {
        int extra = rectConvention == "soco" ? 1 : 0;
        return (r.X, r.Y, r.X + r.W + extra, r.Y + r.H + extra);
    }

    public static double Iou((double X1, double Y1, double X2, double Y2) a, (double X1, double Y1, double X2, double Y2) b)
    {
        double ix = Math.Max(0, Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1));
        double iy = Math.Max(0, Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1));
        double inter = ix * iy;
        double union = (a.X2 - a.X1) * (a.Y2 - a.Y1) + (b.X2 - b.X1) * (b.Y2 - b.Y1) - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>For each ground-truth box, the best IoU among <paramref name="rects"/> (0 when there are none).</summary>
    public static double[] BestIou(IReadOnlyList<GroundTruthBox> truth, IReadOnlyList<ProposalRect> rects, string rectConvention)
    {
        var best = new double[truth.Count];
        var extents = rects.Select(r => Extent(r, rectConvention)).ToArray();
        for (int g = 0; g < truth.Count; g++)
        {
            var t = (truth[g].X1, truth[g].Y1, truth[g].X2, truth[g].Y2);
            foreach (var e in extents) best[g] = Math.Max(best[g], Iou(t, e));
        }
        return best;
    }
}
