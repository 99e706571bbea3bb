using Soco.Data.Coco;

namespace Soco.Tests.Evaluation;

/// <summary>Reading COCO files: bad records are named with their problem; ground truth skips them, detections stop.</summary>
public class CocoDataTests
{
    const string Images = """
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b-again.jpg", "width": 10, "height": 10}],
        "categories": [{"id": 3, "name": "car"}, {"id": 17, "name": "cat"}]
        """;

    static string Write(TestPaths.TempDir tmp, string name, string json)
    {
        File.WriteAllText(tmp[name], json);
        return tmp[name];
    }

    [Fact]
    public void BadGroundTruthRecordsAreSkippedAndNamed()
    {
        using var tmp = new TestPaths.TempDir();
        string path = Write(tmp, "gt.json", "{" + Images + """
            , "annotations": [
              {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 2, 30, 40], "area": 1200, "iscrowd": 0, "segmentation": [[1, 2, 31, 2, 31, 42]]},
              {"id": 11, "image_id": 9, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
              {"id": 12, "image_id": 1, "category_id": 5, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
              {"id": 13, "image_id": 1, "category_id": 3, "bbox": [1, 2, 0, 4], "area": 0, "iscrowd": 0},
              {"id": 14, "image_id": 1, "category_id": 3, "bbox": [1, 2, NaN, 4], "area": 12, "iscrowd": 0},
              {"id": 15, "image_id": 2, "category_id": 17, "bbox": [90, 2, 30, 4], "area": 120, "iscrowd": 0},
              {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
              {"id": 16, "image_id": 2, "category_id": 17, "bbox": [0, 0, 100.5, 80.5], "iscrowd": 1}
            ]}
            """);
        var d = CocoInstancesReader.Read(path);
        Assert.Equal([1L, 2L], d.Images.Select(i => i.Id));
        Assert.Equal("b.jpg", d.ImagesById[2].FileName);    // the first listing of image 2 is kept
        Assert.Equal([3L, 17L], d.Categories.Select(c => c.Id));
        Assert.Equal([10L, 16L], d.Annotations.Select(a => a.Id));
        var a16 = d.Annotations[1];
        Assert.True(a16.IsCrowd);
        Assert.Equal(100.5 * 80.5, a16.Area);                // no area: w·h, with a note
        Assert.Contains(d.Notes, n => n.Contains("annotation #7 (id 16)") && n.Contains("no \"area\""));
        Assert.Equal([1.0, 2, 31, 2, 31, 42], Assert.Single(d.Annotations[0].Segmentation!.Polygons));
        Assert.Equal(7, d.Skipped.Count);
        void Has(string record, string problem) =>
            Assert.Contains(d.Skipped, m => m.Contains(path) && m.Contains(record) && m.Contains(problem) && m.Contains("skipped"));
        Has("image #2 (id 2, b-again.jpg)", "image id 2 is listed twice");
        Has("annotation #1 (id 11)", "names image_id 9, which is not in \"images\"");
        Has("annotation #2 (id 12)", "names category_id 5, which is not in \"categories\"");
        Has("annotation #3 (id 13)", "bbox [1, 2, 0, 4] has zero or negative size");
        Has("annotation #4 (id 14)", "\"bbox\" holds a value that is not a finite number");
        Has("annotation #5 (id 15)", "bbox [90, 2, 30, 4] lies outside image 2 (100x80)");
        Has("annotation #6 (id 10)", "annotation id 10 is used twice");
    }

    [Fact]
    public void BrokenGroundTruthFilesAreErrorsNamingTheFile()
    {
        using var tmp = new TestPaths.TempDir();
        var missing = Assert.Throws<FileNotFoundException>(() => CocoInstancesReader.Read(tmp["none.json"]));
        Assert.Contains(tmp["none.json"], missing.Message);
        string bad = Write(tmp, "bad.json", "{\"images\": [");
        Assert.Contains(bad + ": not valid JSON", Assert.Throws<InvalidDataException>(() => CocoInstancesReader.Read(bad)).Message);
        string results = Write(tmp, "results.json", "[]");
        Assert.Contains("expected a JSON object", Assert.Throws<InvalidDataException>(() => CocoInstancesReader.Read(results)).Message);
        string noCats = Write(tmp, "nocats.json", "{\"images\": [], \"annotations\": []}");
        Assert.Contains("no \"categories\" list", Assert.Throws<InvalidDataException>(() => CocoInstancesReader.Read(noCats)).Message);
    }

    static CocoDataset Truth(TestPaths.TempDir tmp) => CocoInstancesReader.Read(Write(tmp, "gt.json", "{" + Images + ", \"annotations\": []}"));

    [Theory]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}, {"image_id": 99, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]""",
                "detection #1: image_id 99 is not an image of the ground truth")]
    [InlineData("""[{"image_id": 1, "category_id": 4, "bbox": [1, 2, 3, 4], "score": 0.5}]""",
                "detection #0: category_id 4 is not a category of the ground truth")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3], "score": 0.5}]""", "detection #0: \"bbox\" must be [x, y, w, h]")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": NaN}]""", "detection #0: \"score\" must be a finite number")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, Infinity, 3, 4], "score": 0.5}]""", "detection #0: \"bbox\" holds a value that is not a finite number")]
    [InlineData("""[{"image_id": true, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]""", "detection #0: \"image_id\" must be an integer")]
    // A string image_id is a file name stem (what `soco detect` writes); "a.jpg" is no image's stem.
    [InlineData("""[{"image_id": "a.jpg", "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]""", "detection #0: image_id \"a.jpg\" is the file name stem of no image")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}]""", "detection #0: no \"score\"")]
    [InlineData("""{"annotations": []}""", "expected a list of detections")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}, {"image_id": 1""", ": not valid JSON")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}, 7]""", "detection #1: not an object")]
    public void BadDetectionsStopWithTheRecordNamed(string json, string message)
    {
        using var tmp = new TestPaths.TempDir();
        var truth = Truth(tmp);
        string path = Write(tmp, "dt.json", json);
        var e = Assert.Throws<InvalidDataException>(() => CocoResultsReader.Read(path, truth));
        Assert.Contains(path, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void DetectionsKeepFileOrderAndNoteDegenerateBoxes()
    {
        using var tmp = new TestPaths.TempDir();
        var truth = Truth(tmp);
        string path = Write(tmp, "dt.json", """
            [{"image_id": 2, "category_id": 17, "bbox": [1.5, 2, 3, 4], "score": 0.25},
             {"image_id": 1, "category_id": 3, "bbox": [1, 2, 0, 4], "score": 1}]
            """);
        var r = CocoResultsReader.Read(path, truth);
        Assert.Equal([new CocoDetection(2, 17, 1.5, 2, 3, 4, 0.25), new CocoDetection(1, 3, 1, 2, 0, 4, 1)], r.Detections);
        Assert.Single(r.Notes, n => n.Contains("detection #1 (image_id 1)") && n.Contains("zero or negative size"));
    }

    [Fact]
    public void NamedFloatsBecomeNullOutsideStringsOnly()
    {
        byte[] Run(string s) => CocoJson.NamedFloatsToNull(System.Text.Encoding.UTF8.GetBytes(s));
        Assert.Equal("[null, null, null, \"NaN \\\" Infinity\", 1]", System.Text.Encoding.UTF8.GetString(Run("[NaN, Infinity, -Infinity, \"NaN \\\" Infinity\", 1]")));
        var plain = System.Text.Encoding.UTF8.GetBytes("[1, 2]");
        Assert.Same(plain, CocoJson.NamedFloatsToNull(plain));
    }
}
