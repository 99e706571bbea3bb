using System.Globalization;
using Soco.Data.Lvis;

namespace Soco.Evaluation;

/// <summary>
/// What <see cref="LvisEvaluator"/> computes: the LVIS API's <c>eval['precision']</c> [T, R, K, A] and
/// <c>eval['recall']</c> [T, K, A] (−1 where a category has no non-ignored ground truth in that area range), the 13
/// numbers of <c>LVISEval.summarize()</c> and the lines <c>print_results()</c> prints (docs/lvis.md §Summary).
/// </summary>
public sealed class LvisEvalResult : IEvaluationSummary
{
    /// <summary>The keys of <c>LVISEval.results</c>, in its order.</summary>
    public static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"];

    internal LvisEvalResult(CocoEvalParams p, string iouType, long[] categoryIds, string[] categoryNames, LvisFrequency[] frequencies, double[] precision, double[] recall)
    {
        Params = p;
        IouType = iouType;
        CategoryIds = categoryIds;
        CategoryNames = categoryNames;
        Frequencies = frequencies;
        Precision = precision;
        Recall = recall;
        int maxDets = p.MaxDets[^1];
        Names = StatNames.Select(s => s.Replace("300", maxDets.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)).ToArray();
        var all = Enumerable.Range(0, K).ToArray();
        int[] Group(LvisFrequency f) => all.Where(k => frequencies[k] == f).ToArray();
        Stats =
        [
            Ap(null, "all", all), Ap(0.5, "all", all), Ap(0.75, "all", all),
            Ap(null, "small", all), Ap(null, "medium", all), Ap(null, "large", all),
            Ap(null, "all", Group(LvisFrequency.Rare)), Ap(null, "all", Group(LvisFrequency.Common)), Ap(null, "all", Group(LvisFrequency.Frequent)),
            Ar("all"), Ar("small"), Ar("medium"), Ar("large"),
        ];
        SummaryLines = Names.Select((n, i) => Line(n, Stats[i])).ToArray();
        PerCategoryAp = all.Select(k =>
            MetricsJson.MeanValid(from t in Enumerable.Range(0, T) from r in Enumerable.Range(0, R) select PrecisionAt(t, r, k, 0))).ToArray();
    }

    public CocoEvalParams Params { get; }
    /// <summary>Detections given, kept by the per-image cap, and scored (verified category, area &gt; 0).</summary>
    public int DetectionsGiven { get; init; }
    public int DetectionsAfterCap { get; init; }
    public int DetectionsScored { get; init; }
    /// <summary>"bbox" or "segm".</summary>
    public string IouType { get; }
    public long[] CategoryIds { get; }
    public string[] CategoryNames { get; }
    public LvisFrequency[] Frequencies { get; }
    /// <summary>Flat [T, R, K, A].</summary>
    public double[] Precision { get; }
    /// <summary>Flat [T, K, A].</summary>
    public double[] Recall { get; }
    /// <summary>The 13 numbers (fractions, −1 where nothing counted), in <see cref="StatNames"/> order.</summary>
    public double[] Stats { get; }
    /// <summary><see cref="StatNames"/> with the per-image cap in place of 300 (the LVIS API's keys).</summary>
    public string[] Names { get; }
    IReadOnlyList<string> IEvaluationSummary.StatKeys => Names;
    public IReadOnlyList<string> SummaryLines { get; }
    /// <summary>Per category: precision averaged over IoU thresholds and recall points, area all; NaN without ground truth.</summary>
    public double[] PerCategoryAp { get; }

    int T => Params.IouThresholds.Length;
    int R => Params.RecallThresholds.Length;
    int K => CategoryIds.Length;
    int A => Params.AreaRanges.Length;

    public double PrecisionAt(int t, int r, int k, int a) => Precision[((t * R + r) * K + k) * A + a];
    public double RecallAt(int t, int k, int a) => Recall[(t * K + k) * A + a];

    /// <summary><c>_summarize('ap', ...)</c>: the mean of the selected precision entries &gt; −1 (−1 if none); the IoU
    /// threshold is selected by exact equality with the linspace values, as <c>np.where(iou_thr == iou_thrs)</c>.</summary>
    double Ap(double? iouThr, string area, int[] cats)
    {
        double sum = 0;
        long c = 0;
        for (int t = 0; t < T; t++)
        {
            if (iouThr is double thr && Params.IouThresholds[t] != thr) continue;
            for (int a = 0; a < A; a++)
            {
                if (Params.AreaRanges[a].Label != area) continue;
                for (int r = 0; r < R; r++)
                    foreach (int k in cats)
                    {
                        double v = PrecisionAt(t, r, k, a);
                        if (v > -1) { sum += v; c++; }
                    }
            }
        }
        return c == 0 ? -1 : sum / c;
    }

    /// <summary><c>_summarize('ar', area_rng=...)</c>: recall over every IoU threshold and category.</summary>
    double Ar(string area)
    {
        double sum = 0;
        long c = 0;
        for (int t = 0; t < T; t++)
            for (int a = 0; a < A; a++)
            {
                if (Params.AreaRanges[a].Label != area) continue;
                for (int k = 0; k < K; k++)
                {
                    double v = RecallAt(t, k, a);
                    if (v > -1) { sum += v; c++; }
                }
            }
        return c == 0 ? -1 : sum / c;
    }

    /// <summary>One line of <c>LVISEval.print_results()</c>:
    /// <c>' {:&lt;18} {} @[ IoU={:&lt;9} | area={:&gt;6s} | maxDets={:&gt;3d} catIds={:&gt;3s}] = {:0.3f}'</c>, with the IoU,
    /// area and category group read from the key's third character as it does.</summary>
    string Line(string key, double v)
    {
        bool ap = key.Contains("AP", StringComparison.Ordinal);
        string title = ap ? "Average Precision" : "Average Recall";
        string type = ap ? "(AP)" : "(AR)";
        char c = key.Length > 2 ? key[2] : ' ';
        string iou = char.IsAsciiDigit(c)
            ? (double.Parse(key[2..], CultureInfo.InvariantCulture) / 100).ToString("0.00", CultureInfo.InvariantCulture)
            : Params.IouThresholds[0].ToString("0.00", CultureInfo.InvariantCulture) + ":" + Params.IouThresholds[^1].ToString("0.00", CultureInfo.InvariantCulture);
        string group = c is 'r' or 'c' or 'f' ? c.ToString() : "all";
        string area = c is 's' or 'm' or 'l' ? c.ToString() : "all";
        return $" {title,-18} {type} @[ IoU={iou,-9} | area={area,6} | maxDets={Params.MaxDets[^1],3} catIds={group,3}] = {v.ToString("0.000", CultureInfo.InvariantCulture)}";
    }
}
