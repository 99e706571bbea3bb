using Soco.Data.Coco;
using Soco.Evaluation;

namespace Soco.Api;

/// <summary>A COCO bbox evaluation: the 12 COCO numbers by name, AP per category, and pycocotools' printed lines.</summary>
/// <param name="Stats">AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (fractions; −1 where nothing counts).</param>
/// <param name="PerCategoryAp">Category name → AP (NaN without ground truth).</param>
/// <param name="SummaryLines">The 12 lines pycocotools' <c>summarize()</c> prints.</param>
/// <param name="Skipped">Ground-truth and detection records left out, one message each naming the record.</param>
/// <param name="Full">Precision and recall arrays as COCOeval's <c>eval</c>.</param>
public sealed record EvaluationResult(IReadOnlyDictionary<string, double> Stats, IReadOnlyDictionary<string, double> PerCategoryAp,
    IReadOnlyList<string> SummaryLines, IReadOnlyList<string> Skipped, CocoEvalResult Full)
{
    internal static EvaluationResult From(CocoEvalResult r, IReadOnlyList<string> skipped) => new(
        CocoEvalResult.StatNames.Select((n, i) => (n, r.Stats[i])).ToDictionary(p => p.n, p => p.Item2),
        r.CategoryNames.Select((n, k) => (n, r.PerCategoryAp[k])).GroupBy(p => p.n).ToDictionary(g => g.Key, g => g.First().Item2),
        r.SummaryLines, skipped, r);
}

/// <summary>COCO evaluation (<c>soco evaluate</c>): pycocotools' COCOeval for <c>bbox</c>, to ~1e-14.</summary>
public static class SocoEvaluation
{
    /// <summary>Scores a COCO results file (<c>[{image_id, category_id, bbox, score}]</c>) against a COCO instances file.</summary>
    public static EvaluationResult Evaluate(string groundTruthJson, string detectionsJson)
    {
        var gt = CocoInstancesReader.Read(groundTruthJson);
        var dt = CocoResultsReader.Read(detectionsJson, gt);
        return EvaluationResult.From(CocoEvaluator.Evaluate(gt, dt.Detections), [.. gt.Skipped, .. dt.Notes]);
    }

    /// <summary>
    /// Runs <paramref name="detector"/> on the ground truth's images (by <c>file_name</c> under
    /// <paramref name="imageFolder"/>; a missing image is an error, as leaving it out would give a wrong score) and scores
    /// its detections. <paramref name="progress"/> counts images done.
    /// </summary>
    public static Task<EvaluationResult> EvaluateAsync(SocoDetector detector, string groundTruthJson, string imageFolder,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return Task.Run(() =>
        {
            var gt = CocoInstancesReader.Read(groundTruthJson);
            int done = 0;
            var run = DetectorEvaluation.Detect(detector.Model, gt, imageFolder, n =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(done += n);
            });
            return EvaluationResult.From(CocoEvaluator.Evaluate(gt, run.Detections), [.. gt.Skipped, .. run.Notes]);
        }, cancellationToken);
    }
}
