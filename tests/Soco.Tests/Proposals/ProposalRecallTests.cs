using System.Text.Json;
using Soco.Data.Voc;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>
/// Recall on ground truth (samples/voc): the best IoU of each VOC box among our proposals equals what the reference
/// implementations give (tools/voc_recall_fixtures.py: OpenCV 4.6 Fast/Quality, SoCo's own Python).
/// </summary>
public class ProposalRecallTests
{
    static readonly JsonElement Reference = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("recall", "voc_recall.json"))).RootElement;

    public static TheoryData<string> Images() => new() { "2011_000003", "2011_000006", "2011_000025" };

    [Theory]
    [MemberData(nameof(Images))]
    public void BestIouPerGroundTruthBoxMatchesTheReferences(string name)
    {
        var ann = VocAnnotation.Read(Path.Combine(TestPaths.Samples, "voc", "Annotations", name + ".xml"));
        var img = ImageDecoder.Decode(Path.Combine(TestPaths.Samples, "voc", "JPEGImages", ann.FileName));
        var r = Reference.GetProperty(name);
        Assert.Equal(r.GetProperty("gt").GetArrayLength(), ann.Boxes.Count);

        var soco = ProposalModes.Create("soco").Generate(img);
        var fast = ProposalModes.Create("fast").Generate(img);
        var quality = ProposalModes.Create("quality").Generate(img);
        AssertBest(r, "soco", ProposalRecall.BestIou(ann.Boxes, soco, "soco"), soco.Length, exact: true);
        var filtered = ProposalFilter.Released.Apply(soco, img.Width, img.Height);
        AssertBest(r, "soco_ratio3size0308post", ProposalRecall.BestIou(ann.Boxes, filtered, "soco"), filtered.Length, exact: true);
        AssertBest(r, "fast", ProposalRecall.BestIou(ann.Boxes, fast, "opencv"), fast.Length, exact: true);
        // Quality's box set agrees with OpenCV's to ≥ 0.99 Jaccard (ties among equal similarities), so its count may
        // differ; the best IoU of each ground-truth box must still equal the reference's, as README states.
        AssertBest(r, "quality", ProposalRecall.BestIou(ann.Boxes, quality, "opencv"), quality.Length, exact: false);
    }

    static void AssertBest(JsonElement reference, string impl, double[] ours, int count, bool exact)
    {
        var e = reference.GetProperty(impl);
        var expected = e.GetProperty("best_iou").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        if (exact) Assert.Equal(e.GetProperty("count").GetInt32(), count);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - ours[i]) <= 1e-9, $"{impl} box {i}: best IoU {ours[i]:F6}, the reference's {expected[i]:F6}");
    }

    [Fact]
    public void IouOfExtents()
    {
        Assert.Equal(1.0, ProposalRecall.Iou((0, 0, 10, 10), (0, 0, 10, 10)));
        Assert.Equal(0.0, ProposalRecall.Iou((0, 0, 10, 10), (10, 0, 20, 10)));
        Assert.Equal(50.0 / 150.0, ProposalRecall.Iou((0, 0, 10, 10), (5, 0, 15, 10)), 12);
        // SoCo's rect [0, 0, 9, 9] (w = max − min) covers 10 pixels; OpenCV's [0, 0, 10, 10] covers the same ones.
        Assert.Equal(ProposalRecall.Extent(new ProposalRect(0, 0, 9, 9), "soco"), ProposalRecall.Extent(new ProposalRect(0, 0, 10, 10), "opencv"));
    }

    [Fact]
    public void MalformedAnnotationIsAClearError()
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["a.xml"], "<annotation><filename>x.jpg</filename><object><bndbox><xmin>1</xmin></bndbox></object></annotation>");
        var e = Assert.Throws<FormatException>(() => VocAnnotation.Read(tmp["a.xml"]));
        Assert.Contains("ymin", e.Message);
        File.WriteAllText(tmp["b.xml"], "<annotation>");
        Assert.Contains("b.xml", Assert.Throws<FormatException>(() => VocAnnotation.Read(tmp["b.xml"])).Message);
    }
}
