using System.Text.Json;
using Soco.Data.Coco;
using Soco.Evaluation;

namespace Soco.Tests.Evaluation;

/// <summary>
/// Our COCOeval against pycocotools' own (tools/pycocotools_fixtures.py: built from cocoapi's source, run on the
/// committed sets in tests/fixtures/coco): the 12 stats, the printed summary, per-category AP, precision per
/// (IoU, category, area, maxDets) averaged over recall points, and recall.
/// </summary>
public class CocoEvalGoldenTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("coco", "pycocotools_golden.json"))).RootElement.GetProperty("sets");

    public static TheoryData<string> Sets() => new() { "hand", "random_s0", "random_s1", "random_s2" };

    internal static CocoEvalResult Run(string set, int threads = 0)
    {
        var gt = CocoInstancesReader.Read(TestPaths.Fixture("coco", set + "_gt.json"));
        Assert.Empty(gt.Skipped);
        var dt = CocoResultsReader.Read(TestPaths.Fixture("coco", set + "_dt.json"), gt);
        return CocoEvaluator.Evaluate(gt, dt.Detections, threads: threads);
    }

    [Theory]
    [MemberData(nameof(Sets))]
    public void TwelveStatsAndSummaryLinesMatchPycocotools(string set) => AssertStatsAndSummary(set, Golden.GetProperty(set), Run(set));

    [Theory]
    [MemberData(nameof(Sets))]
    public void PerCategoryPrecisionAndRecallMatchPycocotools(string set) => AssertPrecisionAndRecall(set, Golden.GetProperty(set), Run(set));

    /// <summary>The 12 stats (within 1e-6) and the printed lines of one golden record of tools/pycocotools_fixtures.py's evaluate().</summary>
    internal static void AssertStatsAndSummary(string set, JsonElement g, CocoEvalResult r)
    {
        var stats = g.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        Assert.Equal(12, r.Stats.Length);
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(stats[i] - r.Stats[i]) <= 1e-6, $"{set} {CocoEvalResult.StatNames[i]}: ours {r.Stats[i]:R}, pycocotools {stats[i]:R}");
        Assert.Equal(g.GetProperty("summary_lines").EnumerateArray().Select(x => x.GetString()!).ToArray(), r.SummaryLines.ToArray());
    }

    /// <summary>Per-category AP, precision averaged over recall points and recall of one golden record.</summary>
    internal static void AssertPrecisionAndRecall(string set, JsonElement g, CocoEvalResult r)
    {
        var shape = g.GetProperty("precision_shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal([r.Params.IouThresholds.Length, r.Params.RecallThresholds.Length, r.CategoryIds.Length, r.Params.AreaRanges.Length, r.Params.MaxDets.Length], shape);
        var perCat = g.GetProperty("per_category_ap").EnumerateArray().ToArray();
        Assert.Equal(perCat.Select(c => c.GetProperty("id").GetInt64()), r.CategoryIds);
        for (int k = 0; k < perCat.Length; k++)
        {
            var ap = perCat[k].GetProperty("ap");
            if (ap.ValueKind == JsonValueKind.Null) Assert.True(double.IsNaN(r.PerCategoryAp[k]), $"{set} category {r.CategoryIds[k]} has no ground truth");
            else Assert.Equal(ap.GetDouble(), r.PerCategoryAp[k], 1e-9);
        }
        var pm = g.GetProperty("precision_mean_over_recall");
        var rec = g.GetProperty("recall");
        int T = shape[0], R = shape[1], K = shape[2], A = shape[3], M = shape[4];
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++)
                for (int a = 0; a < A; a++)
                    for (int m = 0; m < M; m++)
                    {
                        double sum = 0;
                        bool absent = true;
                        for (int q = 0; q < R; q++) { double v = r.PrecisionAt(t, q, k, a, m); sum += v; absent &= v == -1; }
                        double ours = absent ? -1 : sum / R;
                        double expP = pm[t][k][a][m].GetDouble(), expR = rec[t][k][a][m].GetDouble();
                        Assert.True(Math.Abs(ours - expP) <= 1e-9, $"{set} precision t{t} k{k} a{a} m{m}: ours {ours:R}, pycocotools {expP:R}");
                        Assert.True(Math.Abs(r.RecallAt(t, k, a, m) - expR) <= 1e-12, $"{set} recall t{t} k{k} a{a} m{m}: ours {r.RecallAt(t, k, a, m):R}, pycocotools {expR:R}");
                    }
    }

    [Fact]
    public void ResultDoesNotDependOnTheThreadCount()
    {
        var one = Run("random_s1", threads: 1);
        var two = Run("random_s1", threads: 2);
        Assert.Equal(one.Precision, two.Precision);
        Assert.Equal(one.Recall, two.Recall);
        Assert.Equal(one.Stats, two.Stats);
    }
}
