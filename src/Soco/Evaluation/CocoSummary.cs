using System.Globalization;

namespace Soco.Evaluation;

/// <summary>
/// pycocotools' <c>COCOeval.summarize()</c> for detections: each number is the mean of the selected precision or
/// recall entries that are > −1 (−1 when there are none); AP at IoU .5 and .75 selects the threshold by exact equality
/// with the linspace values, as numpy's <c>np.where(iouThr == p.iouThrs)</c> does (docs/coco-evaluation.md §Summarize).
/// </summary>
internal static class CocoSummary
{
    public static double[] Stats(CocoEvalResult e, out List<string> lines)
    {
        var p = e.Params;
        int m0 = p.MaxDets[0], m1 = p.MaxDets[Math.Min(1, p.MaxDets.Length - 1)], m2 = p.MaxDets[Math.Min(2, p.MaxDets.Length - 1)];
        var l = new List<string>(12);
        double S(bool ap, double? iouThr = null, string area = "all", int maxDets = 100)
        {
            double v = Mean(e, ap, iouThr, area, maxDets);
            l.Add(Line(p, ap, iouThr, area, maxDets, v));
            return v;
        }
        double[] stats =
        [
            S(true), // pycocotools passes the literal 100 here, not maxDets[2]
            S(true, 0.5, maxDets: m2),
            S(true, 0.75, maxDets: m2),
            S(true, area: "small", maxDets: m2),
            S(true, area: "medium", maxDets: m2),
            S(true, area: "large", maxDets: m2),
            S(false, maxDets: m0),
            S(false, maxDets: m1),
            S(false, maxDets: m2),
            S(false, area: "small", maxDets: m2),
            S(false, area: "medium", maxDets: m2),
            S(false, area: "large", maxDets: m2),
        ];
        lines = l;
        return stats;
    }

    static double Mean(CocoEvalResult e, bool ap, double? iouThr, string area, int maxDets)
    {
        var p = e.Params;
        var ts = Enumerable.Range(0, p.IouThresholds.Length).Where(t => iouThr is null || p.IouThresholds[t] == iouThr.Value).ToArray();
        var aas = Enumerable.Range(0, p.AreaRanges.Length).Where(a => p.AreaRanges[a].Label == area).ToArray();
        var ms = Enumerable.Range(0, p.MaxDets.Length).Where(m => p.MaxDets[m] == maxDets).ToArray();
        double sum = 0;
        long n = 0;
        int K = e.CategoryIds.Length, R = p.RecallThresholds.Length;
        foreach (int t in ts)
            foreach (int a in aas)
                foreach (int m in ms)
                    for (int k = 0; k < K; k++)
                    {
                        if (ap)
                        {
                            for (int r = 0; r < R; r++)
                            {
                                double v = e.PrecisionAt(t, r, k, a, m);
                                if (v > -1) { sum += v; n++; }
                            }
                        }
                        else
                        {
                            double v = e.RecallAt(t, k, a, m);
                            if (v > -1) { sum += v; n++; }
                        }
                    }
        return n == 0 ? -1 : sum / n;
    }

    /// <summary><c>' {:&lt;18} {} @[ IoU={:&lt;9} | area={:&gt;6s} | maxDets={:&gt;3d} ] = {:0.3f}'</c>.</summary>
    static string Line(CocoEvalParams p, bool ap, double? iouThr, string area, int maxDets, double v)
    {
        string title = ap ? "Average Precision" : "Average Recall";
        string type = ap ? "(AP)" : "(AR)";
        string iou = iouThr is null
            ? F2(p.IouThresholds[0]) + ":" + F2(p.IouThresholds[^1])
            : F2(iouThr.Value);
        return $" {title,-18} {type} @[ IoU={iou,-9} | area={area,6} | maxDets={maxDets,3} ] = {v.ToString("0.000", CultureInfo.InvariantCulture)}";
    }

    static string F2(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
}
