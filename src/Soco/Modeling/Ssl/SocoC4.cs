using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// SoCo_C4 (docs/soco-reference.md §5.2): stem → layer3 (C4) → RoIAlign 14×14 aligned on C4 → layer4 on the RoIs → 7×7 average →
/// projector (2048 → 4096 → 256) → predictor. Names <c>encoder, projector, predictor, encoder_k, projector_k</c>,
/// plus the buffer <c>ema_step</c>. The official unused MoCo queue buffers are not created.
/// </summary>
public sealed class SocoC4 : SocoModel
{
    public const int RoiSize = 14;

    public SocoC4(SocoConfig? config = null) : base(nameof(SocoC4), config ?? new SocoConfig())
    {
        FinishConstruction(() => SslBranch.ResNetProjector(Config));
    }

    public ResNet Encoder => Online.Encoder;
    public MlpHead Projector => Online.Projector;

    protected override int? ExpectedPairs => 1;
    protected override long SlotsPerList(long boxesPerList) => boxesPerList;

    /// <summary>Per-box 2048-d (C5-width) features of one view: the official C4 encoder with boxes.</summary>
    public Tensor BoxFeatures(Tensor image, Tensor boxes, bool target = false)
    {
        using var scope = NewDisposeScope();
        var net = Branch(target).Encoder;
        var c4 = net.ForwardToC4(image);
        return PoolC4(net, c4, boxes).MoveToOuterDisposeScope();
    }

    Tensor PoolC4(ResNet net, Tensor c4, Tensor boxes)
    {
        var rois = RoiPooling.PoolOneLevel(c4, boxes, RoiSize, aligned: true, samplingRatio: -1, hostBoxes: HostBoxes(boxes));
        var c5 = MixedPrecision.Float32(net.Layer4.forward(rois));
        return nn.functional.avg_pool2d(c5, [c5.shape[2], c5.shape[3]], [1, 1]).flatten(1);
    }

    protected override Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks)
    {
        using var scope = NewDisposeScope();
        var net = Branch(target).Encoder;
        var c4 = net.ForwardToC4(image);
        var outs = new Tensor[boxLists.Count];
        for (int i = 0; i < boxLists.Count; i++)
        {
            var b = boxLists[i];
            var f = PoolC4(net, c4, b);
            var e = Project(f, target);
            outs[i] = e.reshape(b.shape[0], b.shape[1], -1).MoveToOuterDisposeScope();
        }
        return outs;
    }
}
