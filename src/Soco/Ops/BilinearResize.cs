using Soco.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Ops;

/// <summary>
/// Bilinear resize (align_corners = false, no antialias) with exactly the arithmetic of PyTorch 1.13's CPU kernel
/// (<c>upsample_bilinear2d</c>, what torchvision 0.14's detection transform runs; docs/detection-parts.md §Transform).
/// <para>Why not LibTorch's own <c>interpolate</c>: LibTorch 2.x picks between two kernels by thread count and channel
/// count (one thread and 3 channels take a separable antialias-style path) and they round differently from 1.13 by a
/// few units in the last place. A detector with random weights turns that into different proposals, so parity with
/// torchvision needs this one. Per axis: scale = in/out in float32, source = scale·(i + 0.5) − 0.5 in double,
/// clamped at 0, index = trunc, the upper neighbour clamped to the edge, λ1 = float(source − index), λ0 = 1 − λ1 (float); the
/// value is <c>fma(t0, w0, t1·w1)</c> along the width, then the same along the height (the 1.13 build contracts the
/// expression to a fused multiply-add; emulated here in float64, exact for float32 inputs).</para>
/// </summary>
public static class BilinearResize
{
    /// <summary>Resizes C×H×W (or N×C×H×W) float32 <paramref name="image"/> to <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static Tensor Apply(Tensor image, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.dim() is not (3 or 4)) throw new ArgumentException($"bilinear resize needs C×H×W or N×C×H×W, got shape [{string.Join(", ", image.shape)}].", nameof(image));
        if (image.dtype != float32) throw new ArgumentException("bilinear resize is defined here for float32 images.", nameof(image));
        if (height < 1 || width < 1) throw new ArgumentException($"output size {height}×{width} must be positive.");
        long hd = image.dim() - 2, wd = image.dim() - 1;
        long inH = image.shape[hd], inW = image.shape[wd];
        using var scope = NewDisposeScope();
        var (y0, y1, wy0, wy1) = Axis(inH, height, image.device);
        var (x0, x1, wx0, wx1) = Axis(inW, width, image.device);
        var r0 = image.index_select(hd, y0);
        var r1 = image.index_select(hd, y1);
        var t0 = Fma(r0.index_select(wd, x0), wx0, r0.index_select(wd, x1), wx1);
        var t1 = Fma(r1.index_select(wd, x0), wx0, r1.index_select(wd, x1), wx1);
        var out1 = Fma(t0, wy0.view(-1, 1), t1, wy1.view(-1, 1));
        return out1.MoveToOuterDisposeScope();
    }

    /// <summary>float32(a·w0 + round32(b·w1)) with a·w0 exact (float64), the contracted form of <c>a*w0 + b*w1</c>.</summary>
    static Tensor Fma(Tensor a, Tensor w0, Tensor b, Tensor w1)
    {
        var second = (b * w1).to(float64);
        var first = a.to(float64) * w0.to(float64);
        return first.Plus(second).to(float32);
    }

    static (Tensor I0, Tensor I1, Tensor W0, Tensor W1) Axis(long input, long output, Device device)
    {
        var i0 = new long[output];
        var i1 = new long[output];
        var w0 = new float[output];
        var w1 = new float[output];
        float scale = (float)input / output;
        for (long i = 0; i < output; i++)
        {
            if (input == output)
            {
                i0[i] = i1[i] = i;
                w0[i] = 1;
                w1[i] = 0;
                continue;
            }
            // Source position in double from the float32 scale; the fraction is rounded to float32 once.
            double src = scale * (i + 0.5) - 0.5;
            if (src < 0) src = 0;
            long idx = (long)src;
            i0[i] = idx;
            i1[i] = idx < input - 1 ? idx + 1 : idx;
            w1[i] = (float)(src - idx);
            w0[i] = 1f - w1[i];
        }
        return (tensor(i0, device: device), tensor(i1, device: device), tensor(w0, device: device), tensor(w1, device: device));
    }
}
