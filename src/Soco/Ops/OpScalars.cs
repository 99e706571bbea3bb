using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Ops;

/// <summary>
/// Tensor–number operations the detector's box arithmetic needs beyond <see cref="Soco.Modeling.ExplicitScalars"/>,
/// with the same rule: every <see cref="Scalar"/> lives in a <c>using</c> local until the native call returns, because an
/// implicitly converted scalar can be freed by the finalizer thread while LibTorch still reads it (see
/// <c>ExplicitScalars</c>). Each is exactly the implicit form's operation, so results are bit-identical.
/// </summary>
public static class OpScalars
{
    /// <summary><c>t &lt; v</c>.</summary>
    public static Tensor LtScalar(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.lt(s);
    }

    /// <summary><c>t &gt; v</c>.</summary>
    public static Tensor GtScalar(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.gt(s);
    }

    /// <summary><c>t == v</c>.</summary>
    public static Tensor EqScalar(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.eq(s);
    }

    /// <summary><c>t ≥ v</c> for integer tensors.</summary>
    public static Tensor GeScalar(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.ge(s);
    }

    /// <summary><c>t.clamp(min, max)</c> with floating bounds.</summary>
    public static Tensor ClampRange(this Tensor t, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return t.clamp(lo, hi);
    }

    /// <summary><c>t.clamp(max: v)</c> with a floating bound.</summary>
    public static Tensor ClampMaxScalar(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.clamp_max(s);
    }

    /// <summary><c>t.clamp(min: v)</c> with an integer bound (index tensors).</summary>
    public static Tensor ClampMinInt(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.clamp_min(s);
    }

    /// <summary><c>t.masked_fill_(mask, v)</c>.</summary>
    public static Tensor MaskedFillInPlace(this Tensor t, Tensor mask, double v)
    {
        using var s = v.ToScalar();
        return t.masked_fill_(mask, s);
    }

    /// <summary><c>t.masked_fill_(mask, v)</c> for integer tensors.</summary>
    public static Tensor MaskedFillInPlace(this Tensor t, Tensor mask, long v)
    {
        using var s = v.ToScalar();
        return t.masked_fill_(mask, s);
    }

    /// <summary><c>torch.full(shape, v)</c>.</summary>
    public static Tensor Full(long[] shape, long v, ScalarType dtype, Device device)
    {
        using var s = v.ToScalar();
        return full(shape, s, dtype: dtype, device: device);
    }

    /// <summary><c>torch.arange(start, stop)</c> (integer steps of 1).</summary>
    public static Tensor Arange(long start, long stop, ScalarType dtype, Device device)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        using var one = 1.ToScalar();
        return arange(a, b, one, dtype: dtype, device: device);
    }

    /// <summary>Indices where a 1-D bool mask is true, as int64 (<c>torch.where(mask)[0]</c>).</summary>
    public static Tensor WhereTrue(this Tensor mask) => mask.nonzero().view(-1);
}
