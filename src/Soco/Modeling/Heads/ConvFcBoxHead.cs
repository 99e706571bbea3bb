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
public sealed class ConvFcBoxHead : Module<Tensor, Tensor>, IConvPrecision
{
    // Declaration order = registration order = PyTorch's parameter order.
    readonly Conv2d conv1;
    readonly BatchNorm bn1;
    readonly Conv2d conv2;
    readonly BatchNorm bn2;
    readonly Conv2d conv3;
    readonly BatchNorm bn3;
    readonly Conv2d conv4;
    readonly BatchNorm bn4;
    readonly Linear fc1;

    public ConvFcBoxHead(int inChannels = 256, int convDim = 256, int resolution = 7, int fcDim = 1024) : base(nameof(ConvFcBoxHead))
    {
        InChannels = inChannels;
        Resolution = resolution;
        OutDim = fcDim;
        conv1 = nn.Conv2d(inChannels, convDim, 3, padding: 1, bias: false);
        bn1 = Norms.BatchNorm2d(convDim);
        conv2 = nn.Conv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn2 = Norms.BatchNorm2d(convDim);
        conv3 = nn.Conv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn3 = Norms.BatchNorm2d(convDim);
        conv4 = nn.Conv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn4 = Norms.BatchNorm2d(convDim);
        fc1 = nn.Linear((long)convDim * resolution * resolution, fcDim, hasBias: true);
        RegisterComponents();
    }

    public int InChannels { get; }
    public int Resolution { get; }
    public int OutDim { get; }

    /// <summary>Precision of conv1..conv4 (fc1 stays float32).</summary>
    public ConvPrecision ConvPrecision { get; set; }

    /// <summary>K×C×S×S pooled RoIs → K×fcDim.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pr = ConvPrecision;
        var y = nn.functional.relu(bn1.forward(MixedPrecision.Conv(conv1, x, pr)));
        y = nn.functional.relu(bn2.forward(MixedPrecision.Conv(conv2, y, pr)));
        y = nn.functional.relu(bn3.forward(MixedPrecision.Conv(conv3, y, pr)));
        y = nn.functional.relu(bn4.forward(MixedPrecision.Conv(conv4, y, pr)));
        return nn.functional.relu(fc1.forward(y.flatten(1))).MoveToOuterDisposeScope();
    }
}
