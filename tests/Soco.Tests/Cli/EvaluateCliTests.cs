using System.Text.Json;
using Soco.Cli;

namespace Soco.Tests.Cli;

/// <summary>`soco evaluate` as a user runs it: the printed COCO numbers, the metrics file, exit codes on bad input.</summary>
[Collection("cli")]
public class EvaluateCliTests
{
    static (int Code, string Text) Run(params string[] args)
    {
        var writer = new StringWriter();
        int rc = SocoCli.Run(args, writer);
        return (rc, writer.ToString());
    }

    [Fact]
    public void PrintsPycocotoolsSummaryAndWritesTheMetricsFile()
    {
        using var tmp = new TestPaths.TempDir();
        var golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("coco", "pycocotools_golden.json"))).RootElement.GetProperty("sets").GetProperty("hand");
        string metrics = Path.Combine(tmp.Path, "out", "metrics.json");
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("coco", "hand_gt.json"), "--detections", TestPaths.Fixture("coco", "hand_dt.json"), "--out", metrics);
        Assert.Equal(0, code);
        foreach (var line in golden.GetProperty("summary_lines").EnumerateArray()) Assert.Contains(line.GetString()! + Environment.NewLine, text);
        // The per-category table: Detectron2's layout, AP in percent (pycocotools' precision[:, :, k, 0, -1] means:
        // 0.7968…, 0.8076…, 0.3654…, 0.1724…), "nan" for categories without ground truth.
        Assert.Contains("| person   | 79.683 | car      | 80.764 | train      | 36.546 |", text);
        Assert.Contains("| dog      | 17.240 | zebra    | nan    | toothbrush | nan    |", text);

        var m = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement;
        string[] keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl", "per_category"];
        // The bbox numbers stay at the top level (readers of the bbox-only file) and are repeated in the "bbox" section.
        Assert.Equal([.. keys, "bbox"], m.EnumerateObject().Select(p => p.Name));
        Assert.Equal(keys, m.GetProperty("bbox").EnumerateObject().Select(p => p.Name));
        foreach (var k in keys) Assert.True(JsonElement.DeepEquals(m.GetProperty(k), m.GetProperty("bbox").GetProperty(k)), k);
        var stats = golden.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (int i = 0; i < 12; i++) Assert.Equal(stats[i], m.GetProperty(keys[i]).GetDouble(), 1e-6);
        var perCat = m.GetProperty("per_category").EnumerateArray().ToArray();
        Assert.Equal([1L, 3L, 7L, 18L, 42L, 90L], perCat.Select(c => c.GetProperty("id").GetInt64()));
        Assert.Equal("dog", perCat[3].GetProperty("name").GetString());
        Assert.Equal(0.17239613667249074, perCat[3].GetProperty("AP").GetDouble(), 1e-9);
        Assert.Equal(JsonValueKind.Null, perCat[4].GetProperty("AP").ValueKind);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(metrics)!, ".*")); // no temporary file left behind
    }

    [Fact]
    public void DetectionsForAnUnknownImageStopWithExitCode2AndNoMetrics()
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["dt.json"], """[{"image_id": 424242, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]""");
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("coco", "hand_gt.json"), "--detections", tmp["dt.json"], "--out", tmp["m.json"]);
        Assert.Equal(2, code);
        Assert.DoesNotContain("Average Precision", text);
        Assert.False(File.Exists(tmp["m.json"]));
    }

    [Fact]
    public void MissingFilesExitWithCode2()
    {
        using var tmp = new TestPaths.TempDir();
        Assert.Equal(2, Run("evaluate", "--data", tmp["none.json"], "--detections", TestPaths.Fixture("coco", "hand_dt.json")).Code);
        Assert.Equal(2, Run("evaluate", "--data", TestPaths.Fixture("coco", "hand_gt.json"), "--detections", tmp["none.json"]).Code);
    }
}
