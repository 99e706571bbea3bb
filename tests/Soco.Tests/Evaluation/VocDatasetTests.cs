using Soco.Data.Voc;
using Soco.Evaluation;

namespace Soco.Tests.Evaluation;

/// <summary>PASCAL VOC folders read into the same dataset as COCO files, then scored like them.</summary>
public class VocDatasetTests
{
    [Fact]
    public void SampleVocFolderReadsAsADataset()
    {
        var d = VocDatasetReader.Read(Path.Combine(TestPaths.Samples, "voc"));
        Assert.Empty(d.Skipped);
        Assert.Equal(["2011_000003.jpg", "2011_000006.jpg", "2011_000025.jpg"], d.Images.Select(i => i.FileName));
        Assert.Equal([1L, 2L, 3L], d.Images.Select(i => i.Id));
        // class_names.txt: 20 classes after _background_, ids 1..20 in file order ("person" is the 15th).
        Assert.Equal(20, d.Categories.Count);
        Assert.Equal(15, d.Categories.Single(c => c.Name == "person").Id);
        Assert.Equal(9, d.Annotations.Count);
        // 2011_000003's first person: xmin 191, ymin 107.369…, xmax 313 → x = 190, w = 123 (1-based pixels).
        var a = d.Annotations[0];
        Assert.Equal((1L, 15L, 190.0, 122), (a.ImageId, a.CategoryId, a.X, a.W - 1));
        Assert.Equal(a.W * a.H, a.Area);
        var c = VocDatasetReader.Read(Path.Combine(TestPaths.Samples, "voc"), VocBoxConvention.Continuous);
        Assert.Equal((191.0, 122.0), (c.Annotations[0].X, c.Annotations[0].W));
    }

    [Fact]
    public void GroundTruthAsDetectionsScoresOne()
    {
        var d = VocDatasetReader.Read(Path.Combine(TestPaths.Samples, "voc"));
        var dets = d.Annotations.Select(a => new Soco.Data.Coco.CocoDetection(a.ImageId, a.CategoryId, a.X, a.Y, a.W, a.H, 1.0)).ToList();
        var r = CocoEvaluator.Evaluate(d, dets);
        Assert.Equal(1.0, r.Stats[0], 12);
        Assert.Equal(1.0, r.Stats[1], 12);
    }

    [Fact]
    public void BadFilesAndBoxesAreSkippedAndNamed()
    {
        using var tmp = new TestPaths.TempDir();
        Directory.CreateDirectory(tmp["Annotations"]);
        File.WriteAllText(tmp["class_names.txt"], "_background_\ncat\ndog\n");
        File.WriteAllText(Path.Combine(tmp["Annotations"], "a.xml"), """
            <annotation><filename>a.jpg</filename><size><width>100</width><height>50</height></size>
              <object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>
              <object><name>bird</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>
              <object><name>dog</name><bndbox><xmin>20</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>
              <object><name>dog</name><bndbox><xmin>20</xmin><ymin>1</ymin><xmax>300</xmax><ymax>10</ymax></bndbox></object>
            </annotation>
            """);
        File.WriteAllText(Path.Combine(tmp["Annotations"], "b.xml"), "<annotation><filename>a.jpg</filename></annotation>");
        File.WriteAllText(Path.Combine(tmp["Annotations"], "c.xml"), "<annotation>");
        var d = VocDatasetReader.Read(tmp.Path);
        Assert.Single(d.Images);
        Assert.Single(d.Annotations);
        Assert.Equal(5, d.Skipped.Count);
        Assert.Contains(d.Skipped, m => m.Contains("a.xml: object #1 (bird)") && m.Contains("not in"));
        Assert.Contains(d.Skipped, m => m.Contains("a.xml: object #2 (dog)") && m.Contains("zero or negative size"));
        Assert.Contains(d.Skipped, m => m.Contains("a.xml: object #3 (dog)") && m.Contains("outside image 1 (100x50)"));
        Assert.Contains(d.Skipped, m => m.Contains("b.xml: image a.jpg is listed twice"));
        Assert.Contains(d.Skipped, m => m.Contains("c.xml: not a valid VOC annotation") && m.Contains("file skipped"));
        Assert.Throws<DirectoryNotFoundException>(() => VocDatasetReader.Read(tmp["nothing"]));
    }
}
