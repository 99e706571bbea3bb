using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Runtime;

/// <summary>
/// Tensor–number operations whose <see cref="Scalar"/> arguments stay reachable for the whole native call.
/// <para>Why: in TorchSharp 0.107 a <see cref="Scalar"/> made by an implicit conversion (<c>t.mul(2.0)</c>,
/// <c>t.ge(-1.0)</c>, <c>t.clamp_min(1.0)</c>, <c>arange(n)</c>) is unreachable as soon as its native handle has been
/// read, so a garbage collection during the call lets the finalizer thread free it while LibTorch still reads it
/// ("Unknown scalar type", "Expected false to be true", segmentation faults). TorchSharp itself adds such a scalar in
/// a few overloads that look scalar-free: <c>a + b</c>, <c>a.add(b)</c> and <c>a.add_(b)</c> pass an implicit
/// <c>alpha = 1</c>, and <c>t + 0.5</c> / <c>1.0 - t</c> end in <c>add(scalar)</c>, which does the same.</para>
/// <para>How: every method here builds its scalars with <c>ToScalar()</c> into <c>using</c> locals, so they are
/// disposed — and therefore reachable — only after the call returns. Each is the exact operation the implicit form
/// performs (same scalar types, same kernels), so results are bit-identical. Method names are PascalCase so they never
/// compete with TorchSharp's snake_case overloads.</para>
/// </summary>
public static class ExplicitScalars
{
    /// <summary><c>a + b</c> (TorchSharp's <c>add(b)</c> with its implicit <c>alpha = 1</c> made explicit).</summary>
    public static Tensor Plus(this Tensor a, Tensor b)
    {
        using var one = 1.ToScalar();
        return a.add(b, one);
    }

    /// <summary><c>a.add_(b)</c>, alpha 1 explicit.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b)
    {
        using var one = 1.ToScalar();
        return a.add_(b, one);
    }

    /// <summary><c>t + v</c>.</summary>
    public static Tensor Add(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        using var one = 1.ToScalar();
        return t.add(s, one);
    }

    /// <summary><c>t + v</c>.</summary>
    public static Tensor Add(this Tensor t, int v)
    {
        using var s = v.ToScalar();
        using var one = 1.ToScalar();
        return t.add(s, one);
    }

    /// <summary><c>t.add_(v)</c>.</summary>
    public static Tensor AddInPlace(this Tensor t, int v)
    {
        using var s = v.ToScalar();
        using var one = 1.ToScalar();
        return t.add_(s, one);
    }

    /// <summary><c>v − t</c>, evaluated as TorchSharp does (<c>(−t) + v</c>).</summary>
    public static Tensor SubtractedFrom(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        using var one = 1.ToScalar();
        using var negated = t.negative();
        return negated.add(s, one);
    }

    /// <summary><c>t − v</c>.</summary>
    public static Tensor Sub(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.sub(s);
    }

    /// <summary><c>t − v</c>.</summary>
    public static Tensor Sub(this Tensor t, int v)
    {
        using var s = v.ToScalar();
        return t.sub(s);
    }

    /// <summary><c>t · v</c>.</summary>
    public static Tensor Mul(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.mul(s);
    }

    /// <summary><c>t · v</c>.</summary>
    public static Tensor Mul(this Tensor t, int v)
    {
        using var s = v.ToScalar();
        return t.mul(s);
    }

    /// <summary><c>t / v</c>.</summary>
    public static Tensor Div(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.div(s);
    }

    /// <summary><c>t.clamp_min(v)</c>.</summary>
    public static Tensor ClampMin(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.clamp_min(s);
    }

    /// <summary><c>t.clamp_max(v)</c>.</summary>
    public static Tensor ClampMax(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.clamp_max(s);
    }

    /// <summary><c>t.clamp(min, max)</c>.</summary>
    public static Tensor Clamp(this Tensor t, int min, int max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return t.clamp(lo, hi);
    }

    /// <summary><c>t ≥ v</c>.</summary>
    public static Tensor Ge(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.ge(s);
    }

    /// <summary><c>t ≥ v</c>.</summary>
    public static Tensor Ge(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.ge(s);
    }

    /// <summary><c>t ≤ v</c>.</summary>
    public static Tensor Le(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.le(s);
    }

    /// <summary><c>t.fill_(v)</c>.</summary>
    public static Tensor Fill(this Tensor t, long v)
    {
        using var s = v.ToScalar();
        return t.fill_(s);
    }

    /// <summary><c>t.fill_(v)</c>.</summary>
    public static Tensor Fill(this Tensor t, int v)
    {
        using var s = v.ToScalar();
        return t.fill_(s);
    }

    /// <summary><c>torch.arange(stop)</c>.</summary>
    public static Tensor Arange(long stop, ScalarType dtype, Device device)
    {
        using var s = stop.ToScalar();
        return arange(s, dtype: dtype, device: device);
    }

    /// <summary><c>torch.full_like(like, v)</c>.</summary>
    public static Tensor FullLike(Tensor like, int v)
    {
        using var s = v.ToScalar();
        return full_like(like, s);
    }

    // ---- used by the detector's box arithmetic (Ops, Structures, Modeling/Detection)

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
