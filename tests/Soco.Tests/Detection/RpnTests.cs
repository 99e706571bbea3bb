using Soco.Data;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Structures;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>RPN head, proposal filtering, anchor targets and losses against torchvision 0.14's RegionProposalNetwork (tests/fixtures/detection/rpn.pt).</summary>
[Collection("torch")]
public class RpnTests(ITestOutputHelper log)
{
    internal static void LoadWeights(nn.Module module, Dictionary<string, Tensor> state)
    {
        using var noGrad = no_grad();
        var own = module.state_dict();
        Assert.Equal(state.Keys.OrderBy(k => k), own.Keys.OrderBy(k => k));
        foreach (var (k, v) in own) v.copy_(state[k]);
    }

    static (ImageList Images, Tensor[] Features) Inputs(DetectionFixture f)
    {
        var feats = Enumerable.Range(0, 5).Select(i => f[$"feat.{i}"]).ToArray();
        var sz = f["image_sizes"].data<long>().ToArray();
        var images = new ImageList(zeros(2, 3, 64, 96), [(sz[0], sz[1]), (sz[2], sz[3])]);
        return (images, feats);
    }

    static RegionProposalNetwork Rpn(DetectionFixture f)
    {
        var head = new RpnHead(4, 3, 2);
        LoadWeights(head, f.Prefixed("depth2.head"));
        return new RegionProposalNetwork(AnchorGenerator.FpnDefault(), head,
            new RpnOptions { PreNmsTopNTrain = 300, PreNmsTopNTest = 200, PostNmsTopNTrain = 250, PostNmsTopNTest = 150 });
    }

    [Theory]
    [InlineData(1)]   // Detectron2's StandardRPNHead
    [InlineData(2)]   // torchvision's *_v2 models
    public void HeadOutputsMatchTorchvisionForEitherConvDepth(int depth)
    {
        using var f = new DetectionFixture("rpn.pt");
        using var scope = NewDisposeScope();
        var head = new RpnHead(4, 3, depth);
        Assert.Equal(depth, head.named_parameters().Count(p => p.name.StartsWith("conv.", StringComparison.Ordinal) && p.name.EndsWith(".0.weight", StringComparison.Ordinal)));
        LoadWeights(head, f.Prefixed($"depth{depth}.head"));
        var (_, feats) = Inputs(f);
        var (logits, deltas) = head.forward(feats);
        for (int l = 0; l < 5; l++)
        {
            Expect.Close(f[$"depth{depth}.logits.{l}"], logits[l], 1e-5, $"logits P{l + 2}");
            Expect.Close(f[$"depth{depth}.deltas.{l}"], deltas[l], 1e-5, $"deltas P{l + 2}");
        }
        // Fresh heads start as torchvision's: weights N(0, 0.01²), biases 0.
        var fresh = new RpnHead(256, 3, depth);
        foreach (var (name, p) in fresh.named_parameters())
        {
            if (name.EndsWith("bias", StringComparison.Ordinal)) Assert.Equal(0f, p.abs().max().item<float>());
            else Assert.InRange(p.std().item<float>(), 0.009, 0.011);
        }
    }

    [Fact]
    public void InferenceProposalsEqualTorchvisions()
    {
        using var f = new DetectionFixture("rpn.pt");
        using var scope = NewDisposeScope();
        var rpn = Rpn(f);
        rpn.eval();
        var (images, feats) = Inputs(f);
        var outp = rpn.Forward(images, feats);
        for (int i = 0; i < 2; i++)
        {
            double eb = Expect.Close(f[$"eval.boxes.{i}"], outp.Boxes[i], 1e-4, $"image {i} proposals");
            double es = Expect.Close(f[$"eval.scores.{i}"], outp.Scores[i], 1e-6, $"image {i} scores");
            log.WriteLine($"image {i}: {outp.Boxes[i].shape[0]} proposals in torchvision's order, boxes max |diff| {eb:E2} px, scores {es:E2}");
        }
        Assert.Null(outp.ObjectnessLoss);
    }

    [Fact]
    public void TrainingProposalsTargetsAndLossesEqualTorchvisions()
    {
        using var f = new DetectionFixture("rpn.pt");
        using var scope = NewDisposeScope();
        var rpn = Rpn(f);
        rpn.train();
        var (images, feats) = Inputs(f);
        var gt = new[] { f["train.gt.0"], f["train.gt.1"] };
        var outp = rpn.Forward(images, feats, gt, [SampleRandom.For(3, 0, 0), SampleRandom.For(3, 0, 1)]);
        for (int i = 0; i < 2; i++) Expect.Close(f[$"train.boxes.{i}"], outp.Boxes[i], 1e-4, $"image {i} training proposals (top-k 300 / 250)");

        // Anchor labels and regression targets are deterministic: equal to torchvision's.
        var anchors = rpn.Anchors.ForBatch(2, (64, 96), feats.Select(t => (t.shape[2], t.shape[3])).ToList(), float32, CPU);
        var (labels, matched) = rpn.AssignTargets(anchors, gt);
        var targets = new Tensor[2];
        for (int i = 0; i < 2; i++)
        {
            Expect.Close(f[$"train.labels.{i}"], labels[i], 0, $"image {i} anchor labels");
            targets[i] = rpn.Coder.Encode(matched[i], anchors[i]);
            Expect.Close(f[$"train.targets.{i}"], targets[i], 1e-5, $"image {i} regression targets");
        }
        // Losses on torchvision's recorded sample.
        var (logits, deltas) = rpn.Head.forward(feats);
        var (obj, reg) = RegionProposalNetwork.ConcatPredictions(logits, deltas);
        var (lo, lb) = rpn.ComputeLoss(obj, reg, labels, targets, [f["train.pos.0"], f["train.pos.1"]], [f["train.neg.0"], f["train.neg.1"]]);
        Expect.Close(f["train.loss_objectness"], lo, 1e-6, "objectness loss");
        Expect.Close(f["train.loss_rpn_box_reg"], lb, 1e-6, "box loss");
        log.WriteLine($"losses on torchvision's sample: objectness {lo.item<float>():F6}, box {lb.item<float>():F6}");

        // Our own sample (SampleRandom): same counts, finite losses that train the head.
        Assert.NotNull(outp.ObjectnessLoss);
        var total = outp.ObjectnessLoss!.Plus(outp.BoxLoss!);
        Assert.True(total.isfinite().item<bool>());
        total.backward();
        Assert.All(rpn.Head.parameters(), p => Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0));

        // An image with no boxes: every anchor is background.
        var (emptyLabels, _) = rpn.AssignTargets(anchors.Take(1).ToList(), [zeros(0, 4)]);
        Assert.Equal(0f, emptyLabels[0].abs().sum().item<float>());
        Assert.Throws<ArgumentException>(() => rpn.Forward(images, feats));
    }
}
