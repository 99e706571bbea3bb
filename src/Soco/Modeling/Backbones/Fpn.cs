using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>mmcv <c>ConvModule</c> with BN and no activation: conv (no bias) → BN. Names <c>conv</c>, <c>bn</c>. The
/// output is in the convolution's working precision (bfloat16 in bf16); <see cref="Fpn"/> hands float32 on.</summary>
public sealed class ConvNorm : Module<Tensor, Tensor>
{
    readonly MixedConv2d conv;
    readonly BatchNorm bn;

    public ConvNorm(long inChannels, long outChannels, long kernel, long padding = 0, long stride = 1) : base(nameof(ConvNorm))
    {
        conv = new MixedConv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, bias: false);
        bn = Norms.BatchNorm2d(outChannels);
        RegisterComponents();
        ResetParameters();
    }

    /// <summary>mmcv default: Kaiming-normal, fan_out, relu gain (std √(2/(out·k·k))); BN γ=1, β=0 (docs/soco-reference.md §5.3).</summary>
    public void ResetParameters()
    {
        using var _ = no_grad();
        nn.init.kaiming_normal_(conv.Weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        bn.weight!.Fill(1);
        bn.bias!.zero_();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return bn.forward(conv.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// mmdetection-style FPN as SoCo configures it (docs/soco-reference.md §5.3): lateral 1×1 conv+BN per input level, top-down
/// nearest upsampling to the exact size of the level below (<c>size=</c>, not scale 2), 3×3 conv+BN outputs.
/// Returns P2..P5 for C2..C5, plus P6 = max-pool(P5, kernel 1, stride 2) when <see cref="WithP6"/> (mmdet's
/// <c>num_outs = 5</c> without extra convs; parameter-free, so state dicts are unchanged).
/// Names: <c>lateral_convs.{i}.conv/bn</c>, <c>fpn_convs.{i}.conv/bn</c> (i = 0 ↔ P2).
/// </summary>
public sealed class Fpn : Module<Tensor[], Tensor[]>
{
    readonly ModuleList<ConvNorm> lateral_convs;
    readonly ModuleList<ConvNorm> fpn_convs;

    public Fpn(IReadOnlyList<int> inChannels, int outChannels = 256, bool withP6 = false) : base(nameof(Fpn))
    {
        if (inChannels.Count < 1) throw new ArgumentException("FPN needs at least one input level.", nameof(inChannels));
        InChannels = inChannels.ToArray();
        OutChannels = outChannels;
        WithP6 = withP6;
        lateral_convs = new ModuleList<ConvNorm>(inChannels.Select(c => new ConvNorm(c, outChannels, 1)).ToArray());
        fpn_convs = new ModuleList<ConvNorm>(inChannels.Select(_ => new ConvNorm(outChannels, outChannels, 3, padding: 1)).ToArray());
        RegisterComponents();
    }

    public int[] InChannels { get; }
    public int OutChannels { get; }
    public bool WithP6 { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        if (inputs.Length != InChannels.Length)
            throw new ArgumentException($"FPN expects {InChannels.Length} feature maps, got {inputs.Length}.", nameof(inputs));
        using var scope = NewDisposeScope();
        var laterals = new Tensor[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) laterals[i] = lateral_convs[i].forward(inputs[i]);
        for (int i = inputs.Length - 1; i > 0; i--)
        {
            var size = new[] { laterals[i - 1].shape[2], laterals[i - 1].shape[3] };
            // mmdet adds in place onto the lateral; out-of-place here keeps autograd simple, same values.
            laterals[i - 1] = laterals[i - 1].Plus(nn.functional.interpolate(laterals[i], size: size, mode: InterpolationMode.Nearest));
        }
        var outs = new List<Tensor>(inputs.Length + 1);
        // bf16: the laterals and the top-down sums stay bfloat16 (autocast's nearest upsampling and add); the levels
        // leave in float32 for RoIAlign (torchvision's roi_align runs in float32 under autocast too).
        for (int i = 0; i < inputs.Length; i++) outs.Add(MixedPrecision.Float32(fpn_convs[i].forward(laterals[i])));
        if (WithP6) outs.Add(nn.functional.max_pool2d(outs[^1], 1, 2));
        foreach (var t in outs) t.MoveToOuterDisposeScope();
        return outs.ToArray();
    }
}
