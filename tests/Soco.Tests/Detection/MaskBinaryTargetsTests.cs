using Soco.Modeling.Detection;
using Soco.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>
/// The opt-in binary mask targets (<c>model.mask_binary_targets</c>, Detectron2's ≥ 0.5 rule;
/// docs/mask-rcnn-results.md §The labelme overfit): the mask loss is the BCE against torchvision's soft targets
/// thresholded at 0.5, on the torchvision fixture's RoIs (tests/fixtures/detection/mask_parts.pt); the default stays soft.
/// </summary>
[Collection("torch")]
public class MaskBinaryTargetsTests(ITestOutputHelper log)
{
    [Fact]
    public void BinaryTargetsThresholdTheSoftOnesAndAreOptIn()
    {
        using var f = new DetectionFixture("mask_parts.pt");
        using var scope = NewDisposeScope();
        var soft = MaskRcnnTests.Build(f);
        var binary = MaskRcnnTests.Build(f, new RoiHeadsOptions { MaskBinaryTargets = true });
        soft.train();
        binary.train();
        var (feats, props, sizes) = MaskRcnnTests.Inputs(f);
        Tensor[] gt = [f["gt.0"], f["gt.1"]], labels = [f["gt_labels.0"], f["gt_labels.1"]], masks = [f["gt_masks.0"], f["gt_masks.1"]];
        var samples = soft.SelectTrainingSamples(props, gt, labels, null, [(f["train.pos.0"], f["train.neg.0"]), (f["train.pos.1"], f["train.neg.1"])]);
        var lossSoft = soft.MaskLoss(feats, samples, sizes, masks, labels);
        var lossBinary = binary.MaskLoss(feats, samples, sizes, masks, labels);
        // The soft default is torchvision's loss; the binary one is the BCE of the same logits against targets ≥ 0.5.
        Expect.Close(f["train.loss_mask"], lossSoft, 1e-5, "soft mask loss");
        var boxes = new List<Tensor>();
        var targets = new List<Tensor>();
        var posLabels = new List<Tensor>();
        for (int i = 0; i < 2; i++)
        {
            var pos = samples.Labels[i].GtScalar(0).WhereTrue();
            boxes.Add(samples.Proposals[i].index_select(0, pos));
            posLabels.Add(samples.Labels[i].index_select(0, pos));
            targets.Add(MaskOps.ProjectMasksOnBoxes(masks[i], boxes[i], samples.MatchedIdxs![i].index_select(0, pos), 28));
        }
        var t = cat(targets, 0);
        Assert.True(t.GtScalar(0.01).logical_and(t.LtScalar(0.99)).any().item<bool>(), "the fixture's targets should have soft edges");
        var logits = binary.MaskHead!.SelectChannel(binary.MaskHead.forward(binary.MaskPooler!.Forward(feats, boxes, sizes)), cat(posLabels, 0));
        var expected = nn.functional.binary_cross_entropy_with_logits(logits, t.LtScalar(0.5).logical_not().to(float32));
        Expect.Close(expected, lossBinary, 1e-6, "binary mask loss");
        Assert.True(Math.Abs(lossBinary.item<float>() - lossSoft.item<float>()) > 1e-4, "binary and soft targets gave the same loss");
        log.WriteLine($"loss_mask soft {lossSoft.item<float>():F6}, binary {lossBinary.item<float>():F6}");

        // The fine-tune key reaches the training RoI heads; off by default (every preset keeps torchvision's soft targets).
        Assert.True(FinetuneConfigs.Load("finetune_mask_demo", ["model.mask_binary_targets=true"]).Detector(19, training: true).RoiHeads.MaskBinaryTargets);
        foreach (var name in FinetuneConfigs.PresetNames())
            Assert.False(FinetuneConfigs.Load(name).Detector(19, training: true).RoiHeads.MaskBinaryTargets, name);
    }
}
