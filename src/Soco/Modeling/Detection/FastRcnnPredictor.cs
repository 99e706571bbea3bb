using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling.Detection;

/// <summary>
/// The box predictor (torchvision 0.14 <c>FastRCNNPredictor</c>): <c>cls_score</c> Linear(in → K+1) class logits with
/// index 0 = background, <c>bbox_pred</c> Linear(in → (K+1)·4) class-specific deltas (the background slot included, as
/// torchvision lays it out). PyTorch's default Linear init (TorchSharp's constructors use the same rule).
/// </summary>
public sealed class FastRcnnPredictor : Module<Tensor, (Tensor ClassLogits, Tensor BoxDeltas)>
{
    readonly Linear cls_score;
    readonly Linear bbox_pred;

    /// <param name="inChannels">Box head output size.</param>
    /// <param name="numClasses">Classes including background.</param>
    public FastRcnnPredictor(int inChannels, int numClasses) : base(nameof(FastRcnnPredictor))
    {
        if (numClasses < 2) throw new ArgumentException("a box predictor needs background plus at least one class.", nameof(numClasses));
        cls_score = Linear(inChannels, numClasses);
        bbox_pred = Linear(inChannels, numClasses * 4);
        NumClasses = numClasses;
        RegisterComponents();
    }

    /// <summary>Classes including background.</summary>
    public int NumClasses { get; }

    public override (Tensor ClassLogits, Tensor BoxDeltas) forward(Tensor x)
    {
        var flat = x.dim() > 2 ? x.flatten(1) : x;
        return (cls_score.forward(flat), bbox_pred.forward(flat));
    }
}
