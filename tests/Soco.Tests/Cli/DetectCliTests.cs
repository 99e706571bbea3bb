using System.Collections;
using System.Text.Json;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Tests.Detection;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Cli;

/// <summary>
/// The detector commands as a user runs them: `soco import` of a torchvision <c>fasterrcnn_resnet50_fpn_v2</c> /
/// <c>maskrcnn_resnet50_fpn_v2</c> state_dict, `soco detect` against torchvision's own detections, `soco evaluate
/// --checkpoint` against `soco evaluate --detections` on detect's output, string image ids, and bad input. Fixtures:
/// tests/fixtures/detection/detcli, written by tools/detect_cli_fixtures.py (torchvision 0.14, a ResNet-50-layout
/// model at stem width 2, FPN 16, 5 classes, short side 128 / max 200).
/// </summary>
[Collection("torch")]
public class DetectCliTests
{
    readonly ITestOutputHelper log;

    public DetectCliTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    static string Fx(string name) => TestPaths.Fixture("detection", "detcli", name);
    static string VocImages => TestPaths.VocImages;

    /// <summary>Imports the fixture's Faster R-CNN state dict at torchvision's transform sizes of the fixture.</summary>
    static string Import(TestPaths.TempDir dir, string file = "fasterrcnn_v2_tiny.pth")
    {
        string model = dir[Path.GetFileNameWithoutExtension(file) + ".model.pth"];
        Ok("import", "--from", Fx(file), "--out", model, "--min-size", "128", "--max-size", "200");
        return model;
    }

    sealed record Result(string ImageId, long Category, double[] Bbox, double Score);

    static List<Result> ReadResults(string path) =>
        JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray().Select(e => new Result(
            e.GetProperty("image_id").GetString()!, e.GetProperty("category_id").GetInt64(),
            e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray(), e.GetProperty("score").GetDouble())).ToList();

    [Fact]
    public void ImportedTorchvisionModelDetectsAsTorchvision()
    {
        using var dir = new TestPaths.TempDir();
        string model = Import(dir);
        // A folder of the two photos: one results file, image_id = file name without extension.
        string photos = dir["photos"];
        Directory.CreateDirectory(photos);
        foreach (var f in new[] { "dog.png", "horses.png" }) File.Copy(Fx(f), Path.Combine(photos, f));
        string results = dir["results.json"];
        Ok("detect", "--checkpoint", model, "--image", photos, "--out", results);
        var all = ReadResults(results);

        using var golden = new Golden(Fx("golden.pt"));
        string[] stems = ["dog", "horses"];
        for (int i = 0; i < 2; i++)
        {
            var ours = all.Where(r => r.ImageId == stems[i]).ToList();
            var boxes = golden[$"boxes.{i}"].data<float>().ToArray();
            var scores = golden[$"scores.{i}"].data<float>().ToArray();
            var labels = golden[$"labels.{i}"].data<long>().ToArray();
            // Every detection: the image is decoded from a PNG (the same pixels torchvision read), the transform is
            // bit-identical (docs/detection-parts.md §Transform) and this well-conditioned tiny model keeps float32
            // summation-order differences far below the gaps between neighbouring scores. Where torchvision gives
            // several detections exactly the same float32 score (boxes whose pooled features are identical, e.g. in the
            // zero padding), their order is the order of the proposals, which a tie in the RPN's top-k decides; there
            // the detections are compared as a set (each of torchvision's matched to one of ours of the same rank group).
            var (picks, bd, tiedGroups) = RankMatching.Match(scores, labels, boxes,
                ours.Select(r => (r.Category, new[] { r.Bbox[0], r.Bbox[1], r.Bbox[0] + r.Bbox[2], r.Bbox[1] + r.Bbox[3] })).ToList(), 0, stems[i]);
            double sd = Enumerable.Range(0, scores.Length).Max(k => Math.Abs(ours[picks[k]].Score - scores[k]));
            Assert.True(bd <= 1e-3, $"{stems[i]}: boxes differ from torchvision's by {bd:E2} px");
            Assert.True(sd <= 1e-4, $"{stems[i]}: scores differ from torchvision's by {sd:E2}");
            log.WriteLine($"{stems[i]}: all {scores.Length} detections with torchvision's labels in its order ({tiedGroups} groups of exactly tied scores compared as sets); boxes max |diff| {bd:E2} px, scores {sd:E2}");
        }

        // A single file: the results use its stem; the picture decodes at the photo's size plus the caption bar.
        string one = dir["dog.json"];
        Ok("detect", "--checkpoint", model, "--image", Fx("dog.png"), "--out", one, "--score-threshold", "0.3", "--max-detections", "5");
        var single = ReadResults(one);
        Assert.InRange(single.Count, 1, 5);
        Assert.All(single, r => Assert.Equal("dog", r.ImageId));
        Assert.All(single, r => Assert.True(r.Score > 0.3));
        var dogTop = all.Where(r => r.ImageId == "dog").Where(r => r.Score > 0.3).Take(5).ToList();
        Assert.Equal(dogTop.Select(r => r.Score), single.Select(r => r.Score));

        // An image with no detection above the threshold is a normal result: an empty list and an undecorated picture.
        string none = dir["none.json"];
        Ok("detect", "--checkpoint", model, "--image", Fx("dog.png"), "--out", none, "--score-threshold", "0.999999");
        Assert.Empty(ReadResults(none));
        string nonePic = dir["none.png"];
        Ok("detect", "--checkpoint", model, "--image", Fx("dog.png"), "--out", nonePic, "--score-threshold", "0.999999");
        Assert.Equal(ImageDecoder.Decode(Fx("dog.png")).Width, ImageDecoder.Decode(nonePic).Width);

        string pic = dir["dog.png"];
        var output = Ok("detect", "--checkpoint", model, "--image", Fx("dog.png"), "--out", pic, "--max-detections", "3");
        var src = ImageDecoder.Decode(Fx("dog.png"));
        var drawn = ImageDecoder.Decode(pic);
        Assert.Equal(src.Width, drawn.Width);
        Assert.Equal(src.Height + 22, drawn.Height);   // Drawing.Render's caption bar above the photo
        int changed = 0;
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < src.Width; x++)
                for (int c = 0; c < 3; c++)
                    if (src.Pixels[src.Index(x, y) + c] != drawn.Pixels[drawn.Index(x, y + 22) + c]) { changed++; goto next; }
                    else continue;
        next:;
        Assert.True(changed > 0, "no box was drawn on the picture");
        Assert.Contains("wrote " + pic, output);
    }

    [Fact]
    public void ClassNamesGivenAtImportNameTheDetections()
    {
        using var dir = new TestPaths.TempDir();
        File.WriteAllLines(dir["names.txt"], ["person", "bus", "car", "dog"]);
        string model = dir["named.pth"];
        Ok("import", "--from", Fx("fasterrcnn_v2_tiny.pth"), "--out", model, "--min-size", "128", "--max-size", "200", "--class-names", dir["names.txt"]);
        Assert.Equal(["__background__", "person", "bus", "car", "dog"], DetectorModelFile.Load(model).ClassNames);
        // The fixture model's best detection on the dog photo is label 2 (see golden.pt): printed with its name.
        Assert.Contains("best bus 0.398", Ok("detect", "--checkpoint", model, "--image", Fx("dog.png"), "--out", dir["d.json"]));
        File.WriteAllLines(dir["three.txt"], ["person", "bus", "car"]);
        CliRunner.UserError(["import", "--from", Fx("fasterrcnn_v2_tiny.pth"), "--out", dir["x.pth"], "--class-names", dir["three.txt"]], "3 class names", "4 classes");
        Assert.False(File.Exists(dir["x.pth"]));
    }

    [Fact]
    public void EvaluateCheckpointEqualsEvaluatingDetectsOutput()
    {
        using var dir = new TestPaths.TempDir();
        string model = Import(dir);
        Ok("detect", "--checkpoint", model, "--image", VocImages, "--out", dir["voc.json"]);
        // detect's ids are file name stems ("2011_000003"); evaluate maps them to the ground truth's ids (101, 108, 115).
        Ok("evaluate", "--data", Fx("voc_gt.json"), "--detections", dir["voc.json"], "--out", dir["from_file.json"]);
        var text = Ok("evaluate", "--data", Fx("voc_gt.json"), "--checkpoint", model, "--images", VocImages, "--out", dir["from_model.json"]);
        Assert.Contains("detections: 300", text);
        var a = JsonDocument.Parse(File.ReadAllText(dir["from_file.json"])).RootElement;
        var b = JsonDocument.Parse(File.ReadAllText(dir["from_model.json"])).RootElement;
        string[] keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];
        foreach (var k in keys) Assert.Equal(a.GetProperty(k).GetDouble(), b.GetProperty(k).GetDouble());
        Assert.Equal(a.GetProperty("per_category").GetRawText(), b.GetProperty("per_category").GetRawText());
        // The random tiny model does find some of the objects, so the equality is not one of zeros.
        Assert.True(b.GetProperty("AR100").GetDouble() > 0, "AR100 is 0: the comparison would not exercise matching");
        log.WriteLine(string.Join(", ", keys.Select(k => $"{k} {b.GetProperty(k).GetDouble():F4}")));
    }

    [Fact]
    public void StringImageIdsAreMatchedByFileNameStem()
    {
        using var dir = new TestPaths.TempDir();
        string gt = dir["gt.json"];
        File.WriteAllText(gt, """
            {"images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 100},
                         {"id": 9, "file_name": "sub/b.png", "width": 100, "height": 100},
                         {"id": 11, "file_name": "other/b.jpg", "width": 100, "height": 100}],
             "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}],
             "categories": [{"id": 1, "name": "thing"}]}
            """);
        File.WriteAllText(dir["ok.json"], """[{"image_id": "a", "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]""");
        var text = Ok("evaluate", "--data", gt, "--detections", dir["ok.json"], "--out", dir["m.json"]);
        Assert.Equal(1.0, JsonDocument.Parse(File.ReadAllText(dir["m.json"])).RootElement.GetProperty("AP").GetDouble(), 1e-12);

        File.WriteAllText(dir["ambiguous.json"], """[{"image_id": "b", "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]""");
        CliRunner.UserError(["evaluate", "--data", gt, "--detections", dir["ambiguous.json"]], dir["ambiguous.json"], "\"b\"", "ambiguous", "sub/b.png", "other/b.jpg");
        File.WriteAllText(dir["unknown.json"], """[{"image_id": "c", "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]""");
        CliRunner.UserError(["evaluate", "--data", gt, "--detections", dir["unknown.json"]], dir["unknown.json"], "\"c\"", "file name stem of no image");
        // A string id in a record that is bad otherwise: the record is still named with its real problem.
        File.WriteAllText(dir["noscore.json"], """[{"image_id": "a", "category_id": 1, "bbox": [10, 10, 20, 20]}]""");
        CliRunner.UserError(["evaluate", "--data", gt, "--detections", dir["noscore.json"]], dir["noscore.json"], "detection #0", "score");
    }

    [Fact]
    public void BadInputsAreNamed()
    {
        using var dir = new TestPaths.TempDir();
        string model = Import(dir);
        string img = Fx("dog.png");

        // Model files of the wrong kind.
        CliRunner.UserError(["detect", "--checkpoint", Fx("fasterrcnn_v2_tiny.pth"), "--image", img, "--out", dir["x.json"]],
            "fasterrcnn_v2_tiny.pth", "torchvision detector state_dict", "soco import");
        string soco = dir["soco.pth"];
        ModelFile.Save(soco, SocoArch.SocoFpn, new SocoConfig(), new Dictionary<string, Tensor> { ["w"] = zeros(1) });
        CliRunner.UserError(["detect", "--checkpoint", soco, "--image", img, "--out", dir["x.json"]], soco, "SoCo pretraining model file", "not a detector");
        string future = dir["future.pth"];
        var root = new Hashtable { ["soco_net"] = new Hashtable { ["kind"] = "segmenter" }, ["model"] = new Hashtable { ["w"] = zeros(1) } };
        using (var fs = File.Create(future)) PyTorchPickler.PickleStateDict(fs, root);
        CliRunner.UserError(["detect", "--checkpoint", future, "--image", img, "--out", dir["x.json"]], future, "kind 'segmenter'");
        CliRunner.UserError(["export", "--checkpoint", model, "--format", "pytorch", "--out", dir["e.pth"]], model, "detector model file");
        CliRunner.UserError(["detect", "--checkpoint", img, "--image", img, "--out", dir["x.json"]], img, "not a PyTorch checkpoint");
        Assert.False(File.Exists(dir["x.json"]));

        // Missing and non-image inputs.
        CliRunner.UserError(["detect", "--checkpoint", model, "--image", dir["nothere.jpg"], "--out", dir["x.json"]], dir["nothere.jpg"], "not found");
        File.WriteAllText(dir["notes.txt"], "not a picture");
        CliRunner.UserError(["detect", "--checkpoint", model, "--image", dir["notes.txt"], "--out", dir["x.json"]], dir["notes.txt"]);
        Assert.False(File.Exists(dir["x.json"]));

        // In a folder, an unreadable image is named and skipped; the others are written.
        string photos = dir["photos"];
        Directory.CreateDirectory(photos);
        File.Copy(img, Path.Combine(photos, "dog.png"));
        File.WriteAllText(Path.Combine(photos, "broken.jpg"), "not a jpeg");
        File.WriteAllText(Path.Combine(photos, "readme.txt"), "ignored: not an image name");
        var output = Ok("detect", "--checkpoint", model, "--image", photos, "--out", dir["folder.json"]);
        Assert.Contains("skipped: " + Path.Combine(photos, "broken.jpg"), output);
        Assert.All(ReadResults(dir["folder.json"]), r => Assert.Equal("dog", r.ImageId));
        CliRunner.UserError(["detect", "--checkpoint", model, "--image", photos, "--out", dir["one.png"]], "one.png", "one --image file");

        // evaluate --checkpoint: an annotated image missing from the folder stops the run, naming it.
        string some = dir["some"];
        Directory.CreateDirectory(some);
        File.Copy(Path.Combine(VocImages, "2011_000003.jpg"), Path.Combine(some, "2011_000003.jpg"));
        CliRunner.UserError(["evaluate", "--data", Fx("voc_gt.json"), "--checkpoint", model, "--images", some], "2011_000006.jpg", "missing");
        CliRunner.UserError(["evaluate", "--data", Fx("voc_gt.json"), "--checkpoint", model], "--images");
    }

    /// <summary>The golden file: a flat {name: tensor} dict.</summary>
    sealed class Golden : IDisposable
    {
        readonly Dictionary<string, Tensor> t = new();
        public Golden(string path)
        {
            foreach (DictionaryEntry e in PyTorchUnpickler.UnpickleStateDict(path)) t[(string)e.Key] = (Tensor)e.Value!;
        }
        public Tensor this[string k] => t[k];
        public void Dispose() { foreach (var v in t.Values) v.Dispose(); }
    }
}
