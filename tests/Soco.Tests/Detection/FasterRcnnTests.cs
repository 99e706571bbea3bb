using Soco.Data;
using Soco.Modeling;
using Soco.Modeling.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>
/// The image transform and the whole Faster R-CNN (ResNet-50 layout at stem width 2, FPN 16, 5 classes) against
/// torchvision 0.14's <c>FasterRCNN</c> with the same seeded weights (tests/fixtures/detection/faster_rcnn_tiny.pt).
/// </summary>
[Collection("torch")]
public class FasterRcnnTests(ITestOutputHelper log)
{
    internal static FasterRcnnConfig TinyConfig => new()
    {
        NumClasses = 5,
        Backbone = new ResNetConfig { Depth = 50, BaseWidth = 2 },
        FpnChannels = 16,
        RpnConvDepth = 2,
        BoxHeadConvDim = 16,
        BoxHeadFcDim = 32,
        MinSizes = [128],
        MaxSize = 200,
    };

    [Fact]
    public void ResizedSizesAreTorchvisions()
    {
        using var f = new DetectionFixture("faster_rcnn_tiny.pt");
        var rows = f["resize.cases"];
        for (long r = 0; r < rows.shape[0]; r++)
        {
            var v = rows[r].data<long>().ToArray();
            var t = new DetectionTransform([(int)v[2]], (int)v[3], [0.5f, 0.5f, 0.5f], [1, 1, 1]);
            Assert.Equal((v[4], v[5]), t.ResizedSize(v[0], v[1], (int)v[2]));
        }
        // The figures of docs/detection-parts.md: 799-pixel short sides from the float32 scale and the floor.
        var d = DetectionTransform.TorchvisionDefault();
        Assert.Equal((799L, 1199L), d.ResizedSize(427, 640, 800));
        Assert.Equal((1333L, 747L), d.ResizedSize(640, 359, 800));
        log.WriteLine($"{rows.shape[0]} image sizes resized as torchvision does");
    }

    [Fact]
    public void BilinearResizeIsPyTorch113sBitForBit()
    {
        using var f = new DetectionFixture("faster_rcnn_tiny.pt");
        using var scope = NewDisposeScope();
        var src = f["bilinear.in"];
        for (int i = 0; f.Has($"bilinear.out.{i}"); i++)
        {
            var e = f[$"bilinear.out.{i}"];
            Expect.Close(e, Soco.Ops.BilinearResize.Apply(src, e.shape[1], e.shape[2]), 0, $"resize 13×17 → {e.shape[1]}×{e.shape[2]}");
            Expect.Close(e.unsqueeze(0), Soco.Ops.BilinearResize.Apply(src.unsqueeze(0), e.shape[1], e.shape[2]), 0, "batched form");
        }
        Assert.Throws<ArgumentException>(() => Soco.Ops.BilinearResize.Apply(src.to(float64), 5, 5));
    }

    [Fact]
    public void WholeDetectorGivesTorchvisionsDetections()
    {
        using var f = new DetectionFixture("faster_rcnn_tiny.pt");
        using var scope = NewDisposeScope();
        var model = new FasterRcnn(TinyConfig);
        var unused = model.LoadTorchvisionState(f.Prefixed("state"));
        Assert.Empty(unused);
        model.eval();
        var images = new[] { f["image.0"], f["image.1"] };

        var (batch, _) = model.Transform.Apply(images);
        Assert.Equal(f["batch.shape"].data<long>().ToArray(), batch.Tensor.shape);
        var sizes = f["batch.sizes"].data<long>().ToArray();
        Assert.Equal([(sizes[0], sizes[1]), (sizes[2], sizes[3])], batch.ImageSizes);
        var sampled = batch.Tensor[.., .., TensorIndex.Slice(0, null, 8), TensorIndex.Slice(0, null, 8)];
        Expect.Close(f["batch.sampled"], sampled, 0, "normalised, resized, padded batch (every 8th pixel)");

        using var noGrad = no_grad();
        var dets = model.Detect(images);
        for (int i = 0; i < 2; i++)
        {
            var eb = f[$"out.boxes.{i}"];
            var es = f[$"out.scores.{i}"];
            var el = f[$"out.labels.{i}"];
            Assert.Equal(es.shape[0], dets[i].Scores.shape[0]);
            Expect.SameIndices(el, dets[i].Labels, $"image {i} labels");
            double bd = Expect.Close(eb, dets[i].Boxes, 1e-3, $"image {i} boxes (original pixels)");
            double sd = Expect.Close(es, dets[i].Scores, 1e-4, $"image {i} scores");
            log.WriteLine($"image {i}: all {es.shape[0]} detections in torchvision's order; boxes max |diff| {bd:E2} px, scores {sd:E2}");
        }
    }

    [Fact]
    public void StateDictMappingCoversEveryTensorAndRejectsWrongShapes()
    {
        using var f = new DetectionFixture("faster_rcnn_tiny.pt");
        using var scope = NewDisposeScope();
        var state = f.Prefixed("state");
        var model = new FasterRcnn(TinyConfig);
        Assert.Equal(state.Count, model.state_dict().Count);
        // Keys the detector has no place for are returned, not silently dropped.
        var extra = new Dictionary<string, Tensor>(state) { ["roi_heads.mask_head.0.0.weight"] = zeros(1) };
        Assert.Equal(["roi_heads.mask_head.0.0.weight"], new FasterRcnn(TinyConfig).LoadTorchvisionState(extra));
        var missing = state.Where(kv => kv.Key != "rpn.head.cls_logits.bias").ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Contains("rpn.head.cls_logits.bias", Assert.Throws<ArgumentException>(() => new FasterRcnn(TinyConfig).LoadTorchvisionState(missing)).Message);
        var wrong = new Dictionary<string, Tensor>(state) { ["roi_heads.box_predictor.cls_score.weight"] = zeros(7, 32) };
        Assert.Contains("shape", Assert.Throws<ArgumentException>(() => new FasterRcnn(TinyConfig).LoadTorchvisionState(wrong)).Message);
    }
}
