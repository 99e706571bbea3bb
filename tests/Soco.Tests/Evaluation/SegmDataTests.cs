using Soco.Data.Coco;
using Soco.Structures;

namespace Soco.Tests.Evaluation;

/// <summary>Reading COCO segmentations: polygons, uncompressed and compressed RLE become masks; a bad one skips its
/// ground-truth record with a message naming it, and stops a results file at the record.</summary>
public class SegmDataTests
{
    const string Head = """
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 12, "height": 10}],
         "categories": [{"id": 3, "name": "car"}],
         "annotations": [
        """;

    static string Ann(int id, string seg) => $$"""{"id": {{id}}, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0, "segmentation": {{seg}}}""";

    static CocoDataset Read(TestPaths.TempDir tmp, params string[] anns)
    {
        File.WriteAllText(tmp["gt.json"], Head + string.Join(",\n", anns) + "]}");
        return CocoInstancesReader.Read(tmp["gt.json"]);
    }

    [Fact]
    public void EveryFormGivesTheSameMask()
    {
        using var tmp = new TestPaths.TempDir();
        // One 4x4 square at x 1..4, y 1..4 on a 10x12 (h x w) image, written four ways.
        var square = new byte[10 * 12];
        for (int y = 1; y < 5; y++) for (int x = 1; x < 5; x++) square[y * 12 + x] = 1;
        var rle = Rle.Encode(square, 10, 12);
        string uncompressed = "{\"size\": [10, 12], \"counts\": [" + string.Join(", ", rle.Counts.ToArray()) + "]}";
        string compressed = "{\"size\": [10, 12], \"counts\": \"" + rle.ToCountsString() + "\"}";
        var d = Read(tmp, Ann(1, "[[1, 1, 5, 1, 5, 5, 1, 5]]"), Ann(2, uncompressed), Ann(3, compressed), Ann(4, "[[1, 1, 4, 4]]"), Ann(5, "[]"), Ann(6, "null"));
        Assert.Empty(d.Skipped);
        var kinds = d.Annotations.Select(a => a.Segmentation?.Kind).ToArray();
        Assert.Equal(new CocoSegmentationKind?[] { CocoSegmentationKind.Polygons, CocoSegmentationKind.UncompressedRle, CocoSegmentationKind.CompressedRle, CocoSegmentationKind.Polygons, null, null }, kinds);
        for (int i = 0; i < 4; i++) Assert.Equal(rle, d.Annotations[i].Segmentation!.ToRle(10, 12));
        // A list whose first polygon has 4 numbers is read as boxes [x, y, w, h], as pycocotools reads it.
        Assert.True(d.Annotations[3].Segmentation!.PolygonsReadAsBoxes);
    }

    [Fact]
    public void BadSegmentationsSkipTheirRecordWithTheReason()
    {
        using var tmp = new TestPaths.TempDir();
        var d = Read(tmp,
            Ann(1, "[[1, 1, 5, 1, 5, 5, 1, 5]]"),
            Ann(2, "[[1, 1]]"),
            Ann(3, "[[1, 1, 5, 1, 5, null, 1, 5]]"),
            Ann(4, "{\"size\": [10, 12], \"counts\": [5, 6]}"),
            Ann(5, "{\"size\": [10, 12], \"counts\": \"0!\"}"),
            Ann(6, "{\"counts\": \"08\"}"),
            Ann(7, "\"polygon\""),
            Ann(8, "[{\"size\": [10, 12], \"counts\": [120]}]"),
            Ann(9, "[[1, 1, 4, 4], [1, 1, 5, 1, 5, 5]]"),
            Ann(10, "{\"size\": [10, -12], \"counts\": []}"));
        Assert.Equal([1L], d.Annotations.Select(a => a.Id));
        Assert.Equal(9, d.Skipped.Count);
        void Has(int id, string problem) =>
            Assert.Contains(d.Skipped, m => m.Contains(tmp["gt.json"]) && m.Contains($"(id {id})") && m.Contains(problem) && m.Contains("skipped"));
        Has(2, "polygon #0 has 2 coordinates");
        Has(3, "not a finite number");
        Has(4, "add up to 11, not h·w = 10·12 = 120");
        Has(5, "has '!' at character 1");
        Has(6, "no \"size\"");
        Has(7, "must be a list of polygons or an RLE");
        Has(8, "a list of RLE objects");
        Has(9, "reads the list as boxes");
        Has(10, "two non-negative integers");
    }

    [Fact]
    public void RleOfAnotherSizeIsKeptWithANote()
    {
        using var tmp = new TestPaths.TempDir();
        var d = Read(tmp, Ann(1, "{\"size\": [12, 10], \"counts\": [120]}"));
        Assert.Single(d.Annotations);
        Assert.Contains(d.Notes, n => n.Contains("(id 1)") && n.Contains("RLE is 12x10") && n.Contains("image 1 is 10x12"));
    }

    [Fact]
    public void ResultsReadMasksAndBadOnesStopTheRead()
    {
        using var tmp = new TestPaths.TempDir();
        var truth = Read(tmp, Ann(1, "[[1, 1, 5, 1, 5, 5, 1, 5]]"));
        File.WriteAllText(tmp["dt.json"], """
            [{"image_id": 1, "category_id": 3, "segmentation": [[2, 2, 6, 2, 6, 7, 2, 7]], "score": 0.5},
             {"image_id": 1, "category_id": 3, "bbox": [0, 0, 3, 3], "segmentation": {"size": [10, 12], "counts": "0:^3"}, "score": 0.4},
             {"image_id": 1, "category_id": 3, "bbox": [0, 0, 3, 3], "score": 0.3}]
            """);
        var r = CocoResultsReader.Read(tmp["dt.json"], truth).Detections;
        // No bbox: the mask's box (pycocotools' toBbox); the polygon is rasterised at the image's size.
        Assert.True(r[0].BoxFromMask);
        Assert.Equal((2.0, 2.0, 4.0, 5.0), (r[0].X, r[0].Y, r[0].W, r[0].H));
        Assert.Equal(20, r[0].Segmentation!.ToRle(10, 12).Area);
        Assert.False(r[1].BoxFromMask);
        Assert.Equal(CocoSegmentationKind.CompressedRle, r[1].Segmentation!.Kind);
        Assert.Equal(new uint[] { 0, 10, 110 }, r[1].Segmentation!.Rle!.Counts.ToArray());
        Assert.Null(r[2].Segmentation);

        foreach (var (json, problem) in new[]
        {
            ("""[{"image_id": 1, "category_id": 3, "segmentation": {"size": [10, 12], "counts": "0:"}, "score": 0.5}]""", "detection #0: compressed RLE counts add up to 10"),
            ("""[{"image_id": 1, "category_id": 3, "segmentation": 7, "score": 0.5}]""", "detection #0: \"segmentation\" must be a list of polygons or an RLE"),
            ("""[{"image_id": 1, "category_id": 3, "score": 0.5}]""", "detection #0: no \"bbox\" (and no \"segmentation\")"),
            ("""[{"image_id": 1, "category_id": 3, "segmentation": [], "score": 0.5}]""", "detection #0: no \"bbox\" (and no \"segmentation\")"),
        })
        {
            File.WriteAllText(tmp["bad.json"], json);
            var e = Assert.Throws<InvalidDataException>(() => CocoResultsReader.Read(tmp["bad.json"], truth));
            Assert.Contains(tmp["bad.json"], e.Message);
            Assert.Contains(problem, e.Message);
        }
    }

    [Fact]
    public void WriteToGivesCocoJsonThatReadsBack()
    {
        var rle = Rle.FromPolygon([1.5, 1, 9, 2, 5, 8], 10, 12);
        foreach (var seg in new[] { CocoSegmentation.FromRle(rle), CocoSegmentation.FromRle(rle, compressed: false), CocoSegmentation.FromPolygons([[1.5, 1, 9, 2, 5, 8]]) })
        {
            var buffer = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(buffer)) seg.WriteTo(w);
            using var doc = System.Text.Json.JsonDocument.Parse(buffer.ToArray());
            Assert.True(CocoSegmentation.TryRead(doc.RootElement, out var back, out string? err), err);
            Assert.Equal(seg.Kind, back!.Kind);
            Assert.Equal(rle, back.ToRle(10, 12));
        }
    }
}
