using Soco.Imaging;

namespace Soco.Tests.Imaging.Reference;

/// <summary>
/// PIL's <c>Image.resize(size, BILINEAR)</c> for 8-bit RGB, bit-exact: separable convolution with a triangle filter
/// whose support widens with the downscale factor (so downscaling antialiases), coefficients normalised and rounded to
/// 22-bit fixed point, horizontal pass first, then vertical (PIL's Resample.c). torchvision's <c>Resize</c> and
/// <c>RandomResizedCrop</c> on PIL images call exactly this.
/// </summary>
/// <remarks>The straightforward scalar PilResize: the oracle the optimised one is checked against (PilResizeFastPathTests);
/// itself checked bit-exact on the PIL fixtures by PilResizeTests.</remarks>
public static class PilResizeReference
{
    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes the whole image to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static RgbImage Bilinear(RgbImage src, int width, int height) =>
        Bilinear(src, 0, 0, src.Width, src.Height, width, height);

    /// <summary>
    /// Resizes the region [x0, x1)×[y0, y1) of <paramref name="src"/> (PIL's <c>box</c> argument; crop-then-resize
    /// with integer boxes gives the same pixels) to <paramref name="width"/>×<paramref name="height"/>.
    /// </summary>
    public static RgbImage Bilinear(RgbImage src, double x0, double y0, double x1, double y1, int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"target size must be positive, got {width}×{height}");
        bool needH = width != src.Width || x0 != 0 || x1 != src.Width;
        bool needV = height != src.Height || y0 != 0 || y1 != src.Height;

        var (yBounds, yCoeffs, yK) = Coefficients(src.Height, y0, y1, height);
        // Only the source rows that the vertical pass reads need the horizontal pass.
        int yFirst = yBounds[0], yLast = yBounds[2 * (height - 1)] + yBounds[2 * (height - 1) + 1];
        RgbImage cur = src;
        int rowOffset = 0;
        if (needH)
        {
            var (xBounds, xCoeffs, xK) = Coefficients(src.Width, x0, x1, width);
            int rows = needV ? yLast - yFirst : src.Height;
            int start = needV ? yFirst : 0;
            cur = Horizontal(src, start, rows, width, xBounds, xCoeffs, xK);
            rowOffset = start;
        }
        if (needV)
            cur = Vertical(cur, rowOffset, height, yBounds, yCoeffs, yK);
        return ReferenceEquals(cur, src) ? new RgbImage(src.Width, src.Height, (byte[])src.Pixels.Clone()) : cur;
    }

    static double Triangle(double x)
    {
        if (x < 0) x = -x;
        return x < 1 ? 1 - x : 0;
    }

    /// <summary>precompute_coeffs + normalize_coeffs_8bpc of PIL: per output pixel its first input index, count, and fixed-point weights.</summary>
    static (int[] bounds, int[] coeffs, int ksize) Coefficients(int inSize, double in0, double in1, int outSize)
    {
        double scale = (in1 - in0) / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 1.0 * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var kk = new double[outSize * ksize];
        var coeffs = new int[outSize * ksize];
        double ss = 1.0 / filterScale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            int k0 = xx * ksize;
            int x = 0;
            for (; x < xmax; x++)
            {
                double w = Triangle((x + xmin - center + 0.5) * ss);
                kk[k0 + x] = w;
                ww += w;
            }
            for (x = 0; x < xmax; x++)
                if (ww != 0.0) kk[k0 + x] /= ww;
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        for (int i = 0; i < kk.Length; i++)
            coeffs[i] = kk[i] < 0 ? (int)(-0.5 + kk[i] * (1 << PrecisionBits)) : (int)(0.5 + kk[i] * (1 << PrecisionBits));
        return (bounds, coeffs, ksize);
    }

    static byte Clip8(long v)
    {
        long s = v >> PrecisionBits;
        return s < 0 ? (byte)0 : s > 255 ? (byte)255 : (byte)s;
    }

    static RgbImage Horizontal(RgbImage src, int rowStart, int rows, int outW, int[] bounds, int[] coeffs, int ksize)
    {
        var dst = new RgbImage(outW, rows);
        byte[] s = src.Pixels, d = dst.Pixels;
        int inStride = src.Width * 3, outStride = outW * 3;
        for (int y = 0; y < rows; y++)
        {
            int rowIn = (y + rowStart) * inStride, rowOut = y * outStride;
            for (int xx = 0; xx < outW; xx++)
            {
                int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], k0 = xx * ksize;
                long s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++)
                {
                    int p = rowIn + (x + xmin) * 3;
                    long k = coeffs[k0 + x];
                    s0 += s[p] * k;
                    s1 += s[p + 1] * k;
                    s2 += s[p + 2] * k;
                }
                int o = rowOut + xx * 3;
                d[o] = Clip8(s0);
                d[o + 1] = Clip8(s1);
                d[o + 2] = Clip8(s2);
            }
        }
        return dst;
    }

    static RgbImage Vertical(RgbImage src, int rowOffset, int outH, int[] bounds, int[] coeffs, int ksize)
    {
        int w = src.Width, stride = w * 3;
        var dst = new RgbImage(w, outH);
        byte[] s = src.Pixels, d = dst.Pixels;
        for (int yy = 0; yy < outH; yy++)
        {
            int ymin = bounds[yy * 2] - rowOffset, ymax = bounds[yy * 2 + 1], k0 = yy * ksize;
            int rowOut = yy * stride;
            for (int xx = 0; xx < stride; xx++)
            {
                long acc = 1 << (PrecisionBits - 1);
                for (int y = 0; y < ymax; y++)
                    acc += s[(y + ymin) * stride + xx] * (long)coeffs[k0 + y];
                d[rowOut + xx] = Clip8(acc);
            }
        }
        return dst;
    }
}
