using System.Text.Json;
using Soco.Data.Coco;
using Soco.Evaluation;
using Soco.Structures;

namespace Soco.Tests.Evaluation;

/// <summary>
/// <c>segm</c> evaluation against pycocotools' own <c>COCOeval(iouType='segm')</c> (tools/pycocotools_segm_fixtures.py:
/// built from cocoapi's source, run on tests/fixtures/coco/segm_*.json — polygons, uncompressed-RLE crowd regions,
/// compressed RLEs, every area range, an RLE of the wrong size, an image over maxDets): the 12 stats within 1e-6, the
/// printed lines, per-category AP, precision and recall; with the detections' area from the mask (results without
/// bbox, as Detectron2 writes them) and from the box (results with bbox, pycocotools' loadRes on such a file).
/// </summary>
public class SegmEvalGoldenTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("coco", "pycocotools_segm_golden.json"))).RootElement;
    static readonly Lazy<CocoDataset> Truth = new(() => CocoInstancesReader.Read(TestPaths.Fixture("coco", "segm_gt.json")));

    static CocoEvalResult Run(string file, CocoIouType type, SegmDetectionArea area = SegmDetectionArea.Mask, int threads = 0)
    {
        var gt = Truth.Value;
        var dt = CocoResultsReader.Read(TestPaths.Fixture("coco", file + ".json"), gt);
        return CocoEvaluator.Evaluate(gt, dt.Detections, type, threads: threads, segmArea: area);
    }

    [Fact]
    public void GroundTruthReadsEveryKindOfSegmentation()
    {
        var gt = Truth.Value;
        Assert.Empty(gt.Skipped);
        var kinds = gt.Annotations.GroupBy(a => a.Segmentation!.Kind).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(kinds[CocoSegmentationKind.Polygons] > 20 && kinds[CocoSegmentationKind.CompressedRle] > 5 && kinds[CocoSegmentationKind.UncompressedRle] > 5);
        Assert.All(gt.Annotations.Where(a => a.Segmentation!.Kind == CocoSegmentationKind.UncompressedRle), a => Assert.True(a.IsCrowd));
        // The RLE whose size is not its image's is kept with a note.
        Assert.Single(gt.Notes, n => n.Contains("segmentation RLE is") && n.Contains("matches no detection"));
    }

    [Fact]
    public void MaskAreaResultsMatchPycocotools()
    {
        var g = Golden.GetProperty("segm_dt").GetProperty("segm");
        var r = Run("segm_dt", CocoIouType.Segm);
        CocoEvalGoldenTests.AssertStatsAndSummary("segm", g, r);
        CocoEvalGoldenTests.AssertPrecisionAndRecall("segm", g, r);
        // Every area range has counted ground truth.
        Assert.All(r.Stats, s => Assert.True(s > 0));
    }

    [Fact]
    public void BoxAreaResultsMatchPycocotoolsForSegmAndBbox()
    {
        var file = Golden.GetProperty("segm_dt_bbox");
        var segm = Run("segm_dt_bbox", CocoIouType.Segm, SegmDetectionArea.Box);
        CocoEvalGoldenTests.AssertStatsAndSummary("segm, box area", file.GetProperty("segm"), segm);
        CocoEvalGoldenTests.AssertPrecisionAndRecall("segm, box area", file.GetProperty("segm"), segm);
        var bbox = Run("segm_dt_bbox", CocoIouType.Bbox);
        CocoEvalGoldenTests.AssertStatsAndSummary("bbox", file.GetProperty("bbox"), bbox);
        CocoEvalGoldenTests.AssertPrecisionAndRecall("bbox", file.GetProperty("bbox"), bbox);
        // The area source matters here: the small/medium/large numbers differ between the two loadRes behaviours.
        var maskArea = Run("segm_dt_bbox", CocoIouType.Segm);
        Assert.NotEqual(maskArea.Stats[3], segm.Stats[3]);
    }

    [Fact]
    public void ResultsWithoutBboxGetTheMaskBox()
    {
        var gt = Truth.Value;
        var noBox = CocoResultsReader.Read(TestPaths.Fixture("coco", "segm_dt.json"), gt).Detections;
        var withBox = CocoResultsReader.Read(TestPaths.Fixture("coco", "segm_dt_bbox.json"), gt).Detections;
        Assert.Equal(withBox.Count, noBox.Count);
        for (int i = 0; i < noBox.Count; i++)
        {
            Assert.True(noBox[i].BoxFromMask);
            Assert.False(withBox[i].BoxFromMask);
            Assert.Equal((withBox[i].X, withBox[i].Y, withBox[i].W, withBox[i].H), (noBox[i].X, noBox[i].Y, noBox[i].W, noBox[i].H));
            Assert.Equal(withBox[i].Segmentation!.Rle, noBox[i].Segmentation!.Rle);
        }
    }

    [Fact]
    public void SegmResultDoesNotDependOnTheThreadCount()
    {
        var one = Run("segm_dt", CocoIouType.Segm, threads: 1);
        var two = Run("segm_dt", CocoIouType.Segm, threads: 2);
        Assert.Equal(one.Precision, two.Precision);
        Assert.Equal(one.Recall, two.Recall);
    }

    [Fact]
    public void SegmNeedsMasksOnBothSides()
    {
        var gt = Truth.Value;
        var dets = CocoResultsReader.Read(TestPaths.Fixture("coco", "segm_dt.json"), gt).Detections.ToList();
        dets[3] = dets[3] with { Segmentation = null };
        var e = Assert.Throws<ArgumentException>(() => CocoEvaluator.Evaluate(gt, dets, CocoIouType.Segm));
        Assert.Contains("detection #3", e.Message);
        Assert.Contains("no segmentation", e.Message);
        var boxesOnly = CocoInstancesReader.Read(TestPaths.Fixture("coco", "hand_gt.json"));
        var e2 = Assert.Throws<ArgumentException>(() => CocoEvaluator.Evaluate(boxesOnly, [], CocoIouType.Segm));
        Assert.Contains("annotation 101", e2.Message);
        Assert.Contains("no segmentation", e2.Message);
    }

    [Fact]
    public void CrowdMaskAbsorbsDetectionsInsideIt()
    {
        // One image, a crowd region (uncompressed RLE) and one object (polygon); three detections inside the crowd and
        // one on the object: all three are ignored, the object is found, AP = 1.
        var img = new CocoImage(1, "a.jpg", 60, 40);
        var crowdMask = new byte[40 * 60];
        for (int y = 0; y < 20; y++) for (int x = 0; x < 30; x++) crowdMask[y * 60 + x] = 1;
        var crowd = Rle.Encode(crowdMask, 40, 60);
        var obj = CocoSegmentation.FromPolygons([[40, 25, 55, 25, 55, 38, 40, 38]]);
        var truth = new CocoDataset("hand", [img], [new CocoCategory(1, "thing", null)],
        [
            new CocoAnnotation(1, 1, 1, 0, 0, 30, 20, 600, true, CocoSegmentation.FromRle(crowd, compressed: false)),
            new CocoAnnotation(2, 1, 1, 40, 25, 15, 13, 195, false, obj),
        ], [], []);
        CocoDetection Det(Rle m, double score) => new(1, 1, m.Box.X, m.Box.Y, m.Box.Width, m.Box.Height, score) { Segmentation = CocoSegmentation.FromRle(m) };
        var dets = new List<CocoDetection>
        {
            Det(Rle.FromBox(2, 2, 5, 5, 40, 60), 0.9), Det(Rle.FromBox(10, 5, 8, 8, 40, 60), 0.8), Det(Rle.FromBox(20, 10, 9, 9, 40, 60), 0.7),
            Det(obj.ToRle(40, 60), 0.6),
        };
        var r = CocoEvaluator.Evaluate(truth, dets, CocoIouType.Segm);
        Assert.Equal(1.0, r.Stats[0], 12);
        Assert.Equal(1.0, r.Stats[8]);
    }
}
