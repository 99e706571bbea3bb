using System.Text.Json;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Evaluation;

namespace Soco.Tests.Evaluation;

/// <summary>
/// Our LVIS evaluation against the LVIS API's own LVISResults + LVISEval (tools/lvis_fixtures.py: lvis-api and
/// pycocotools built from their public sources, run on the committed sets in tests/fixtures/lvis — negatives, not
/// exhaustive categories, all three frequency groups, a crowd-marked annotation, ignore, area 0, gt id 0 and the
/// 300-per-image cap with a score tie at the cut; segm_s0 the same rules with masks): the 13 numbers, the printed
/// lines, per-category AP, precision per (IoU, category, area) averaged over recall points, and recall.
/// </summary>
public class LvisEvalGoldenTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("lvis", "lvis_golden.json"))).RootElement.GetProperty("sets");

    public static TheoryData<string> Sets() => new() { "hand", "random_s0", "random_s1", "segm_s0" };

    internal static (LvisDataset Truth, CocoResults Results) Load(string set)
    {
        var gt = LvisReader.Read(TestPaths.Fixture("lvis", set + "_gt.json"));
        Assert.Empty(gt.Coco.Skipped);
        Assert.Empty(gt.Notes);
        return (gt, CocoResultsReader.Read(TestPaths.Fixture("lvis", set + "_dt.json"), gt.Coco));
    }

    internal static LvisEvalResult Run(string set, int threads = 0)
    {
        var (gt, dt) = Load(set);
        // segm_*: masks (compressed RLE without bbox, so each detection's area is its mask's, as LVISResults gives it).
        var type = Golden.GetProperty(set).GetProperty("iou_type").GetString() == "segm" ? CocoIouType.Segm : CocoIouType.Bbox;
        return LvisEvaluator.Evaluate(gt, dt.Detections, type, threads: threads);
    }

    [Theory]
    [MemberData(nameof(Sets))]
    public void ThirteenNumbersAndPrintedLinesMatchTheLvisApi(string set)
    {
        var g = Golden.GetProperty(set);
        var r = Run(set);
        var expected = g.GetProperty("results").EnumerateObject().ToArray();
        Assert.Equal(expected.Select(e => e.Name), r.Names);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i].Value.GetDouble() - r.Stats[i]) <= 1e-12,
                $"{set} {r.Names[i]}: ours {r.Stats[i]:R}, LVIS API {expected[i].Value.GetDouble():R}");
        Assert.Equal(g.GetProperty("summary_lines").EnumerateArray().Select(x => x.GetString()!).ToArray(), r.SummaryLines.ToArray());
    }

    [Theory]
    [MemberData(nameof(Sets))]
    public void PerCategoryPrecisionAndRecallMatchTheLvisApi(string set)
    {
        var g = Golden.GetProperty(set);
        var r = Run(set);
        var shape = g.GetProperty("precision_shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal([r.Params.IouThresholds.Length, r.Params.RecallThresholds.Length, r.CategoryIds.Length, r.Params.AreaRanges.Length], shape);
        var perCat = g.GetProperty("per_category_ap").EnumerateArray().ToArray();
        Assert.Equal(perCat.Select(c => c.GetProperty("id").GetInt64()), r.CategoryIds);
        for (int k = 0; k < perCat.Length; k++)
        {
            var ap = perCat[k].GetProperty("ap");
            if (ap.ValueKind == JsonValueKind.Null) Assert.True(double.IsNaN(r.PerCategoryAp[k]), $"{set} category {r.CategoryIds[k]} has no ground truth");
            else Assert.Equal(ap.GetDouble(), r.PerCategoryAp[k], 1e-12);
        }
        var pm = g.GetProperty("precision_mean_over_recall");
        var rec = g.GetProperty("recall");
        int T = shape[0], R = shape[1], K = shape[2], A = shape[3];
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++)
                for (int a = 0; a < A; a++)
                {
                    double sum = 0;
                    bool absent = true;
                    for (int q = 0; q < R; q++) { double v = r.PrecisionAt(t, q, k, a); sum += v; absent &= v == -1; }
                    double ours = absent ? -1 : sum / R;
                    double expP = pm[t][k][a].GetDouble(), expR = rec[t][k][a].GetDouble();
                    Assert.True(Math.Abs(ours - expP) <= 1e-12, $"{set} precision t{t} k{k} a{a}: ours {ours:R}, LVIS API {expP:R}");
                    Assert.True(Math.Abs(r.RecallAt(t, k, a) - expR) <= 1e-12, $"{set} recall t{t} k{k} a{a}: ours {r.RecallAt(t, k, a):R}, LVIS API {expR:R}");
                }
    }

    [Fact]
    public void TheHandSetExercisesEveryRule()
    {
        // The fixture is only a test of the rules if it holds them: all three frequency groups with ground truth, a
        // category with negatives only, not-exhaustive images, and an image over the cap.
        var (gt, dt) = Load("hand");
        var withGt = gt.Coco.Annotations.Select(a => a.CategoryId).ToHashSet();
        foreach (var f in new[] { LvisFrequency.Rare, LvisFrequency.Common, LvisFrequency.Frequent })
            Assert.Contains(gt.Frequencies, kv => kv.Value == f && withGt.Contains(kv.Key));
        Assert.Contains(gt.NegativeCategories, kv => kv.Value.Length > 0);
        Assert.Contains(gt.NotExhaustiveCategories, kv => kv.Value.Length > 0);
        Assert.Contains(dt.Detections.GroupBy(d => d.ImageId), g => g.Count() > 300);
        Assert.Equal(Golden.GetProperty("hand").GetProperty("detections_after_cap").GetInt32(),
            dt.Detections.GroupBy(d => d.ImageId).Sum(g => Math.Min(300, g.Count())));
    }

    [Fact]
    public void ResultDoesNotDependOnTheThreadCount()
    {
        var one = Run("random_s1", threads: 1);
        var two = Run("random_s1", threads: 2);
        Assert.Equal(one.Stats, two.Stats);
        one = Run("segm_s0", threads: 1);
        two = Run("segm_s0", threads: 2);
        Assert.Equal(one.Precision, two.Precision);
        Assert.Equal(one.Recall, two.Recall);
        Assert.Equal(one.Stats, two.Stats);
    }
}
