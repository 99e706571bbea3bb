using System.Text.Json;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Evaluation;

namespace Soco.Tests.Evaluation;

/// <summary>
/// The federated rules one at a time, on small hand-made LVIS files whose answer is known from the rule itself
/// (docs/lvis.md §Evaluation), and the reader's handling of LVIS's fields.
/// </summary>
public class LvisRulesTests
{
    /// <summary>Two images, categories 1 (f) and 2 (r); image 1 holds one object of 1, image 2 one object of 2.</summary>
    static string Truth(string neg1 = "[]", string nel1 = "[]", string extraAnn = "") => $$"""
        {"images": [
           {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480, "neg_category_ids": {{neg1}}, "not_exhaustive_category_ids": {{nel1}}},
           {"id": 2, "file_name": "b.jpg", "width": 640, "height": 480, "neg_category_ids": [], "not_exhaustive_category_ids": []}],
         "categories": [{"id": 1, "name": "cup", "frequency": "f", "image_count": 300}, {"id": 2, "name": "yak", "frequency": "r", "image_count": 2}],
         "annotations": [
           {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 100], "area": 10000}{{extraAnn}},
           {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 50, 200, 100], "area": 20000}]}
        """;

    const string Perfect = """{"image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 100], "score": 0.5}, {"image_id": 2, "category_id": 2, "bbox": [50, 50, 200, 100], "score": 0.5}""";

    static LvisEvalResult Eval(TestPaths.TempDir tmp, string truth, string dets)
    {
        File.WriteAllText(tmp["gt.json"], truth);
        File.WriteAllText(tmp["dt.json"], "[" + dets + "]");
        var gt = LvisReader.Read(tmp["gt.json"]);
        return LvisEvaluator.Evaluate(gt, CocoResultsReader.Read(tmp["dt.json"], gt.Coco).Detections);
    }

    static double Stat(LvisEvalResult r, string name) => r.Stats[Array.IndexOf(r.Names, name)];

    [Fact]
    public void ADetectionOfAnUnverifiedCategoryIsDroppedAndOfANegativeOneIsAFalsePositive()
    {
        using var tmp = new TestPaths.TempDir();
        // A confident detection of category 2 on image 1, where 2 is neither present nor negative: not scored.
        const string stray = """, {"image_id": 1, "category_id": 2, "bbox": [300, 300, 50, 50], "score": 0.9}""";
        var clean = Eval(tmp, Truth(), Perfect);
        Assert.Equal(1.0, Stat(clean, "AP"), 12);
        var unverified = Eval(tmp, Truth(), Perfect + stray);
        Assert.Equal(clean.Stats, unverified.Stats);
        Assert.Equal(2, unverified.DetectionsScored);
        // The same detection where 2 is verified absent: it ranks first and is wrong, so category 2's precision at
        // every recall point is 1/2 (the envelope), AP over the two categories (1 + 0.5) / 2.
        var negative = Eval(tmp, Truth(neg1: "[2]"), Perfect + stray);
        Assert.Equal(0.5, Stat(negative, "APr"), 12);
        Assert.Equal(1.0, Stat(negative, "APf"), 12);
        Assert.Equal(0.75, Stat(negative, "AP"), 12);
        Assert.Equal(-1, Stat(negative, "APc")); // no common category
    }

    [Fact]
    public void UnmatchedDetectionsOfANotExhaustiveCategoryAreIgnored()
    {
        using var tmp = new TestPaths.TempDir();
        const string extra = """, {"image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 0.9}""";
        var exhaustive = Eval(tmp, Truth(), Perfect + extra);
        Assert.Equal(0.5, Stat(exhaustive, "APf"), 12);
        var notExhaustive = Eval(tmp, Truth(nel1: "[1]"), Perfect + extra);
        Assert.Equal(1.0, Stat(notExhaustive, "APf"), 12);
        // ... but a missed object of it still counts: recall drops without the matching detection.
        var missed = Eval(tmp, Truth(nel1: "[1]"), Perfect[(Perfect.IndexOf("}, ", StringComparison.Ordinal) + 3)..] + extra);
        Assert.Equal(0, Stat(missed, "APf"), 12);
    }

    [Fact]
    public void ACrowdMarkedAnnotationIsAnOrdinaryObject()
    {
        using var tmp = new TestPaths.TempDir();
        // COCO would ignore a detection inside a crowd region; LVIS has no crowd: the object must be found.
        const string crowd = """, {"id": 3, "image_id": 1, "category_id": 1, "bbox": [300, 300, 100, 100], "area": 10000, "iscrowd": 1}""";
        var r = Eval(tmp, Truth(extraAnn: crowd), Perfect);
        // Category 1: one of its two objects found (recall 0.5; precision 1 up to recall 0.50 = 51 of 101 recall
        // points); category 2: found. COCO would ignore the crowd region and give category 1 recall 1.
        Assert.Equal(51.0 / 101, Stat(r, "APf"), 12);
        Assert.Equal(0.75, Stat(r, "AR@300"), 12);
    }

    [Fact]
    public void ThePerImageCapChangesTheHandSet()
    {
        // Without the cap the hand set's image 6 keeps a true positive ranked 321st: the numbers move. Shows the
        // fixture exercises the cap (the golden test checks the capped numbers against the LVIS API).
        var (gt, dt) = LvisEvalGoldenTests.Load("hand");
        var capped = LvisEvaluator.Evaluate(gt, dt.Detections);
        var uncapped = LvisEvaluator.Evaluate(gt, dt.Detections, new CocoEvalParams { MaxDets = [100000] });
        Assert.NotEqual(capped.Stats[Array.IndexOf(capped.Names, "APc")], uncapped.Stats[Array.IndexOf(uncapped.Names, "APc")]);
        Assert.Equal(dt.Detections.Count, uncapped.DetectionsAfterCap);
        Assert.True(capped.DetectionsAfterCap < dt.Detections.Count);
    }

    [Fact]
    public void TheReaderKeepsLvisFieldsAndNotesWhatIsMissing()
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["gt.json"], """
            {"images": [{"id": 1, "coco_url": "http://images.cocodataset.org/train2017/000000000001.jpg", "neg_category_ids": [2], "not_exhaustive_category_ids": [1]},
                        {"id": 2, "file_name": "b.jpg", "coco_url": "http://images.cocodataset.org/val2017/000000000002.jpg", "neg_category_ids": "none"}],
             "categories": [{"id": 1, "name": "cup", "frequency": "f", "image_count": 300}, {"id": 2, "name": "yak"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "ignore": 1},
                             {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25}]}
            """);
        var gt = LvisReader.Read(tmp["gt.json"]);
        // LVIS v1 has no file_name: the file is the coco_url's split folder and name, under COCO's image root.
        Assert.Equal("train2017/000000000001.jpg", gt.Coco.ImagesById[1].FileName);
        Assert.Equal("b.jpg", gt.Coco.ImagesById[2].FileName);
        Assert.Equal([2L], gt.NegativeCategories[1]);
        Assert.Equal([1L], gt.NotExhaustiveCategories[1]);
        Assert.Empty(gt.NegativeCategories[2]);
        Assert.Equal(LvisFrequency.Frequent, gt.Frequencies[1]);
        Assert.Equal(LvisFrequency.Unknown, gt.Frequencies[2]);
        Assert.Equal(300, gt.ImageCounts[1]);
        Assert.Equal([1L], gt.IgnoredAnnotations);
        Assert.Contains(gt.Notes, n => n.Contains("image #1 (id 2)") && n.Contains("\"neg_category_ids\" \"none\" is not a list"));
        Assert.Contains(gt.Notes, n => n.Contains("image #1 (id 2)") && n.Contains("no \"not_exhaustive_category_ids\""));
        Assert.Contains(gt.Notes, n => n.Contains("category #1 (id 2, yak)") && n.Contains("\"frequency\" missing"));
    }

    [Fact]
    public void TheProtocolIsChosenByTheFileOrRefusedWhenItDoesNotFit()
    {
        string coco = TestPaths.Fixture("coco", "hand_gt.json"), lvis = TestPaths.Fixture("lvis", "hand_gt.json");
        LvisReader.ReadGroundTruth(coco, "auto", out var none);
        Assert.Null(none);
        LvisReader.ReadGroundTruth(lvis, "auto", out var found);
        Assert.NotNull(found);
        LvisReader.ReadGroundTruth(lvis, "coco", out var forced);
        Assert.Null(forced);
        var e = Assert.Throws<InvalidDataException>(() => LvisReader.ReadGroundTruth(coco, "lvis", out _));
        Assert.Contains(coco, e.Message);
        Assert.Contains("not an LVIS-format file", e.Message);
    }
}
