using System.Text.Json;
using Soco.Cli;

namespace Soco.Tests.Cli;

/// <summary>`soco evaluate` on masks: --iou-type and its default, the printed tables per type, the metrics file's
/// bbox / segm sections against pycocotools (tests/fixtures/coco/pycocotools_segm_golden.json), bad combinations.</summary>
[Collection("cli")]
public class EvaluateSegmCliTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("coco", "pycocotools_segm_golden.json"))).RootElement;
    static readonly string Gt = TestPaths.Fixture("coco", "segm_gt.json");
    static readonly string[] Keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

    static (int Code, string Text) Run(params string[] args)
    {
        var writer = new StringWriter();
        int rc = SocoCli.Run(args, writer);
        return (rc, writer.ToString());
    }

    static void AssertSection(JsonElement section, JsonElement golden)
    {
        Assert.Equal([.. Keys, "per_category"], section.EnumerateObject().Select(p => p.Name));
        var stats = golden.GetProperty("stats").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (int i = 0; i < 12; i++) Assert.Equal(stats[i], section.GetProperty(Keys[i]).GetDouble(), 1e-6);
        var perCat = golden.GetProperty("per_category_ap").EnumerateArray().ToArray();
        var ours = section.GetProperty("per_category").EnumerateArray().ToArray();
        Assert.Equal(perCat.Select(c => c.GetProperty("id").GetInt64()), ours.Select(c => c.GetProperty("id").GetInt64()));
        for (int k = 0; k < perCat.Length; k++)
            if (perCat[k].GetProperty("ap").ValueKind == JsonValueKind.Null) Assert.Equal(JsonValueKind.Null, ours[k].GetProperty("AP").ValueKind);
            else Assert.Equal(perCat[k].GetProperty("ap").GetDouble(), ours[k].GetProperty("AP").GetDouble(), 1e-9);
    }

    [Fact]
    public void BoxesAndMasksGiveBothSectionsByDefault()
    {
        using var tmp = new TestPaths.TempDir();
        var (code, text) = Run("evaluate", "--data", Gt, "--detections", TestPaths.Fixture("coco", "segm_dt_bbox.json"), "--out", tmp["m.json"]);
        Assert.Equal(0, code);
        // Both tables, bbox first, each with pycocotools' lines. The segm area comes from the masks by default, so the
        // segm numbers are those of the same masks without bbox.
        var bbox = Golden.GetProperty("segm_dt_bbox").GetProperty("bbox");
        var segm = Golden.GetProperty("segm_dt").GetProperty("segm");
        int b = text.IndexOf("IoU type bbox:", StringComparison.Ordinal), s = text.IndexOf("IoU type segm:", StringComparison.Ordinal);
        Assert.True(b >= 0 && s > b, text);
        foreach (var line in bbox.GetProperty("summary_lines").EnumerateArray()) Assert.Contains(line.GetString()!, text[b..s]);
        foreach (var line in segm.GetProperty("summary_lines").EnumerateArray()) Assert.Contains(line.GetString()!, text[s..]);
        Assert.Contains("Per-category segm AP", text);

        var m = JsonDocument.Parse(File.ReadAllText(tmp["m.json"])).RootElement;
        Assert.Equal([.. Keys, "per_category", "bbox", "segm"], m.EnumerateObject().Select(p => p.Name));
        AssertSection(m.GetProperty("bbox"), bbox);
        AssertSection(m.GetProperty("segm"), segm);
        for (int i = 0; i < 12; i++) Assert.Equal(m.GetProperty("bbox").GetProperty(Keys[i]).GetDouble(), m.GetProperty(Keys[i]).GetDouble());
    }

    [Fact]
    public void SegmAreaBoxReproducesLoadResOnAFileWithBoxes()
    {
        using var tmp = new TestPaths.TempDir();
        var (code, _) = Run("evaluate", "--data", Gt, "--detections", TestPaths.Fixture("coco", "segm_dt_bbox.json"), "--iou-type", "segm", "--segm-area", "box", "--out", tmp["m.json"]);
        Assert.Equal(0, code);
        var m = JsonDocument.Parse(File.ReadAllText(tmp["m.json"])).RootElement;
        Assert.Equal(["segm"], m.EnumerateObject().Select(p => p.Name));
        AssertSection(m.GetProperty("segm"), Golden.GetProperty("segm_dt_bbox").GetProperty("segm"));
    }

    [Fact]
    public void MasksWithoutBoxesGiveSegmOnly()
    {
        using var tmp = new TestPaths.TempDir();
        var (code, text) = Run("evaluate", "--data", Gt, "--detections", TestPaths.Fixture("coco", "segm_dt.json"), "--out", tmp["m.json"]);
        Assert.Equal(0, code);
        Assert.DoesNotContain("IoU type bbox", text);
        var m = JsonDocument.Parse(File.ReadAllText(tmp["m.json"])).RootElement;
        Assert.Equal(["segm"], m.EnumerateObject().Select(p => p.Name));
        AssertSection(m.GetProperty("segm"), Golden.GetProperty("segm_dt").GetProperty("segm"));
        // Asking for bbox on results without boxes is refused, naming the first.
        var (code2, text2) = Run("evaluate", "--data", Gt, "--detections", TestPaths.Fixture("coco", "segm_dt.json"), "--iou-type", "bbox,segm");
        Assert.Equal(2, code2);
        Assert.Contains("have no \"bbox\" (the first: detection #0)", text2);
    }

    [Fact]
    public void SegmOnBoxOnlyDataIsAClearError()
    {
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("coco", "hand_gt.json"), "--detections", TestPaths.Fixture("coco", "hand_dt.json"), "--iou-type", "segm");
        Assert.Equal(2, code);
        Assert.Contains("has no segmentation", text);
        var (code2, text2) = Run("evaluate", "--data", Gt, "--detections", TestPaths.Fixture("coco", "segm_dt.json"), "--iou-type", "mask");
        Assert.Equal(2, code2);
        Assert.Contains("--iou-type: unknown type \"mask\"", text2);
    }
}
