using System.Globalization;
using Soco.Data;
using Soco.Interop;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Solver;
using Soco.Tests.Cli;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Detection;

/// <summary>
/// The R-C4 detector (Detectron2's Res5ROIHeads with SoCo's extra norm; docs/detector-c4.md): its parts and the whole
/// model against torchvision 0.14's Faster R-CNN machinery assembled as an R-C4 (tests/fixtures/detection/
/// faster_rcnn_c4_tiny.pt, tools/torch_c4_fixtures.py), a few training steps, and the C4 path through --init, the
/// model file, `soco detect` and `soco evaluate --checkpoint`.
/// </summary>
[Collection("torch")]
public class C4DetectorTests(ITestOutputHelper log)
{
    internal static FasterRcnnConfig TinyC4 => new()
    {
        Arch = DetectorArch.C4,
        NumClasses = 5,
        Backbone = new ResNetConfig { Depth = 50, BaseWidth = 2 },
        RpnConvDepth = 1,
        MinSizes = [128],
        MaxSize = 200,
        Rpn = new RpnOptions { PreNmsTopNTest = 6000, PostNmsTopNTest = 1000 },
    };

    /// <summary>torchvision's state-dict keys of the assembled model → ours (its trunk sits under backbone.body).</summary>
    static Dictionary<string, Tensor> OurNames(Dictionary<string, Tensor> tv) =>
        tv.ToDictionary(kv => kv.Key.StartsWith("backbone.body.", StringComparison.Ordinal) ? "backbone." + kv.Key["backbone.body.".Length..] : kv.Key, kv => kv.Value);

    [Fact]
    public void AnchorsPoolerAndRes5HeadAreTorchvisions()
    {
        using var f = new DetectionFixture("faster_rcnn_c4_tiny.pt");
        using var scope = NewDisposeScope();
        var gen = AnchorGenerator.C4Default();
        Assert.Equal([15], gen.NumAnchorsPerLocation);
        for (int i = 0; f.Has($"anchors.{i}"); i++)
        {
            var s = f[$"anchors.{i}.size"].data<long>().ToArray();
            var a = gen.GridAnchors((s[0], s[1]), [(s[0] / 16, s[1] / 16)], float32, CPU)[0];
            Expect.Close(f[$"anchors.{i}"], a, 0, $"anchors of a {s[0]}×{s[1]} batch");
        }

        var pooler = new MultiScaleRoiAlign(14, 0, aligned: true);
        var pooled = pooler.Forward([f["pool.feat"]], [f["pool.boxes.0"], f["pool.boxes.1"]], [(140, 190), (140, 190)]);
        double pd = Expect.Close(f["pool.out"], pooled, 1e-5, "14×14 aligned RoIAlign on C4 (ROIAlignV2)");

        var head = new Res5BoxHead(new ResNetConfig { Depth = 50, BaseWidth = 2 });
        head.load_state_dict(f.Prefixed("head.state"), strict: true);
        head.eval();
        using (no_grad()) Expect.Close(f["head.eval_out"], head.forward(f["head.in"]), 1e-4, "res5 + norm + mean, eval");
        head.train();
        var x = f["head.in"].clone().requires_grad_(true);
        var y = head.forward(x);
        double yd = Expect.Close(f["head.out"], y, 1e-4, "res5 + norm + mean, train (batch statistics)");
        y.mul(f["head.weights"]).sum().backward();
        double gd = Expect.Close(f["head.grad_in"], x.grad!, 1e-4, "gradient wrt the pooled RoIs");
        foreach (var (name, p) in head.named_parameters())
            gd = Math.Max(gd, Expect.Close(f[$"head.grad.{name}"], p.grad!, 2e-4, $"gradient of {name}"));
        log.WriteLine($"anchors bit-identical; pooled max |diff| {pd:E2}; head {yd:E2}; gradients {gd:E2}");
    }

    [Fact]
    public void WholeC4DetectorGivesTorchvisionsDetections()
    {
        using var f = new DetectionFixture("faster_rcnn_c4_tiny.pt");
        using var scope = NewDisposeScope();
        var model = new FasterRcnn(TinyC4);
        var state = OurNames(f.Prefixed("state"));
        Assert.Equal(state.Keys.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
        model.load_state_dict(state, strict: true);
        model.eval();
        Assert.Null(model.Fpn);
        using var noGrad = no_grad();
        var dets = model.Detect([f["image.0"], f["image.1"]]);
        for (int i = 0; i < 2; i++)
        {
            var es = f[$"out.scores.{i}"];
            Assert.Equal(es.shape[0], dets[i].Scores.shape[0]);
            Expect.SameIndices(f[$"out.labels.{i}"], dets[i].Labels, $"image {i} labels");
            double bd = Expect.Close(f[$"out.boxes.{i}"], dets[i].Boxes, 1e-3, $"image {i} boxes");
            double sd = Expect.Close(es, dets[i].Scores, 1e-4, $"image {i} scores");
            log.WriteLine($"image {i}: all {es.shape[0]} detections in torchvision's order; boxes max |diff| {bd:E2} px, scores {sd:E2}");
        }
    }

    [Fact]
    public void TinyC4TrainsAndItsModelFileDetectsTheSame()
    {
        using var dir = new TestPaths.TempDir();
        TorchSharp.torch.manual_seed(3);
        var config = TinyC4 with
        {
            Backbone = new ResNetConfig { Depth = 18, BaseWidth = 4 }, MinSizes = [96], MaxSize = 160,
            Rpn = new RpnOptions { PreNmsTopNTrain = 300, PostNmsTopNTrain = 100, PreNmsTopNTest = 6000, PostNmsTopNTest = 1000 },
            RoiHeads = new RoiHeadsOptions { BatchSizePerImage = 64 },
        };
        using var model = new FasterRcnn(config);
        model.train();
        var image = Soco.Modeling.Detection.DetectorInference.ToTensor(Soco.Imaging.ImageDecoder.Decode(Path.Combine(TestPaths.Photos, "dog.jpg")));
        var boxes = tensor(new float[] { 120, 80, 600, 520, 20, 300, 200, 560 }, [2, 4]);
        var labels = tensor(new long[] { 1, 3 });
        using var sgd = Sgd.ForDetector(model, 0.9, 1e-4, 0);
        sgd.LearningRate = 0.05;
        var totals = new List<double>();
        for (int step = 0; step < 10; step++)
        {
            using var scope = NewDisposeScope();
            sgd.ZeroGrad();
            var losses = model.Losses([image], [boxes], [labels], [SampleRandom.For(0, step, 0)]);
            var total = losses.Values.Aggregate((a, b) => a.add(b));
            total.backward();
            sgd.Step();
            totals.Add(total.item<float>());
        }
        log.WriteLine("losses " + string.Join(" ", totals.Select(t => t.ToString("F4", CultureInfo.InvariantCulture))));
        Assert.All(totals, t => Assert.True(double.IsFinite(t)));
        Assert.True(totals[^1] < 0.8 * totals[0], $"loss {totals[0]} → {totals[^1]}: the C4 detector does not train");

        // The model file keeps the arch: loaded back it is an R-C4 with the same weights and the same detections.
        model.eval();
        string file = dir["c4.pth"];
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        DetectorModelFile.Save(file, new DetectorModel(config, ["__background__", "a", "b", "c", "d"], state, [], file, "test"));
        var loaded = DetectorModelFile.Load(file);
        Assert.Equal(DetectorArch.C4, loaded.Config.Arch);
        Assert.True(loaded.Config.Res5ExtraNorm);
        Assert.Equal(6000, loaded.Config.Rpn.PreNmsTopNTest);
        using var again = loaded.CreateModel();
        using var noGrad = no_grad();
        var a = model.Detect([image])[0];
        var b = again.Detect([image])[0];
        Expect.Close(a.Boxes, b.Boxes, 0, "boxes after the model file round trip");
        Expect.Close(a.Scores, b.Scores, 0, "scores after the model file round trip");
    }

    [Fact]
    public void FinetuneFromSocoC4CheckpointPutsRes5InTheRoiHeadAndDetectEvaluateRunIt()
    {
        using var dir = new TestPaths.TempDir();
        string pre = dir["pre"];
        Ok("pretrain", "--config", "demo", "--set", "model=c4", "--set", "recipe=ImageAsymBboxCutout", "--images", TestPaths.Photos, "--out", pre,
            "--stop-after", "2", "--threads", "1", "--workers", "1");
        string gt = TestPaths.Fixture("detection", "detcli", "voc_gt.json");
        string images = Path.Combine(TestPaths.Samples, "voc", "JPEGImages");
        string run = dir["ft"];
        var output = Ok("finetune", "--config", "finetune_demo_c4", "--set", "max_iter=2", "--set", "steps=[]", "--set", "warmup_iters=1",
            "--set", "min_sizes=[128]", "--set", "max_size=200", "--set", "test_size=128", "--set", "checkpoint_period=0",
            "--init", pre, "--train", gt, "--train-images", images, "--out", run, "--threads", "1");
        string text = string.Join(" ", output.Split('\n').Select(l => l.Trim()));
        log.WriteLine(text);
        // ResNet-18: 120 tensors, of which layer4 (res5: 4 convs + 4 BNs × 5, a downsample conv + BN) 30 go into the RoI head. The RPN,
        // the extra norm after res5 and the box predictor start fresh.
        Assert.Contains("30 res5 tensors (layer4.*) → roi_heads.box_head.res5.*", text);
        Assert.Contains("loaded 120 tensors (backbone 90, roi_heads.box_head 30)", text);
        Assert.Contains("15 tensors start fresh (rpn 6, roi_heads.box_head 5, roi_heads.box_predictor 4)", text);
        // The pretrained res5 really is where the log says.
        using (var m = new FasterRcnn(FinetuneConfigs.Load("finetune_demo_c4").Detector(4, training: true)))
        {
            DetectorInit.Apply(m, pre);
            var ck = CheckpointReader.Read(pre).State;
            var sd = m.state_dict();
            Expect.Close(ck["encoder.layer4.1.conv2.weight"], sd["roi_heads.box_head.res5.1.conv2.weight"], 0, "res5 from the encoder's layer4");
            Expect.Close(ck["encoder.layer3.0.conv1.weight"], sd["backbone.layer3.0.conv1.weight"], 0, "layer3 into the backbone");
        }
        string model = Path.Combine(run, FinetuneRun.ModelFileName);
        string results = dir["dets.json"];
        Ok("detect", "--checkpoint", model, "--image", images, "--out", results);
        Assert.StartsWith("[", File.ReadAllText(results));
        var ev = Ok("evaluate", "--checkpoint", model, "--data", gt, "--images", images);
        Assert.Contains("Average Precision", ev);
    }

    /// <summary>The soco_c4_1x preset holds the released recipe: the values of configs/detectron2/SoCo_C4_1x.yaml.</summary>
    [Fact]
    public void SocoC4PresetIsTheReleasedRecipe()
    {
        var yaml = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "configs", "detectron2", "SoCo_C4_1x.yaml"));
        string Y(string key) => System.Text.RegularExpressions.Regex.Match(yaml, @"^\s*" + key + @":\s*(.+?)\s*$", System.Text.RegularExpressions.RegexOptions.Multiline).Groups[1].Value.Trim('"');
        double D(string key) => double.Parse(Y(key), CultureInfo.InvariantCulture);
        long[] L(string key) => Y(key).Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var c = FinetuneConfigs.Load("soco_c4_1x");
        Assert.Equal("c4", c.Arch);
        Assert.True(c.Res5ExtraNorm);   // ROI_HEADS.NAME Res5ROIHeadsExtraNorm
        Assert.Equal("Res5ROIHeadsExtraNorm", Y("NAME"));
        Assert.Equal(D("IMS_PER_BATCH"), c.ImagesPerStep);
        Assert.Equal(D("BASE_LR"), c.BaseLr);
        Assert.Equal(L("STEPS"), c.Steps);
        Assert.Equal(D("MAX_ITER"), c.MaxIter);
        Assert.Equal(D("WEIGHT_DECAY"), c.WeightDecay);
        Assert.Equal(L("MIN_SIZE_TRAIN").Select(v => (int)v), c.MinSizes);
        Assert.Equal(D("MIN_SIZE_TEST"), c.TestSize);
        Assert.Equal(D("PRE_NMS_TOPK_TEST"), c.RpnPreNmsTopkTest);
        Assert.Equal(D("POST_NMS_TOPK_TEST"), c.RpnPostNmsTopkTest);
        Assert.Equal(D("DEPTH"), c.Depth);
        var det = c.Detector(81, training: false);
        // PIXEL_MEAN / PIXEL_STD are on 0–255 RGB; our transform takes [0, 1] pixels, so they are the same numbers / 255.
        double[] V(string key) => Y(key).Trim('[', ']').Split(',', StringSplitOptions.TrimEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture) / 255).ToArray();
        Assert.Equal(V("PIXEL_MEAN"), det.PixelMean.Select(v => (double)v), (x, y) => Math.Abs(x - y) < 1e-6);
        Assert.Equal(V("PIXEL_STD"), det.PixelStd.Select(v => (double)v), (x, y) => Math.Abs(x - y) < 1e-6);
        Assert.Equal("False", Y("STRIDE_IN_1X1"));   // torchvision's layout, which our ResNet has (stride in the 3×3)
        Assert.Equal("0", Y("FREEZE_AT"));           // nothing frozen: every parameter is in the optimizer
    }
}
