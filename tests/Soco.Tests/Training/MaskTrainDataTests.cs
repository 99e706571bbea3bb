using System.Text.Json;
using Soco.Data.Coco;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Training;

/// <summary>
/// Mask R-CNN training data: each instance's polygons become a full-image mask at the decoded image's size that the
/// flip mirrors with the pixels (and the boxes), the masks reach the detector's loss, and data without segmentations
/// is refused by name. Data: tests/fixtures/detection/masks/labelme_instances.json on samples/voc.
/// </summary>
[Collection("torch")]
public class MaskTrainDataTests
{
    readonly ITestOutputHelper log;

    public MaskTrainDataTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    static string MaskGt => TestPaths.MaskGt;
    static string VocImages => TestPaths.VocImages;

    [Fact]
    public void PolygonsBecomeMasksThatFlipWithTheImageAndBoxes()
    {
        var truth = CocoInstancesReader.Read(MaskGt);
        var data = new DetectionTrainData(truth, VocImages, seed: 5, flip: true, masks: true);
        Assert.Equal(3, data.Samples.Count);
        Assert.Equal(12, data.Samples.Sum(s => s.Labels.Length));
        int index = data.Samples.ToList().FindIndex(s => s.Labels.Length == 3);   // 2011_000003: person ×2, bottle
        var sample = data.Samples[index];
        var anns = truth.Annotations.Where(x => x.ImageId == sample.ImageId).ToList();
        Tensor? plainMasks = null, flippedMasks = null;
        using var scope = NewDisposeScope();
        for (long epoch = 0; epoch < 12 && (plainMasks is null || flippedMasks is null); epoch++)
        {
            var (image, boxes, labels, masks, _) = data.LoadWithMasks(epoch, index);
            long h = image.shape[1], w = image.shape[2];
            Assert.Equal(new long[] { 3, h, w }, masks!.shape);
            var b = boxes.data<float>().ToArray();
            bool isFlipped = b[0] != sample.Boxes[0];
            var px = masks.contiguous().data<byte>().ToArray();
            for (int k = 0; k < 3; k++)
            {
                // labelme's box and area come from its own (PIL) rasterisation of the same polygons, ours from
                // pycocotools' frPoly: the mask fills the (possibly flipped) box to within a pixel at each edge.
                long area = 0, x0 = w, x1 = -1, y0 = h, y1 = -1;
                for (long y = 0; y < h; y++)
                    for (long x = 0; x < w; x++)
                    {
                        if (px[k * h * w + y * w + x] == 0) continue;
                        area++;
                        x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                    }
                Assert.True(area > 0, $"instance {k} of {sample.Path} has an empty mask");
                Assert.InRange(x0 - b[4 * k], -1.5, 1.5);
                Assert.InRange(x1 + 1 - b[4 * k + 2], -1.5, 1.5);
                Assert.InRange(y0 - b[4 * k + 1], -1.5, 1.5);
                Assert.InRange(y1 + 1 - b[4 * k + 3], -1.5, 1.5);
                // (PIL counts more edge pixels: the 873-pixel bottle differs most, by 7 %.)
                Assert.InRange(area / anns[k].Area, 0.9, 1.1);
            }
            if (isFlipped) flippedMasks ??= masks; else plainMasks ??= masks;
            log.WriteLine($"epoch {epoch}: {(isFlipped ? "flipped" : "as is")}, boxes {string.Join(",", b.Take(4))}");
        }
        Assert.True(plainMasks is not null && flippedMasks is not null, "12 epochs should draw both flips");
        // The flip mirrors the masks exactly as it mirrors the pixels.
        Assert.True(flippedMasks!.equal(plainMasks!.flip(2)).all().item<bool>(), "flipped masks are not the mirrored masks");
    }

    [Fact]
    public void MaskDetectorTrainsOnTheMasksAndRefusesDataWithoutThem()
    {
        using var dir = new TestPaths.TempDir();
        var truth = CocoInstancesReader.Read(MaskGt);
        var data = new DetectionTrainData(truth, VocImages, seed: 1, flip: false, masks: true);
        using var scope = NewDisposeScope();
        manual_seed(0);
        var config = FinetuneConfigs.Load("finetune_mask_demo").Detector(19, training: true);
        var model = new FasterRcnn(config);
        model.train();
        var (image, boxes, labels, masks, random) = data.LoadWithMasks(0, 0);
        var losses = model.Losses([image], [boxes], [labels], [random], [masks!]);
        Assert.Equal(["loss_box_reg", "loss_classifier", "loss_mask", "loss_objectness", "loss_rpn_box_reg"], losses.Keys.Order());
        Assert.True(losses["loss_mask"].item<float>() > 0.5, "an untrained mask head's BCE is near ln 2");
        losses["loss_mask"].backward();
        var grad = model.RoiHeads.MaskHead!.named_parameters().First(p => p.name == "predictor.weight").parameter.grad!;
        Assert.True(grad.abs().sum().item<float>() > 0, "the mask loss does not reach the mask head");
        // A Mask R-CNN needs masks.
        Assert.Contains("gt masks", Assert.Throws<ArgumentException>(() => model.Losses([image], [boxes], [labels], [random])).Message);
        // Box-only annotations (the VOC boxes) cannot train masks: the file and the annotation are named.
        var boxesOnly = CocoInstancesReader.Read(TestPaths.Fixture("detection", "detcli", "voc_gt.json"));
        var e = Assert.Throws<ArgumentException>(() => new DetectionTrainData(boxesOnly, VocImages, 1, false, masks: true));
        Assert.Contains("voc_gt.json", e.Message);
        Assert.Contains("annotation id 1", e.Message);
        Assert.Contains("no segmentation", e.Message);
    }
}
