using System.Globalization;
using System.Text.Json;
using Soco.Data.Coco;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Tests.Cli;
using Soco.Training;
using Xunit.Abstractions;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Training;

/// <summary>
/// `soco finetune` (issue 10): the training data mapper (crowd boxes, empty images, flip), exact resume through the CLI,
/// what --init loads, and a real fine-tune — a tiny SoCo checkpoint (demo pretraining, a few steps) fine-tuned on the
/// labelme-examples photos (samples/voc, COCO JSON tests/fixtures/detection/detcli/voc_gt.json) and scored by
/// `soco evaluate --checkpoint` on those photos.
/// </summary>
[Collection("torch")]
public class FinetuneTests
{
    readonly ITestOutputHelper log;

    public FinetuneTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    static string Gt => TestPaths.VocGt;
    static string VocImages => TestPaths.VocImages;

    /// <summary>A few steps of the demo pretraining: a real SoCo checkpoint of the tiny FPN model.</summary>
    static string Pretrain(TestPaths.TempDir dir)
    {
        string run = dir["pre"];
        Ok("pretrain", "--config", "demo", "--images", TestPaths.Photos, "--out", run, "--stop-after", "3", "--threads", "1", "--workers", "1");
        return run;
    }

    static List<string> LossLines(string run) => TestPaths.MetricLines(Path.Combine(run, FinetuneRun.MetricsFile),
        "step", "loss", "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "lr");

    static readonly string[] Small = ["--set", "max_iter=6", "--set", "steps=[4]", "--set", "warmup_iters=2", "--set", "min_sizes=[160,192]",
        "--set", "max_size=300", "--set", "test_size=160", "--set", "checkpoint_period=0"];

    [Fact]
    public void StoppedAndRerunContinuesBitIdentically()
    {
        using var dir = new TestPaths.TempDir();
        string[] common = ["finetune", "--config", "finetune_demo", .. Small, "--init", "none", "--train", Gt, "--train-images", VocImages, "--threads", "1"];
        Ok([.. common, "--out", dir["whole"]]);
        var a = Ok([.. common, "--out", dir["split"], "--stop-after", "3"]);
        Assert.Contains("stopped at the step limit", a);
        Assert.False(File.Exists(Path.Combine(dir["split"], FinetuneRun.ModelFileName)), "a stopped run must not write the final model");
        var b = Ok([.. common, "--out", dir["split"]]);
        Assert.Contains("resuming from", b);
        var whole = LossLines(dir["whole"]);
        var split = LossLines(dir["split"]);
        Assert.Equal(6, whole.Count);
        Assert.Equal(whole, split);
        // Every step's losses differ from the next (the run really trains, the comparison is not of constants).
        Assert.Equal(6, whole.Distinct().Count());
        Assert.True(File.Exists(Path.Combine(dir["split"], FinetuneRun.ModelFileName)));
        // A finished run rerun is left as it is.
        Assert.Contains("already finished", Ok([.. common, "--out", dir["split"]]));
    }

    [Fact]
    public void InitFromSocoCheckpointLoadsBackboneFpnAndHeadAndSaysWhatStartsFresh()
    {
        using var dir = new TestPaths.TempDir();
        string pre = Pretrain(dir);
        var output = Ok(["finetune", "--config", "finetune_demo", .. Small, "--set", "max_iter=1", "--set", "steps=[]", "--init", pre,
            "--train", Gt, "--train-images", VocImages, "--out", dir["ft"], "--threads", "1"]);
        string text = string.Join(" ", output.Split('\n').Select(l => l.Trim()));
        log.WriteLine(text);
        // ResNet-18: 20 convs + 20 BNs × 5 tensors (3 stem + downsample) → 120; FPN 4 lateral + 4 output conv+BN: 48;
        // 4conv-1fc head with BN: 26. The RPN and the box predictor have no pretrained counterpart.
        Assert.Contains("loaded 194 tensors (backbone 120, fpn 48, roi_heads.box_head 26)", text);
        Assert.Contains("10 tensors start fresh (rpn 6, roi_heads.box_predictor 4)", text);

        // The same backbone as a torchvision-named ResNet state_dict loads into the backbone only.
        string tv = dir["resnet.pth"];
        using (var m = new FasterRcnn(FinetuneConfigs.Load("finetune_demo").Detector(4, training: true)))
            Pth.Save(m.Backbone.state_dict(), tv);
        var o2 = Ok(["finetune", "--config", "finetune_demo", .. Small, "--set", "max_iter=1", "--set", "steps=[]", "--init", tv,
            "--train", Gt, "--train-images", VocImages, "--out", dir["ft2"], "--threads", "1"]);
        string t2 = string.Join(" ", o2.Split('\n').Select(l => l.Trim()));
        Assert.Contains("torchvision ResNet state_dict: loaded 120 tensors (backbone 120)", t2);
    }

    [Fact]
    public void MapperIgnoresCrowdBoxesSkipsEmptyImagesAndFlipMovesBoxes()
    {
        using var dir = new TestPaths.TempDir();
        var json = new
        {
            images = new object[]
            {
                new { id = 1, file_name = "2011_000003.jpg", width = 500, height = 338 },
                new { id = 2, file_name = "2011_000006.jpg", width = 500, height = 375 },
            },
            annotations = new object[]
            {
                new { id = 1, image_id = 1, category_id = 7, bbox = new[] { 10.0, 20, 100, 50 }, area = 5000.0, iscrowd = 0 },
                new { id = 2, image_id = 1, category_id = 7, bbox = new[] { 200.0, 20, 100, 50 }, area = 5000.0, iscrowd = 1 },
                new { id = 3, image_id = 2, category_id = 7, bbox = new[] { 10.0, 20, 100, 50 }, area = 5000.0, iscrowd = 1 },
            },
            categories = new object[] { new { id = 7, name = "thing" } },
        };
        File.WriteAllText(dir["gt.json"], JsonSerializer.Serialize(json));
        var data = new DetectionTrainData(CocoInstancesReader.Read(dir["gt.json"]), VocImages, seed: 3, flip: true);
        Assert.Single(data.Samples);
        Assert.Equal(new[] { 10f, 20, 110, 70 }, data.Samples[0].Boxes);
        Assert.Equal(new long[] { 7 }, data.Samples[0].Labels);
        Assert.Single(data.SkippedImages);
        Assert.Contains("2011_000006.jpg", data.SkippedImages[0]);
        // Over epochs both flips occur, and a flipped box is mirrored in the decoded image's width (500).
        var seen = new HashSet<string>();
        for (long epoch = 0; epoch < 16; epoch++)
        {
            var (image, boxes, labels, _) = data.Load(epoch, 0);
            var b = boxes.data<float>().ToArray();
            seen.Add(string.Join(",", b.Select(v => v.ToString(CultureInfo.InvariantCulture))));
            Assert.Equal(500, image.shape[2]);
            image.Dispose(); boxes.Dispose(); labels.Dispose();
        }
        Assert.Equal(new HashSet<string> { "10,20,110,70", "390,20,490,70" }, seen);
    }

    /// <summary>The labelme examples' instance polygons on the same three photos (docs/mask-rcnn.md §Fine-tuning).</summary>
    static string MaskGt => TestPaths.MaskGt;

    /// <summary>One fine-tune through the CLI: demo pretraining (3 steps) → a 500-step fine-tune (one thread) →
    /// `soco evaluate --checkpoint` on the training photos; returns the run folder and the metrics file.</summary>
    (string Run, JsonDocument Metrics, JsonElement LastLine) FineTune(TestPaths.TempDir dir, string preset, string gt)
    {
        string pre = Pretrain(dir);
        string run = dir["ft"];
        Ok("finetune", "--config", preset, "--init", pre, "--train", gt, "--train-images", VocImages, "--val", gt, "--val-images", VocImages,
            "--out", run, "--threads", "1");
        var first = LossLines(run)[0].Split(' ');
        var last = LossLines(run)[^1].Split(' ');
        log.WriteLine($"loss {first[1]} → {last[1]}");
        Assert.True(double.Parse(last[1], CultureInfo.InvariantCulture) < 0.6 * double.Parse(first[1], CultureInfo.InvariantCulture));
        string metrics = dir["metrics.json"];
        var output = Ok("evaluate", "--checkpoint", Path.Combine(run, FinetuneRun.ModelFileName), "--data", gt, "--images", VocImages, "--out", metrics);
        log.WriteLine(output);
        var m = JsonDocument.Parse(File.ReadAllText(metrics));
        // The run's own evaluation (--val, after the last step) scores what evaluate --checkpoint scores.
        var lastLine = JsonDocument.Parse(File.ReadLines(Path.Combine(run, FinetuneRun.MetricsFile)).Last()).RootElement;
        Assert.Equal(m.RootElement.GetProperty("AP50").GetDouble(), lastLine.GetProperty("val_AP50").GetDouble(), 12);
        Assert.Equal(m.RootElement.GetProperty("AP").GetDouble(), lastLine.GetProperty("val_AP").GetDouble(), 12);
        return (run, m, lastLine);
    }

    /// <summary>The fine-tune issue 10 asks for: finetune_demo (Faster R-CNN) on the three labelled photos overfits them
    /// (measured AP50 1.000: docs/finetune.md).</summary>
    [Fact]
    public void FineTunedTinyDetectorOverfitsTheSamplePhotos()
    {
        using var dir = new TestPaths.TempDir();
        var (_, m, _) = FineTune(dir, "finetune_demo", Gt);
        using (m)
        {
            double ap50 = m.RootElement.GetProperty("AP50").GetDouble();
            log.WriteLine($"AP50 {ap50}");
            Assert.True(ap50 >= MinAp50, $"AP50 {ap50} < {MinAp50}");
        }
    }

    /// <summary>The fine-tune with masks issue 11 asks for: finetune_mask_demo (a Mask R-CNN) on the labelme examples'
    /// instance polygons of the same photos; the mask branch trains and `evaluate --checkpoint` scores its masks.</summary>
    [Fact]
    public void FineTunedTinyMaskRcnnLearnsTheInstanceMasks()
    {
        using var dir = new TestPaths.TempDir();
        var (run, m, lastLine) = FineTune(dir, "finetune_mask_demo", MaskGt);
        using (m)
        {
            // The mask branch trained: its loss is logged and falls.
            var masks = File.ReadLines(Path.Combine(run, FinetuneRun.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss_mask").GetDouble()).ToList();
            Assert.True(masks[^1] < 0.7 * masks[0], $"loss_mask {masks[0]} → {masks[^1]}");
            // evaluate --checkpoint scores the masks too (every detection and object has one): the same numbers as --val.
            var segm = m.RootElement.GetProperty("segm");
            double maskAp50 = segm.GetProperty("AP50").GetDouble();
            log.WriteLine($"box AP50 {m.RootElement.GetProperty("AP50").GetDouble()}, mask AP50 {maskAp50}, mask AP {segm.GetProperty("AP").GetDouble()}");
            Assert.True(maskAp50 >= MinMaskAp50, $"mask AP50 {maskAp50} < {MinMaskAp50}");
            Assert.Equal(maskAp50, lastLine.GetProperty("val_segm_AP50").GetDouble(), 12);
            Assert.Equal(segm.GetProperty("AP").GetDouble(), lastLine.GetProperty("val_segm_AP").GetDouble(), 12);
        }
    }

    [Fact]
    public void BadInputIsAClearError()
    {
        using var dir = new TestPaths.TempDir();
        CliRunner.UserError(["finetune", "--config", "finetune_demo", "--init", dir["missing.pth"], "--train", Gt, "--train-images", VocImages, "--out", dir["a"]],
            "missing.pth", "no such file");
        CliRunner.UserError(["finetune", "--config", "finetune_demo", "--set", "nope=1", "--train", Gt, "--train-images", VocImages, "--out", dir["b"]],
            "nope", "unknown config key");
        CliRunner.UserError(["finetune", "--config", "finetune_demo", "--train", Gt, "--train-images", dir["nowhere"], "--out", dir["c"]],
            "2011_000003.jpg", "nowhere");
        // A stopped run refuses to continue on other annotations.
        Ok(["finetune", "--config", "finetune_demo", .. Small, "--train", Gt, "--train-images", VocImages, "--out", dir["e"], "--threads", "1", "--stop-after", "1"]);
        var other = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(Gt))!;
        var anns = other["annotations"].EnumerateArray().Skip(1).ToList();
        other["annotations"] = JsonSerializer.SerializeToElement(anns);
        File.WriteAllText(dir["other.json"], JsonSerializer.Serialize(other));
        CliRunner.UserError(["finetune", "--config", "finetune_demo", .. Small, "--train", dir["other.json"], "--train-images", VocImages, "--out", dir["e"]],
            "other data", "voc_gt.json: 3 images, 9 boxes");
        // A run folder refuses another config.
        Ok(["finetune", "--config", "finetune_demo", .. Small, "--set", "max_iter=1", "--set", "steps=[]", "--train", Gt, "--train-images", VocImages, "--out", dir["d"], "--threads", "1"]);
        CliRunner.UserError(["finetune", "--config", "finetune_demo", .. Small, "--set", "max_iter=2", "--set", "steps=[]", "--train", Gt, "--train-images", VocImages, "--out", dir["d"]],
            "another config");
    }

    /// <summary>See docs/finetune.md for the measured figure this bound comes from.</summary>
    const double MinAp50 = 0.9;
    /// <summary>Measured 1.000 for this run (seed 0: box AP50 1.000, mask AP 0.850), 1.000 with seed 1 and 0.917 with
    /// seed 2 (docs/mask-rcnn-results.md §The labelme overfit): with the class-agnostic mask head the sofa (one instance,
    /// 18 % of its own box) gets a mask (IoU 0.53–0.71), every other instance 0.79–0.97. The issue's goal is 0.9; the
    /// run is deterministic on one machine but its trajectory moves with any change of float order, and each seed
    /// reached it.</summary>
    const double MinMaskAp50 = 0.9;
}
