namespace Soco.Evaluation;

/// <summary>
/// What <see cref="CocoEvaluator"/> computes: pycocotools' <c>eval['precision']</c> [T, R, K, A, M] and
/// <c>eval['recall']</c> [T, K, A, M] (−1 where a category has no non-ignored ground truth in that area range),
/// the 12 summary numbers of <c>summarize()</c>, and Detectron2's per-category AP.
/// </summary>
public sealed class CocoEvalResult : IEvaluationSummary
{
    public static readonly string[] StatNames = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

    internal CocoEvalResult(CocoEvalParams p, long[] categoryIds, string[] categoryNames, double[] precision, double[] recall)
    {
        Params = p;
        CategoryIds = categoryIds;
        CategoryNames = categoryNames;
        Precision = precision;
        Recall = recall;
        Stats = CocoSummary.Stats(this, out var lines);
        SummaryLines = lines;
        PerCategoryAp = Enumerable.Range(0, categoryIds.Length).Select(CategoryAp).ToArray();
    }

    public CocoEvalParams Params { get; }

    /// <summary>The evaluated categories: the ground truth's ids, ascending (pycocotools' <c>params.catIds</c>).</summary>
    public long[] CategoryIds { get; }
    public string[] CategoryNames { get; }

    /// <summary>Flat [T, R, K, A, M], row-major as numpy stores it.</summary>
    public double[] Precision { get; }

    /// <summary>Flat [T, K, A, M].</summary>
    public double[] Recall { get; }

    /// <summary>The 12 numbers of <c>COCOeval.summarize()</c> in its order (<see cref="StatNames"/>), fractions; −1 where nothing counted.</summary>
    public double[] Stats { get; }

    /// <summary>The 12 lines <c>summarize()</c> prints, character for character.</summary>
    public IReadOnlyList<string> SummaryLines { get; }

    /// <summary>Per category (order of <see cref="CategoryIds"/>): mean precision over IoU .50:.95 and recall points,
    /// area all, the largest maxDets — Detectron2's per-category AP, as a fraction; NaN for a category without ground truth.</summary>
    public double[] PerCategoryAp { get; }

    int T => Params.IouThresholds.Length;
    int R => Params.RecallThresholds.Length;
    int K => CategoryIds.Length;
    int A => Params.AreaRanges.Length;
    int M => Params.MaxDets.Length;

    public double PrecisionAt(int t, int r, int k, int a, int m) => Precision[(((t * R + r) * K + k) * A + a) * M + m];
    public double RecallAt(int t, int k, int a, int m) => Recall[((t * K + k) * A + a) * M + m];

    double CategoryAp(int k) =>
        MetricsJson.MeanValid(from t in Enumerable.Range(0, T) from r in Enumerable.Range(0, R) select PrecisionAt(t, r, k, 0, M - 1));

    IReadOnlyList<string> IEvaluationSummary.StatKeys => StatNames;
}
