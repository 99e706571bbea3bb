using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// SoCo's R-CNN box head (<c>FastRCNNConvFCHead</c>, docs/soco-reference.md §5.5): 4 × [3×3 conv (no bias) → BN → ReLU], flatten
/// (channel-major), FC → ReLU. Names <c>conv1..conv4, bn1..bn4, fc1</c>. PyTorch default init (TorchSharp's
/// constructors use the same Kaiming-uniform(a=√5) rule). Released sizes: 256 channels, 7×7 RoIs, 1024-d output.
/// </summary>
public sealed class ConvFcBoxHead : Module<Tensor, Tensor>
{
    // Declaration order = registration order = PyTorch's parameter order.
    readonly MixedConv2d conv1;
    readonly BatchNorm bn1;
    readonly MixedConv2d conv2;
    readonly BatchNorm bn2;
    readonly MixedConv2d conv3;
    readonly BatchNorm bn3;
    readonly MixedConv2d conv4;
    readonly BatchNorm bn4;
    readonly Linear fc1;

    public ConvFcBoxHead(int inChannels = 256, int convDim = 256, int resolution = 7, int fcDim = 1024) : base(nameof(ConvFcBoxHead))
    {
        InChannels = inChannels;
        Resolution = resolution;
        OutDim = fcDim;
        conv1 = new MixedConv2d(inChannels, convDim, 3, padding: 1, bias: false);
        bn1 = Norms.BatchNorm2d(convDim);
        conv2 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn2 = Norms.BatchNorm2d(convDim);
        conv3 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn3 = Norms.BatchNorm2d(convDim);
        conv4 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn4 = Norms.BatchNorm2d(convDim);
        fc1 = nn.Linear((long)convDim * resolution * resolution, fcDim, hasBias: true);
        RegisterComponents();
    }

    public int InChannels { get; }
    public int Resolution { get; }
    public int OutDim { get; }

    /// <summary>K×C×S×S pooled RoIs → K×fcDim.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.relu(bn1.forward(conv1.forward(x)));
        y = nn.functional.relu(bn2.forward(conv2.forward(y)));
        y = nn.functional.relu(bn3.forward(conv3.forward(y)));
        y = nn.functional.relu(bn4.forward(conv4.forward(y)));
        return nn.functional.relu(fc1.forward(MixedPrecision.Float32(y.flatten(1)))).MoveToOuterDisposeScope();
    }
}
