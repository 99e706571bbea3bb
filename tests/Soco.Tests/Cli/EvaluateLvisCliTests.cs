using System.Text.Json;
using Soco.Cli;

namespace Soco.Tests.Cli;

/// <summary>`soco evaluate` on LVIS ground truth: picked by the file's fields (or --protocol), the LVIS API's printed lines
/// and numbers (tests/fixtures/lvis, tools/lvis_fixtures.py), the metrics file, and a refusal that names the file.</summary>
[Collection("cli")]
public class EvaluateLvisCliTests
{
    static (int Code, string Text) Run(params string[] args)
    {
        var writer = new StringWriter();
        int rc = SocoCli.Run(args, writer);
        return (rc, writer.ToString());
    }

    static readonly JsonElement Hand = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("lvis", "lvis_golden.json"))).RootElement.GetProperty("sets").GetProperty("hand");

    [Fact]
    public void LvisGroundTruthGivesTheLvisApiLinesAndMetricsFile()
    {
        using var tmp = new TestPaths.TempDir();
        string metrics = tmp["m.json"];
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("lvis", "hand_gt.json"), "--detections", TestPaths.Fixture("lvis", "hand_dt.json"), "--out", metrics);
        Assert.True(code == 0, text);
        foreach (var line in Hand.GetProperty("summary_lines").EnumerateArray()) Assert.Contains(line.GetString()! + Environment.NewLine, text);
        Assert.Contains($"{Hand.GetProperty("detections_after_cap").GetInt32()} of 362 detections within 300 per image", text);
        Assert.DoesNotContain("maxDets=100 ]", text); // not the COCO summary
        var m = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement;
        Assert.Equal("lvis", m.GetProperty("protocol").GetString());
        // The bbox numbers at the top level and in the bbox section, as in the COCO metrics file.
        foreach (var r in Hand.GetProperty("results").EnumerateObject())
        {
            Assert.Equal(r.Value.GetDouble(), m.GetProperty(r.Name).GetDouble(), 1e-12);
            Assert.Equal(r.Value.GetDouble(), m.GetProperty("bbox").GetProperty(r.Name).GetDouble(), 1e-12);
        }
        Assert.False(m.TryGetProperty("segm", out _));
        var perCat = m.GetProperty("per_category").EnumerateArray().ToArray();
        Assert.Equal(9, perCat.Length);
        Assert.Equal("r", perCat[8].GetProperty("frequency").GetString());
        Assert.Equal(JsonValueKind.Null, perCat[8].GetProperty("AP").ValueKind); // category 9: negatives only
    }

    [Fact]
    public void MaskResultsOnLvisGroundTruthGiveTheLvisApiSegmNumbers()
    {
        using var tmp = new TestPaths.TempDir();
        var segm = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("lvis", "lvis_golden.json"))).RootElement.GetProperty("sets").GetProperty("segm_s0");
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("lvis", "segm_s0_gt.json"), "--detections", TestPaths.Fixture("lvis", "segm_s0_dt.json"), "--out", tmp["m.json"]);
        Assert.True(code == 0, text);
        Assert.Contains("LVIS federated evaluation (segm;", text);
        foreach (var line in segm.GetProperty("summary_lines").EnumerateArray()) Assert.Contains(line.GetString()! + Environment.NewLine, text);
        var m = JsonDocument.Parse(File.ReadAllText(tmp["m.json"])).RootElement;
        Assert.False(m.TryGetProperty("AP", out _)); // results without bbox: no box evaluation, nothing at the top level
        foreach (var r in segm.GetProperty("results").EnumerateObject())
            Assert.Equal(r.Value.GetDouble(), m.GetProperty("segm").GetProperty(r.Name).GetDouble(), 1e-12);
    }

    [Fact]
    public void ProtocolCocoOnLvisDataGivesCocoNumbersAndProtocolLvisOnCocoDataIsRefused()
    {
        var (code, text) = Run("evaluate", "--data", TestPaths.Fixture("lvis", "hand_gt.json"), "--detections", TestPaths.Fixture("lvis", "hand_dt.json"), "--protocol", "coco");
        Assert.True(code == 0, text);
        Assert.Contains("maxDets=100 ]", text);
        Assert.DoesNotContain("catIds=", text);
        string coco = TestPaths.Fixture("coco", "hand_gt.json");
        (code, text) = Run("evaluate", "--data", coco, "--detections", TestPaths.Fixture("coco", "hand_dt.json"), "--protocol", "lvis");
        Assert.Equal(2, code);
        Assert.Contains(coco, text);
        Assert.Contains("not an LVIS-format file", text);
    }
}
