using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// The box head of an R-C4 detector (Detectron2's <c>Res5ROIHeads</c>, docs/detector-c4.md §ROI head): the ResNet's
/// res5 stage run on the 14×14 RoIs pooled from C4 (its first block's stride 2 gives 7×7), then — SoCo's C4 recipe,
/// <c>Res5ROIHeadsExtraNorm</c> — one extra, freshly initialised BatchNorm over its 2048 (8·width·4) channels, then the
/// mean over the 7×7 cells: K×C features for <see cref="FastRcnnPredictor"/>. Names <c>res5.{block}.*</c> (torchvision
/// block names, as <c>layer4</c>) and <c>norm.*</c>.
/// <para>A mask head attaches to <see cref="Features"/> (K×C×7×7, after the norm), as Detectron2's C4 mask head reads
/// the res5 features of the foreground boxes.</para>
/// </summary>
public sealed class Res5BoxHead : nn.Module<Tensor, Tensor>
{
    readonly Sequential res5;
    readonly BatchNorm2d? norm;

    /// <param name="backbone">The trunk's ResNet config (depth and width); res5 is its stage 4.</param>
    /// <param name="extraNorm">SoCo's extra norm after res5 (true) or Detectron2's plain <c>Res5ROIHeads</c> (false).</param>
    public Res5BoxHead(ResNetConfig backbone, bool extraNorm = true) : base(nameof(Res5BoxHead))
    {
        ArgumentNullException.ThrowIfNull(backbone);
        res5 = ResNet.Stage(backbone with { Stages = 4 }, 3);
        OutChannels = backbone.StageChannels[3];
        if (extraNorm) norm = nn.BatchNorm2d(OutChannels);
        RegisterComponents();
    }

    /// <summary>Feature size (channels of res5).</summary>
    public int OutChannels { get; }
    public bool ExtraNorm => norm is not null;

    /// <summary>res5 (and the extra norm) on pooled RoIs K×C4×14×14: K×C5×7×7.</summary>
    public Tensor Features(Tensor pooled)
    {
        using var scope = NewDisposeScope();
        var y = res5.forward(pooled);
        if (norm is not null) y = norm.forward(y);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>K×C5: <see cref="Features"/> averaged over the cells (Detectron2: <c>box_features.mean(dim=[2, 3])</c>).</summary>
    public override Tensor forward(Tensor pooled)
    {
        using var scope = NewDisposeScope();
        return Features(pooled).mean([2, 3]).MoveToOuterDisposeScope();
    }
}
