using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>Arithmetic precision of the convolutions (<c>precision</c> in the pretraining config).</summary>
public enum ConvPrecision
{
    /// <summary>Everything in float32 (the default; the parity tests' path).</summary>
    Fp32,

    /// <summary>
    /// Backbone, FPN and box-head convolutions and the linear layers of the box head and MLPs compute in bfloat16, as
    /// under PyTorch's CPU autocast; everything else stays float32 (see <see cref="MixedConv2d"/>,
    /// <see cref="MixedLinear"/>).
    /// </summary>
    Bf16,
}

/// <summary>
/// The model's one convolution layer: a 2-D convolution (zero padding) with PyTorch's <c>Conv2d</c> parameters
/// (<c>weight</c>, <c>bias</c>: same names, shapes and default initialisation, drawn in the same order, so state dicts
/// and seeded runs are unchanged) whose arithmetic precision and memory layout are settings of the layer itself
/// (<see cref="MixedPrecision.Apply"/> sets them over a whole model), so the modules built from it carry no precision
/// branches.
/// <para>bf16 "by hand": TorchSharp 0.107 has no autocast and no GradScaler, so nothing chooses a dtype per op. In
/// <see cref="ConvPrecision.Bf16"/> the input (cast when it is float32) and a bfloat16 copy of the float32 weight go
/// into the convolution (oneDNN accumulates in float32) and the output stays bfloat16, so the conv → BatchNorm → ReLU
/// chain inside a block runs on bfloat16 maps as under PyTorch's autocast (BatchNorm keeps float32 statistics and
/// parameters, LibTorch's mixed-type kernel). Each module built from this layer hands float32 to its caller
/// (<see cref="MixedPrecision.Float32"/> at the block, stem, FPN-level and box-head boundaries): the residual sum,
/// RoIAlign, linear layers, the L2 normalisation and the loss stay float32. The parameters stay float32 (master
/// weights: the optimiser, LARS norms, EMA and checkpoints see float32 only; the weight's gradient flows back through
/// the cast and arrives as float32). bfloat16 has float32's exponent range, so no loss scaling is needed (the reason
/// fp16 would need a GradScaler).</para>
/// <para>Channels-last: TorchSharp 0.107 has no <c>memory_format</c> argument, but a (N, C, H, W) tensor whose strides
/// are NHWC's is what PyTorch's <c>channels_last</c> is, and LibTorch's convolution, BatchNorm, ReLU, pooling and
/// nearest upsampling keep that layout; oneDNN then skips the reorder to and from its blocked layout around every
/// convolution (docs/bf16.md).</para>
/// </summary>
public sealed class MixedConv2d : Module<Tensor, Tensor>
{
    // Field names are the state-dict keys (registered by RegisterComponents; Module.to replaces them by name).
    Parameter weight;
    Parameter? bias;

    public MixedConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0, bool bias = true)
        : base("Conv2d")
    {
        // TorchSharp's Conv2d draws the default init (Kaiming-uniform a=√5, then the bias); taking its values keeps
        // every seeded model identical to the one built from nn.Conv2d.
        using (var c = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, bias: bias))
        using (no_grad())
        {
            weight = new Parameter(c.weight!.detach().clone());
            this.bias = c.bias is null ? null : new Parameter(c.bias.detach().clone());
        }
        InChannels = inChannels;
        OutChannels = outChannels;
        Stride = [stride, stride];
        Padding = [padding, padding];
        RegisterComponents();
    }

    public long InChannels { get; }
    public long OutChannels { get; }
    long[] Stride { get; }
    long[] Padding { get; }
    static readonly long[] Dilation = [1, 1];

    /// <summary>The float32 (master) weight, out × in × k × k.</summary>
    public Parameter Weight => weight;
    public Parameter? Bias => bias;

    public ConvPrecision Precision { get; set; }

    /// <summary>Run the convolution on an NHWC-strided input (converted here when it is not already).</summary>
    public bool ChannelsLast { get; set; }

    public override Tensor forward(Tensor x)
    {
        if (x.ndim != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"Conv2d expects an N×{InChannels}×H×W input, got [{string.Join(", ", x.shape)}].");
        if (Precision == ConvPrecision.Fp32 && !ChannelsLast)
            return nn.functional.conv2d(x, weight, bias, Stride, Padding, Dilation);
        using var scope = NewDisposeScope();
        if (ChannelsLast) x = MixedPrecision.ToChannelsLast(x);
        Tensor y;
        if (Precision == ConvPrecision.Fp32)
            y = nn.functional.conv2d(x, weight, bias, Stride, Padding, Dilation);
        else
        {
            var (xb, w, b) = WeightCasts.Bf16Operands(x, weight, bias);
            y = nn.functional.conv2d(xb, w, b, Stride, Padding, Dilation);
        }
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The model's linear layer (box head FC, projector and predictor MLPs): PyTorch's <c>Linear</c> parameters
/// (<c>weight</c>, <c>bias</c>: same names, shapes and default initialisation, drawn in the same order) with the
/// precision setting of <see cref="MixedConv2d"/>. In float32 the forward is <c>Linear.forward</c>'s call
/// (bit-identical). In <see cref="ConvPrecision.Bf16"/> it does what PyTorch's CPU autocast does to <c>linear</c>: the
/// input (cast when it is float32) and the cached bfloat16 copy of the float32 weight and bias go into one bfloat16 GEMM
/// (oneDNN/MKL accumulate in float32), and the output stays bfloat16 for the BatchNorm1d → ReLU → Linear chain after it;
/// the module that owns the layer hands float32 to its caller (docs/bf16.md §1).
/// </summary>
public sealed class MixedLinear : Module<Tensor, Tensor>
{
    // Field names are the state-dict keys (registered by RegisterComponents; Module.to replaces them by name).
    Parameter weight;
    Parameter? bias;

    public MixedLinear(long inFeatures, long outFeatures, bool hasBias = true) : base("Linear")
    {
        // TorchSharp's Linear draws the default init (Kaiming-uniform a=√5, then the bias); taking its values keeps
        // every seeded model identical to the one built from nn.Linear.
        using (var l = nn.Linear(inFeatures, outFeatures, hasBias))
        using (no_grad())
        {
            weight = new Parameter(l.weight.detach().clone());
            bias = l.bias is null ? null : new Parameter(l.bias.detach().clone());
        }
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        RegisterComponents();
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }

    /// <summary>The float32 (master) weight, out × in.</summary>
    public Parameter Weight => weight;
    public Parameter? Bias => bias;

    public ConvPrecision Precision { get; set; }

    public override Tensor forward(Tensor x)
    {
        if (Precision == ConvPrecision.Fp32)
            return nn.functional.linear(x, weight, bias);
        using var scope = NewDisposeScope();
        var (xb, w, b) = WeightCasts.Bf16Operands(x, weight, bias);
        return nn.functional.linear(xb, w, b).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The bfloat16 copies of the float32 master weights within one training forward (<see cref="MixedPrecision.CacheWeightCasts"/>):
/// PyTorch autocast's cast cache. The weights change only at the optimiser step and the EMA update (which runs before the
/// target branch's first convolution), so inside one forward a parameter's bf16 copy is the same tensor for every view
/// pass: it is cast once — one node in the step's graph, so the backward still reaches the float32 master weight, with
/// the gradients of all its uses summed in bfloat16 before the one cast back, as under autocast — instead of once per
/// convolution call. Copies made with gradients enabled and under <c>no_grad</c> are kept apart.
/// </summary>
static class WeightCasts
{
    [ThreadStatic] static Scope? current;

    /// <summary><paramref name="p"/> as bfloat16: the cached copy inside a scope, a fresh cast outside.</summary>
    public static Tensor Bf16(Tensor p) => current is null ? p.to(ScalarType.BFloat16) : current.Get(p);

    /// <summary>A bf16 layer's operands: the input as bfloat16 (cast when it is not; <c>.to</c> keeps its strides,
    /// preserve_format, so a channels-last input stays channels-last) and the bfloat16 weight and bias.</summary>
    public static (Tensor X, Tensor W, Tensor? B) Bf16Operands(Tensor x, Tensor weight, Tensor? bias)
        => (x.dtype == ScalarType.BFloat16 ? x : x.to(ScalarType.BFloat16), Bf16(weight), bias is null ? null : Bf16(bias));

    public static IDisposable Begin() => current is null ? current = new Scope() : NoScope.Instance;

    sealed class Scope : IDisposable
    {
        readonly Dictionary<Tensor, Tensor> withGrad = new(ReferenceEqualityComparer.Instance);
        readonly Dictionary<Tensor, Tensor> noGrad = new(ReferenceEqualityComparer.Instance);

        public Tensor Get(Tensor p)
        {
            var cache = is_grad_enabled() ? withGrad : noGrad;
            if (!cache.TryGetValue(p, out var c))
                // Owned by the cache, not by the calling layer's dispose scope (disposed when the forward ends; the
                // autograd graph keeps its own reference until the backward).
                cache[p] = c = p.to(ScalarType.BFloat16).DetachFromDisposeScope();
            return c;
        }

        public void Dispose()
        {
            current = null;
            foreach (var c in withGrad.Values.Concat(noGrad.Values)) c.Dispose();
        }
    }

    sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}

/// <summary>Precision and memory layout of a model's <see cref="MixedConv2d"/> layers.</summary>
public static class MixedPrecision
{
    /// <summary>Inside the returned scope (one training forward, while no weight changes except an EMA update before
    /// the target branch's first use) each bf16 <see cref="MixedConv2d"/> casts its weight once and reuses the copy
    /// (<see cref="WeightCasts"/>). Nested scopes share the outermost one. The float32 path never consults it.</summary>
    public static IDisposable CacheWeightCasts() => WeightCasts.Begin();

    /// <summary>Sets the precision and layout of every <see cref="MixedConv2d"/> (and the precision of every
    /// <see cref="MixedLinear"/>) in <paramref name="root"/>'s tree; returns how many layers it set.</summary>
    public static int Apply(nn.Module root, ConvPrecision precision, bool channelsLast = false)
    {
        int n = 0;
        foreach (var m in root.modules().Prepend(root))
            if (m is MixedConv2d c)
            {
                c.Precision = precision;
                c.ChannelsLast = channelsLast;
                n++;
            }
            else if (m is MixedLinear l)
            {
                l.Precision = precision;
                n++;
            }
        return n;
    }

    /// <summary><paramref name="x"/> back in the model's working precision: a bfloat16 map (a <see cref="MixedConv2d"/>
    /// chain in bf16) is cast to float32 for the code after it; any other tensor is returned as it is, so the fp32
    /// path is unchanged and a float64 model (<c>precision=fp64</c>) stays float64.</summary>
    public static Tensor Float32(Tensor x) => x.dtype == ScalarType.BFloat16 ? x.to(ScalarType.Float32) : x;

    /// <summary>A residual block's <paramref name="y"/> + <paramref name="shortcut"/>, in place on <paramref name="y"/>:
    /// in bfloat16 when both are (PyTorch's autocast keeps the residual stream in bfloat16 from block to block, so the
    /// next block's convolutions need no cast), otherwise in float32 (a bf16 branch meeting a float32 shortcut, e.g.
    /// the first block after RoIAlign in SoCo_C4's res5, and every sum of the float32 path, unchanged).</summary>
    public static Tensor ResidualSum(Tensor y, Tensor shortcut)
        => y.dtype == shortcut.dtype ? y.PlusInPlace(shortcut) : Float32(y).PlusInPlace(Float32(shortcut));

    /// <summary>Whether a 4-D tensor has NHWC strides (PyTorch's <c>is_contiguous(memory_format=channels_last)</c>
    /// for the shapes that matter here).</summary>
    public static bool IsChannelsLast(Tensor x)
    {
        if (x.ndim != 4) return false;
        var s = x.stride();
        long c = x.shape[1], w = x.shape[3], h = x.shape[2];
        return s[1] == 1 && (s[3] == c || w == 1) && (s[2] == w * c || h == 1);
    }

    /// <summary><paramref name="x"/> with NHWC strides (the same tensor when it has them already): PyTorch's
    /// <c>x.contiguous(memory_format=torch.channels_last)</c>, which TorchSharp 0.107 does not expose.</summary>
    public static Tensor ToChannelsLast(Tensor x)
    {
        if (IsChannelsLast(x)) return x;
        using var nhwc = x.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }
}
