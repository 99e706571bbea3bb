using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>
/// One network of a self-supervised model's online/target pair: the backbone, for the FPN models the neck and box
/// head, and the projector (docs/soco-reference.md §5.7). The model builds the online branch, then its target as
/// <see cref="TargetNetwork.CopyOf"/> the online one, and moves the target by EMA (lightly's <c>deepcopy</c> +
/// <c>update_momentum</c> pattern). The model registers the parts itself, under the official names (<c>encoder, neck,
/// head, projector</c>; the target's with <c>_k</c>), not under the branch, so that state dicts, checkpoints, exports
/// and the official weights keep their keys.
/// </summary>
public sealed class SslBranch : nn.Module
{
    /// <summary>The parts in the official order; construct them in that order too (torch's generator is drawn per
    /// constructor, and a seeded model's initial weights depend on the order).</summary>
    public SslBranch(ResNet encoder, Fpn? neck, ConvFcBoxHead? head, MlpHead projector) : base(nameof(SslBranch))
    {
        if ((neck is null) != (head is null)) throw new ArgumentException("a branch has both a neck and a box head (FPN models) or neither (C4, BYOL).");
        Encoder = encoder;
        Neck = neck;
        Head = head;
        Projector = projector;
        foreach (var (name, module) in Parts) register_module(name, module);
    }

    public ResNet Encoder { get; }
    /// <summary>The FPN (FPN models only).</summary>
    public Fpn? Neck { get; }
    /// <summary>The conv-fc box head (FPN models only).</summary>
    public ConvFcBoxHead? Head { get; }
    public MlpHead Projector { get; }

    /// <summary>The parts by their official names, in the official state-dict order.</summary>
    public IEnumerable<(string Name, nn.Module Module)> Parts
    {
        get
        {
            yield return ("encoder", Encoder);
            if (Neck is not null) yield return ("neck", Neck);
            if (Head is not null) yield return ("head", Head);
            yield return ("projector", Projector);
        }
    }

    /// <summary>ResNet + projector on the C5 width (SoCo_C4: C5 of the RoIs; BYOL: C5 of the image).</summary>
    public static SslBranch ResNetProjector(SocoConfig c)
    {
        var encoder = new ResNet(c.Backbone);
        var projector = new MlpHead(c.Backbone.StageChannels[3], c.MlpHiddenDim, c.EmbeddingDim);
        return new SslBranch(encoder, null, null, projector);
    }

    /// <summary>ResNet → FPN → conv-fc box head → projector on the head's output (SoCo_FPN, SoCo_FPN_Star).</summary>
    public static SslBranch FpnHeadProjector(SocoConfig c)
    {
        var encoder = new ResNet(c.Backbone);
        var neck = new Fpn(c.Backbone.StageChannels, c.FpnChannels);
        var head = new ConvFcBoxHead(c.FpnChannels, c.HeadConvDim, c.RoiOutputSize, c.HeadFcDim);
        var projector = new MlpHead(c.HeadFcDim, c.MlpHiddenDim, c.EmbeddingDim);
        return new SslBranch(encoder, neck, head, projector);
    }
}
