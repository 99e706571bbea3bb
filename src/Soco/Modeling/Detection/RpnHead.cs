using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling.Detection;

/// <summary>
/// The RPN head shared by all pyramid levels (torchvision 0.14 <c>RPNHead</c>): <c>convDepth</c> × [3×3 conv (bias) →
/// ReLU] — 1 as Detectron2's StandardRPNHead, 2 as torchvision's <c>*_v2</c> models — then a 1×1 conv to A objectness
/// logits and a 1×1 conv to 4A box deltas. Names <c>conv.{i}.0.*</c>, <c>cls_logits.*</c>, <c>bbox_pred.*</c> as
/// torchvision's state dict. Weights start N(0, 0.01²), biases 0 (torchvision's and Detectron2's init), drawn from
/// torch's generator (seed it with <c>torch.manual_seed</c>).
/// </summary>
public sealed class RpnHead : Module<IReadOnlyList<Tensor>, (Tensor[] Logits, Tensor[] Deltas)>
{
    readonly ModuleList<Sequential> conv;
    readonly Conv2d cls_logits;
    readonly Conv2d bbox_pred;

    public RpnHead(int inChannels, int numAnchors, int convDepth = 2) : base(nameof(RpnHead))
    {
        if (convDepth < 1) throw new ArgumentException("RPN head needs at least one conv layer.", nameof(convDepth));
        conv = new ModuleList<Sequential>();
        for (int i = 0; i < convDepth; i++)
            conv.Add(Sequential(("0", Conv2d(inChannels, inChannels, 3, padding: 1, bias: true)), ("1", ReLU())));
        cls_logits = Conv2d(inChannels, numAnchors, 1);
        bbox_pred = Conv2d(inChannels, numAnchors * 4, 1);
        RegisterComponents();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("weight", StringComparison.Ordinal)) init.normal_(p, 0, 0.01);
            else init.zeros_(p);
        }
        NumAnchors = numAnchors;
        ConvDepth = convDepth;
    }

    public int NumAnchors { get; }
    public int ConvDepth { get; }

    /// <summary>Per level: objectness logits N×A×H×W and deltas N×4A×H×W.</summary>
    public override (Tensor[] Logits, Tensor[] Deltas) forward(IReadOnlyList<Tensor> features)
    {
        var logits = new Tensor[features.Count];
        var deltas = new Tensor[features.Count];
        for (int l = 0; l < features.Count; l++)
        {
            using var scope = NewDisposeScope();
            var t = features[l];
            foreach (var layer in conv) t = layer.forward(t);
            logits[l] = cls_logits.forward(t).MoveToOuterDisposeScope();
            deltas[l] = bbox_pred.forward(t).MoveToOuterDisposeScope();
        }
        return (logits, deltas);
    }
}
