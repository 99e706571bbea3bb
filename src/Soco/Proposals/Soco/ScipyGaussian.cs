using System.Runtime.Intrinsics;

namespace Soco.Proposals.SocoSearch;

/// <summary>
/// <c>scipy.ndimage.gaussian_filter(img, sigma=[s, s, 0], mode='reflect', truncate=4.0)</c> on an H×W×3 float64
/// image (scipy 1.10), bit-exact: axis 0 first, then axis 1; the symmetric-kernel branch of <c>NI_Correlate1D</c>
/// (<c>out = x0·w0; for j = r…1: out += (x[−j] + x[+j])·w[j]</c>); 'reflect' = half-sample symmetric extension.
/// </summary>
internal static class ScipyGaussian
{
    // numpy 1.24's exp (SIMD) differs by one ulp from glibc/.NET for some taps, so the kernel of the sigma that
    // SoCo uses is stored exactly as scipy builds it (_gaussian_kernel1d(0.9, 0, 4), hex floats from numpy 1.24.2).
    private static readonly double[] Sigma09 =
    [
        0.4432691776743569,    // 0x1.c5e85af5bea50p-2  (centre)
        0.2391027221645975,    // 0x1.e9aeb020a6f44p-3
        0.03752627700027392,   // 0x1.336a4e8e9e374p-5
        0.0017136432411788466, // 0x1.c138a6b624c17p-10
        2.276875677129121e-05, // 0x1.7dff10d1ee066p-16
    ];

    /// <summary>Half kernel: [w0 (centre), w1, …, wr], as <c>scipy.ndimage._filters._gaussian_kernel1d</c>.</summary>
    public static double[] HalfKernel(double sigma, double truncate = 4.0)
    {
        int radius = (int)(truncate * sigma + 0.5);
        if (sigma == 0.9 && radius == 4) return (double[])Sigma09.Clone();
        // phi = exp(-0.5 / sigma^2 * x^2); phi / phi.sum() with numpy's pairwise summation.
        int n = 2 * radius + 1;
        var phi = new double[n];
        double c = -0.5 / (sigma * sigma);
        for (int i = 0; i < n; i++)
        {
            double x = i - radius;
            phi[i] = Math.Exp(c * (x * x));
        }
        double sum = PairwiseSum(phi);
        var half = new double[radius + 1];
        for (int j = 0; j <= radius; j++) half[j] = phi[radius + j] / sum;
        return half;
    }

    // numpy's pairwise_sum for float64 (blocks of 8 with 8 accumulators, recursion above 128).
    internal static double PairwiseSum(ReadOnlySpan<double> a)
    {
        int n = a.Length;
        if (n < 8)
        {
            double res = 0.0;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            double res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }

    /// <summary>Reflect ('reflect' = d c b a | a b c d | d c b a) an index into [0, n).</summary>
    internal static int Reflect(int i, int n)
    {
        if (n == 1) return 0;
        int period = 2 * n;
        i %= period;
        if (i < 0) i += period;
        return i < n ? i : period - 1 - i;
    }

    /// <summary>
    /// Smooths the interleaved 8-bit RGB <paramref name="pixels"/>, mapped through <paramref name="lut"/> (256
    /// doubles), into <paramref name="dst"/>: three planes of H×W float64, plane c at c·W·H. Spatial axes only,
    /// channels independent, axis 0 then axis 1, and per output value the same operations in the same order as
    /// scipy's loop (<c>o = x0·w0; o += (x[−j] + x[+j])·w[j]</c> for j = r…1, each a separate IEEE add and
    /// multiply), so the same doubles. One channel at a time goes through <paramref name="plane"/> (W·H doubles);
    /// each row's axis-0 result goes straight into a padded line for axis 1, so there is no full-size intermediate.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe void FilterRgb(byte[] pixels, ReadOnlySpan<double> lut, double[] dst, double[] plane, int width,
        int height, double[] half)
    {
        int r = half.Length - 1, n = width * height;
        if (pixels.Length < 3 * n || dst.Length < 3 * n || plane.Length < n || lut.Length < 256)
            throw new ArgumentException("buffer too short");
        var line = new double[width + 2 * r];
        int* vOff = stackalloc int[2 * r + 1], hOff = stackalloc int[2 * r + 1];
        for (int j = -r; j <= r; j++) hOff[j + r] = j;
        fixed (byte* px = pixels)
        fixed (double* pd = dst, pp = plane, pl = line, pw = half, pLut = lut)
        {
            for (int c = 0; c < 3; c++)
            {
                for (int p = 0, i = c; p < n; p++, i += 3) pp[p] = pLut[px[i]];
                double* outPlane = pd + (long)c * n, mid = pl + r;
                for (int y = 0; y < height; y++)
                {
                    // axis 0 (vertical) into the line's middle, then its 'reflect' padding, then axis 1
                    for (int j = -r; j <= r; j++) vOff[j + r] = Reflect(y + j, height) * width;
                    Correlate(pp, vOff, r, width, pw, mid);
                    for (int j = 1; j <= r; j++)
                    {
                        mid[-j] = mid[Reflect(-j, width)];
                        mid[width - 1 + j] = mid[Reflect(width - 1 + j, width)];
                    }
                    Correlate(mid, hOff, r, width, pw, outPlane + (long)y * width);
                }
            }
        }
    }

    /// <summary>o[x] = b[off[r]+x]·w0, then o[x] += (b[off[r−j]+x] + b[off[r+j]+x])·w[j] for j = r…1, x &lt; len.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void Correlate(double* b, int* off, int r, int len, double* w, double* o)
    {
        int x = 0;
        double* c = b + off[r];
        if (r == 4 && Vector256.IsHardwareAccelerated)
        {
            // SoCo's sigma 0.9: the nine taps held in registers
            double* m4 = b + off[0], m3 = b + off[1], m2 = b + off[2], m1 = b + off[3];
            double* p1 = b + off[5], p2 = b + off[6], p3 = b + off[7], p4 = b + off[8];
            var w0 = Vector256.Create(w[0]);
            var w1 = Vector256.Create(w[1]);
            var w2 = Vector256.Create(w[2]);
            var w3 = Vector256.Create(w[3]);
            var w4 = Vector256.Create(w[4]);
            for (; x <= len - 4; x += 4)
            {
                var acc = Vector256.Load(c + x) * w0;
                acc += (Vector256.Load(m4 + x) + Vector256.Load(p4 + x)) * w4;
                acc += (Vector256.Load(m3 + x) + Vector256.Load(p3 + x)) * w3;
                acc += (Vector256.Load(m2 + x) + Vector256.Load(p2 + x)) * w2;
                acc += (Vector256.Load(m1 + x) + Vector256.Load(p1 + x)) * w1;
                acc.Store(o + x);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var w0 = Vector256.Create(w[0]);
            for (; x <= len - 4; x += 4)
            {
                var acc = Vector256.Load(c + x) * w0;
                for (int j = r; j >= 1; j--)
                    acc += (Vector256.Load(b + off[r - j] + x) + Vector256.Load(b + off[r + j] + x)) * Vector256.Create(w[j]);
                acc.Store(o + x);
            }
        }
        for (; x < len; x++)
        {
            double acc = c[x] * w[0];
            for (int j = r; j >= 1; j--) acc += (b[off[r - j] + x] + b[off[r + j] + x]) * w[j];
            o[x] = acc;
        }
    }
}
