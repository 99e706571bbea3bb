using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>Arithmetic precision of the convolutions (<c>precision</c> in the pretraining config).</summary>
public enum ConvPrecision
{
    /// <summary>Everything in float32 (the default; the parity tests' path).</summary>
    Fp32,

    /// <summary>
    /// Backbone, FPN and box-head convolutions compute in bfloat16; everything else stays float32 (see
    /// <see cref="MixedPrecision"/>).
    /// </summary>
    Bf16,
}

/// <summary>A module whose convolutions can run in bfloat16.</summary>
public interface IConvPrecision
{
    ConvPrecision ConvPrecision { get; set; }
}

/// <summary>
/// bf16 "by hand". TorchSharp 0.107 has no autocast and no GradScaler, so nothing chooses a dtype per op. Instead,
/// where the arithmetic is safe in bfloat16 — the convolutions, which accumulate in float32 inside oneDNN and are
/// followed by BatchNorm — the input and a bfloat16 copy of the float32 weight go into the convolution and the output
/// comes back as float32. The parameters stay float32 (master weights: the optimiser, LARS norms, EMA and checkpoints
/// see float32 only; the weight's gradient flows through the cast and arrives as float32). BatchNorm, RoIAlign,
/// linear layers, the L2 normalisation and the loss stay float32. bfloat16 has float32's exponent range, so no loss
/// scaling is needed (the reason fp16 would need a GradScaler).
/// </summary>
public static class MixedPrecision
{
    /// <summary><paramref name="conv"/> applied to <paramref name="x"/> in the given precision; float32 out either way.</summary>
    public static Tensor Conv(Conv2d conv, Tensor x, ConvPrecision precision)
    {
        if (precision == ConvPrecision.Fp32) return conv.forward(x);
        using var scope = NewDisposeScope();
        var w = conv.weight!.to(ScalarType.BFloat16);
        var b = conv.bias is null ? null : conv.bias.to(ScalarType.BFloat16);
        var y = nn.functional.conv2d(x.to(ScalarType.BFloat16), w, b, conv.stride, conv.padding, conv.dilation, conv.groups);
        return y.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>A torchvision <c>downsample</c> (conv → BN) in the given precision.</summary>
    public static Tensor ConvBn(Sequential convBn, Tensor x, ConvPrecision precision)
    {
        if (precision == ConvPrecision.Fp32) return convBn.forward(x);
        var parts = convBn.children().ToArray();
        if (parts.Length != 2 || parts[0] is not Conv2d conv || parts[1] is not BatchNorm bn)
            throw new InvalidOperationException("expected a conv → BN downsample.");
        using var scope = NewDisposeScope();
        return bn.forward(Conv(conv, x, precision)).MoveToOuterDisposeScope();
    }

    /// <summary>Sets the precision of every <see cref="IConvPrecision"/> module in <paramref name="root"/>'s tree.</summary>
    public static void Apply(nn.Module root, ConvPrecision precision)
    {
        if (root is IConvPrecision r) r.ConvPrecision = precision;
        foreach (var m in root.modules()) if (m is IConvPrecision p) p.ConvPrecision = precision;
    }
}
