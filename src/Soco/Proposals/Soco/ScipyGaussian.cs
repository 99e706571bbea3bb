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
    /// Smooths <paramref name="src"/> (H×W×3 interleaved float64) into <paramref name="dst"/>; <paramref name="tmp"/>
    /// has the same size. Spatial axes only, channels are independent.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Filter(double[] src, double[] dst, double[] tmp, int width, int height, double[] half)
    {
        int r = half.Length - 1;
        int rowLen = width * 3;
        double w0 = half[0];
        // axis 0 (vertical): src -> tmp
        var rowIdx = new int[2 * r + 1];
        for (int y = 0; y < height; y++)
        {
            for (int j = -r; j <= r; j++) rowIdx[j + r] = Reflect(y + j, height) * rowLen;
            var o = tmp.AsSpan(y * rowLen, rowLen);
            var c = src.AsSpan(y * rowLen, rowLen);
            Times(o, c, w0);
            for (int j = r; j >= 1; j--)
            {
                var up = src.AsSpan(rowIdx[r - j], rowLen);
                var dn = src.AsSpan(rowIdx[r + j], rowLen);
                AddPairTimes(o, up, dn, half[j]);
            }
        }
        // axis 1 (horizontal): tmp -> dst, through a padded line buffer
        var line = new double[(width + 2 * r) * 3];
        for (int y = 0; y < height; y++)
        {
            var row = tmp.AsSpan(y * rowLen, rowLen);
            row.CopyTo(line.AsSpan(r * 3));
            for (int j = 1; j <= r; j++)
            {
                int left = Reflect(-j, width) * 3, right = Reflect(width - 1 + j, width) * 3;
                for (int ch = 0; ch < 3; ch++)
                {
                    line[(r - j) * 3 + ch] = row[left + ch];
                    line[(r + width - 1 + j) * 3 + ch] = row[right + ch];
                }
            }
            var o = dst.AsSpan(y * rowLen, rowLen);
            var c = line.AsSpan(r * 3, rowLen);
            Times(o, c, w0);
            for (int j = r; j >= 1; j--)
            {
                var lf = line.AsSpan((r - j) * 3, rowLen);
                var rt = line.AsSpan((r + j) * 3, rowLen);
                AddPairTimes(o, lf, rt, half[j]);
            }
        }
    }

    /// <summary>o[k] += (a[k] + b[k]) · w, lane-wise (separate IEEE add, multiply and add: the scalar loop's values).</summary>
    private static void AddPairTimes(Span<double> o, ReadOnlySpan<double> a, ReadOnlySpan<double> b, double w)
    {
        int k = 0, n = o.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            var vw = Vector256.Create(w);
            for (; k <= n - 4; k += 4)
            {
                var s = Vector256.Create(a.Slice(k, 4)) + Vector256.Create(b.Slice(k, 4));
                (Vector256.Create(o.Slice(k, 4)) + s * vw).CopyTo(o.Slice(k, 4));
            }
        }
        for (; k < n; k++) o[k] += (a[k] + b[k]) * w;
    }

    /// <summary>o[k] = c[k] · w.</summary>
    private static void Times(Span<double> o, ReadOnlySpan<double> c, double w)
    {
        int k = 0, n = o.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            var vw = Vector256.Create(w);
            for (; k <= n - 4; k += 4) (Vector256.Create(c.Slice(k, 4)) * vw).CopyTo(o.Slice(k, 4));
        }
        for (; k < n; k++) o[k] = c[k] * w;
    }
}
