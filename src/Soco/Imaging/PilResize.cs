using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Soco.Imaging;

/// <summary>
/// PIL's <c>Image.resize(size, BILINEAR)</c> for 8-bit RGB, bit-exact: separable convolution with a triangle filter
/// whose support widens with the downscale factor (so downscaling antialiases), coefficients normalised and rounded to
/// 22-bit fixed point, horizontal pass first, then vertical (PIL's Resample.c). torchvision's <c>Resize</c> and
/// <c>RandomResizedCrop</c> on PIL images call exactly this.
/// </summary>
/// <remarks>
/// Both passes accumulate byte × coefficient in 32-bit integers as PIL does (the sums stay below 2^31: the weights
/// are non-negative and add up to about 2^22). The SSE4.1 / AVX2 kernels do the same integer sums, only several at
/// once (the horizontal pass: the three channels of one output pixel; the vertical pass: 32 bytes of a row), so every
/// path gives the same bytes; the scalar loops serve CPUs without those instructions and the edges.
/// </remarks>
public static class PilResize
{
    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>The horizontal pass's output (input of the vertical pass), one per thread, reused.</summary>
    [ThreadStatic] static byte[]? scratch;

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
        if (!needH && !needV) return new RgbImage(src.Width, src.Height, (byte[])src.Pixels.Clone());

        var (yBounds, yCoeffs, yK) = Coefficients(src.Height, y0, y1, height);
        // Only the source rows that the vertical pass reads need the horizontal pass.
        int yFirst = yBounds[0], yLast = yBounds[2 * (height - 1)] + yBounds[2 * (height - 1) + 1];
        if (!needH)
        {
            var outV = RgbImage.Uninitialized(src.Width, height);
            Vertical(src.Pixels, src.Width * 3, 0, outV.Pixels, height, yBounds, yCoeffs, yK);
            return outV;
        }
        var (xBounds, xCoeffs, xK) = Coefficients(src.Width, x0, x1, width);
        if (!needV)
        {
            var outH = RgbImage.Uninitialized(width, src.Height);
            Horizontal(src, 0, src.Height, outH.Pixels, width, xBounds, xCoeffs, xK);
            return outH;
        }
        int rows = yLast - yFirst;
        int need = rows * width * 3;
        var tmp = scratch;
        if (tmp is null || tmp.Length < need) scratch = tmp = new byte[Math.Max(need, 1 << 16)];
        Horizontal(src, yFirst, rows, tmp, width, xBounds, xCoeffs, xK);
        var dst = RgbImage.Uninitialized(width, height);
        Vertical(tmp, width * 3, yFirst, dst.Pixels, height, yBounds, yCoeffs, yK);
        return dst;
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
        var coeffs = new int[outSize * ksize];
        Span<double> kk = ksize <= 256 ? stackalloc double[ksize] : new double[ksize];
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
                kk[x] = w;
                ww += w;
            }
            for (x = 0; x < xmax; x++)
            {
                double k = kk[x];
                if (ww != 0.0) k /= ww;
                coeffs[k0 + x] = k < 0 ? (int)(-0.5 + k * (1 << PrecisionBits)) : (int)(0.5 + k * (1 << PrecisionBits));
            }
            // taps x ≥ xmax keep the weight 0 (PIL's kk is zero-initialised there too)
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return (bounds, coeffs, ksize);
    }

    static byte Clip8(int v)
    {
        int s = v >> PrecisionBits;
        return s < 0 ? (byte)0 : s > 255 ? (byte)255 : (byte)s;
    }

    /// <summary>Rows [rowStart, rowStart + rows) of <paramref name="src"/> resampled horizontally into <paramref name="d"/> (outW·3 bytes a row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void Horizontal(RgbImage src, int rowStart, int rows, byte[] d, int outW, int[] bounds, int[] coeffs, int ksize)
    {
        byte[] s = src.Pixels;
        int inStride = src.Width * 3, outStride = outW * 3;
        // The SIMD loop reads a window of the same length (the longest tap count) for every output pixel, so its
        // trip count never varies: windows are moved left where they would pass the row's end, and the weights
        // re-indexed, with 0 for the taps a pixel does not have (adding 0·byte changes no sum).
        int win = 0;
        for (int xx = 0; xx < outW; xx++) win = Math.Max(win, bounds[2 * xx + 1]);
        var (winStart, winCoeffs) = Windows(bounds, coeffs, ksize, outW, win, src.Width);
        fixed (byte* sp = s, dp = d)
        fixed (int* bp = bounds, cp = coeffs, wp = winStart, kp = winCoeffs)
        {
            int y = 0;
            if (Avx2.IsSupported && rows >= 8)
            {
                // Eight rows at a time, one row per int lane (see HorizontalBlock8).
                int bStart = wp[0] * 3, bEnd = (wp[outW - 1] + win) * 3;
                int tLen = (bEnd - bStart + 16) * 8;
                var t = blockIn;
                if (t is null || t.Length < tLen) blockIn = t = new byte[Math.Max(tLen, 1 << 15)];
                var to = blockOut;
                if (to is null || to.Length < outStride * 8 + 32) blockOut = to = new byte[Math.Max(outStride * 8 + 32, 1 << 14)];
                fixed (byte* tp = t, op = to)
                    for (; y + 8 <= rows; y += 8)
                        HorizontalBlock8(sp + (long)(y + rowStart) * inStride, inStride, dp + (long)y * outStride, outStride, outW,
                            wp, kp, win, bStart, bEnd, tp, op);
            }
            for (; y < rows; y++)
            {
                byte* rowIn = sp + (long)(y + rowStart) * inStride;
                byte* rowOut = dp + (long)y * outStride;
                int xx = 0;
                if (Sse41.IsSupported)
                {
                    // A 4-byte load reads one byte past the pixel: safe except for the image's very last pixel.
                    bool lastRow = y + rowStart == src.Height - 1;
                    int simdEnd = outW;
                    if (lastRow)
                        while (simdEnd > 0 && wp[simdEnd - 1] + win >= src.Width) simdEnd--;
                    var half = Vector128.Create(1 << (PrecisionBits - 1));
                    for (; xx < simdEnd; xx++)
                    {
                        int* k = kp + xx * win;
                        byte* p = rowIn + wp[xx] * 3;
                        var acc = half;
                        int x = 0;
                        for (; x + 1 < win; x += 2, p += 6)
                        {
                            var v0 = Sse41.ConvertToVector128Int32(p);
                            var v1 = Sse41.ConvertToVector128Int32(p + 3);
                            acc = Sse2.Add(acc, Sse2.Add(Sse41.MultiplyLow(v0, Vector128.Create(k[x])), Sse41.MultiplyLow(v1, Vector128.Create(k[x + 1]))));
                        }
                        if (x < win)
                            acc = Sse2.Add(acc, Sse41.MultiplyLow(Sse41.ConvertToVector128Int32(p), Vector128.Create(k[x])));
                        acc = Sse2.ShiftRightArithmetic(acc, PrecisionBits);
                        var sh = Sse2.PackSignedSaturate(acc, acc);
                        uint px = Sse2.PackUnsignedSaturate(sh, sh).AsUInt32().ToScalar();
                        byte* o = rowOut + xx * 3;
                        *(ushort*)o = (ushort)px;
                        o[2] = (byte)(px >> 16);
                    }
                }
                for (; xx < outW; xx++)
                {
                    int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], k0 = xx * ksize;
                    int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                    for (int x = 0; x < xmax; x++)
                    {
                        byte* p = rowIn + (x + xmin) * 3;
                        int k = cp[k0 + x];
                        s0 += p[0] * k;
                        s1 += p[1] * k;
                        s2 += p[2] * k;
                    }
                    byte* o = rowOut + xx * 3;
                    o[0] = Clip8(s0);
                    o[1] = Clip8(s1);
                    o[2] = Clip8(s2);
                }
            }
        }
    }

    [ThreadStatic] static int[]? winStartScratch, winCoeffScratch;
    [ThreadStatic] static byte[]? blockIn, blockOut;

    /// <summary>
    /// The horizontal pass on eight rows at once. The source bytes [bStart, bEnd) of the eight rows are transposed
    /// (byte b of row r to t[(b − bStart)·8 + r]), so that each byte position holds its eight rows side by side; then
    /// every output byte is, in eight int32 lanes (one per row), the same sum PIL computes — half + Σ byte·weight over
    /// the pixel's window — shifted and clipped; the results (eight rows per output byte) are transposed back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void HorizontalBlock8(byte* rowIn, int inStride, byte* rowOut, int outStride, int outW, int* wp, int* kp, int win,
        int bStart, int bEnd, byte* t, byte* to)
    {
        // 1. transpose in: 16 byte positions × 8 rows per step (three rounds of unpacks)
        int b = bStart;
        for (; b + 16 <= bEnd || (b < bEnd && b + 16 <= inStride); b += 16)
        {
            byte* q = rowIn + b;
            var a0 = Vector128.Load(q);
            var a1 = Vector128.Load(q + inStride);
            var a2 = Vector128.Load(q + 2 * inStride);
            var a3 = Vector128.Load(q + 3 * inStride);
            var a4 = Vector128.Load(q + 4 * inStride);
            var a5 = Vector128.Load(q + 5 * inStride);
            var a6 = Vector128.Load(q + 6 * inStride);
            var a7 = Vector128.Load(q + 7 * inStride);
            var b01l = Sse2.UnpackLow(a0, a1).AsInt16(); var b01h = Sse2.UnpackHigh(a0, a1).AsInt16();
            var b23l = Sse2.UnpackLow(a2, a3).AsInt16(); var b23h = Sse2.UnpackHigh(a2, a3).AsInt16();
            var b45l = Sse2.UnpackLow(a4, a5).AsInt16(); var b45h = Sse2.UnpackHigh(a4, a5).AsInt16();
            var b67l = Sse2.UnpackLow(a6, a7).AsInt16(); var b67h = Sse2.UnpackHigh(a6, a7).AsInt16();
            // c: positions 0-3 | 4-7 | 8-11 | 12-15, rows 0-3 and 4-7
            var c0 = Sse2.UnpackLow(b01l, b23l).AsInt32(); var c1 = Sse2.UnpackHigh(b01l, b23l).AsInt32();
            var c2 = Sse2.UnpackLow(b01h, b23h).AsInt32(); var c3 = Sse2.UnpackHigh(b01h, b23h).AsInt32();
            var e0 = Sse2.UnpackLow(b45l, b67l).AsInt32(); var e1 = Sse2.UnpackHigh(b45l, b67l).AsInt32();
            var e2 = Sse2.UnpackLow(b45h, b67h).AsInt32(); var e3 = Sse2.UnpackHigh(b45h, b67h).AsInt32();
            byte* o = t + (b - bStart) * 8;
            Sse2.UnpackLow(c0, e0).AsByte().Store(o);
            Sse2.UnpackHigh(c0, e0).AsByte().Store(o + 16);
            Sse2.UnpackLow(c1, e1).AsByte().Store(o + 32);
            Sse2.UnpackHigh(c1, e1).AsByte().Store(o + 48);
            Sse2.UnpackLow(c2, e2).AsByte().Store(o + 64);
            Sse2.UnpackHigh(c2, e2).AsByte().Store(o + 80);
            Sse2.UnpackLow(c3, e3).AsByte().Store(o + 96);
            Sse2.UnpackHigh(c3, e3).AsByte().Store(o + 112);
        }
        for (; b < bEnd; b++)
            for (int r = 0; r < 8; r++)
                t[(b - bStart) * 8 + r] = rowIn[(long)r * inStride + b];

        // 2. the sums: per output pixel its three channels, eight rows each
        var half = Vector256.Create(1 << (PrecisionBits - 1));
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        for (int xx = 0; xx < outW; xx++)
        {
            byte* p = t + (wp[xx] * 3 - bStart) * 8;
            int* k = kp + xx * win;
            Vector256<int> s0 = half, s1 = half, s2 = half;
            for (int j = 0; j < win; j++, p += 24)
            {
                var kv = Vector256.Create(k[j]);
                s0 = Avx2.Add(s0, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p), kv));
                s1 = Avx2.Add(s1, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 8), kv));
                s2 = Avx2.Add(s2, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 16), kv));
            }
            var w01 = Avx2.PackSignedSaturate(Avx2.ShiftRightArithmetic(s0, PrecisionBits), Avx2.ShiftRightArithmetic(s1, PrecisionBits));
            var w22 = Avx2.PackSignedSaturate(Avx2.ShiftRightArithmetic(s2, PrecisionBits), Avx2.ShiftRightArithmetic(s2, PrecisionBits));
            // bytes: channel 0 rows 0-7, channel 1 rows 0-7, channel 2 rows 0-7 (and a copy, overwritten next)
            Avx.Store(to + xx * 24, Avx2.PermuteVar8x32(Avx2.PackUnsignedSaturate(w01, w22).AsInt32(), order).AsByte());
        }

        // 3. transpose out: row r gets to[bo·8 + r] for every output byte bo; 16 bytes × 8 rows per step
        int bo = 0;
        for (; bo + 16 <= outStride; bo += 16)
        {
            Transpose8x8(to + bo * 8, out var l0, out var l1, out var l2, out var l3);
            Transpose8x8(to + bo * 8 + 64, out var h0, out var h1, out var h2, out var h3);
            byte* dst = rowOut + bo;
            Sse2.UnpackLow(l0, h0).AsByte().Store(dst);
            Sse2.UnpackHigh(l0, h0).AsByte().Store(dst + outStride);
            Sse2.UnpackLow(l1, h1).AsByte().Store(dst + 2 * outStride);
            Sse2.UnpackHigh(l1, h1).AsByte().Store(dst + 3 * outStride);
            Sse2.UnpackLow(l2, h2).AsByte().Store(dst + 4 * outStride);
            Sse2.UnpackHigh(l2, h2).AsByte().Store(dst + 5 * outStride);
            Sse2.UnpackLow(l3, h3).AsByte().Store(dst + 6 * outStride);
            Sse2.UnpackHigh(l3, h3).AsByte().Store(dst + 7 * outStride);
        }
        for (; bo < outStride; bo++)
            for (int r = 0; r < 8; r++)
                rowOut[(long)r * outStride + bo] = to[bo * 8 + r];
    }

    /// <summary>
    /// Eight 8-byte groups m[i] = p[8i .. 8i + 8) transposed: w0 = (row 0 | row 1), w1 = (2 | 3), w2 = (4 | 5),
    /// w3 = (6 | 7), where row r is the eight bytes m[0][r] .. m[7][r] (as 64-bit halves, for UnpackLow / High).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Transpose8x8(byte* p, out Vector128<ulong> w0, out Vector128<ulong> w1, out Vector128<ulong> w2, out Vector128<ulong> w3)
    {
        var v0 = Vector128.Load(p); // m0 | m1
        var v1 = Vector128.Load(p + 16); // m2 | m3
        var v2 = Vector128.Load(p + 32);
        var v3 = Vector128.Load(p + 48);
        // bytes of m0 and m1 interleaved: unpack the low and high halves of one vector
        var t0 = Sse2.UnpackLow(v0, Sse2.ShiftRightLogical128BitLane(v0, 8)).AsInt16(); // m0r0 m1r0 m0r1 m1r1 ...
        var t1 = Sse2.UnpackLow(v1, Sse2.ShiftRightLogical128BitLane(v1, 8)).AsInt16();
        var t2 = Sse2.UnpackLow(v2, Sse2.ShiftRightLogical128BitLane(v2, 8)).AsInt16();
        var t3 = Sse2.UnpackLow(v3, Sse2.ShiftRightLogical128BitLane(v3, 8)).AsInt16();
        var u0 = Sse2.UnpackLow(t0, t1).AsInt32(); // m0..3 of rows 0..3
        var u1 = Sse2.UnpackHigh(t0, t1).AsInt32(); // rows 4..7
        var u2 = Sse2.UnpackLow(t2, t3).AsInt32(); // m4..7 of rows 0..3
        var u3 = Sse2.UnpackHigh(t2, t3).AsInt32();
        w0 = Sse2.UnpackLow(u0, u2).AsUInt64();
        w1 = Sse2.UnpackHigh(u0, u2).AsUInt64();
        w2 = Sse2.UnpackLow(u1, u3).AsUInt64();
        w3 = Sse2.UnpackHigh(u1, u3).AsUInt64();
    }

    /// <summary>Per output pixel the first source pixel of its <paramref name="win"/>-tap window and the weights re-indexed to it.</summary>
    static (int[] Start, int[] Coeffs) Windows(int[] bounds, int[] coeffs, int ksize, int outW, int win, int inSize)
    {
        var start = winStartScratch;
        if (start is null || start.Length < outW) winStartScratch = start = new int[Math.Max(outW, 1024)];
        var k = winCoeffScratch;
        if (k is null || k.Length < outW * win) winCoeffScratch = k = new int[Math.Max(outW * win, 8192)];
        for (int xx = 0; xx < outW; xx++)
        {
            int xmin = bounds[2 * xx], count = bounds[2 * xx + 1];
            int s0 = Math.Min(xmin, inSize - win), shift = xmin - s0;
            start[xx] = s0;
            for (int j = 0; j < win; j++)
            {
                int t = j - shift;
                k[xx * win + j] = t >= 0 && t < count ? coeffs[xx * ksize + t] : 0;
            }
        }
        return (start, k);
    }

    /// <summary>Vertical pass: <paramref name="s"/> holds source rows from <paramref name="rowOffset"/> on, <paramref name="stride"/> bytes each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void Vertical(byte[] s, int stride, int rowOffset, byte[] d, int outH, int[] bounds, int[] coeffs, int ksize)
    {
        fixed (byte* sp = s, dp = d)
        fixed (int* cp = coeffs)
        {
            for (int yy = 0; yy < outH; yy++)
            {
                int ymin = bounds[yy * 2] - rowOffset, ymax = bounds[yy * 2 + 1];
                int* k = cp + yy * ksize;
                byte* rowIn = sp + (long)ymin * stride;
                byte* rowOut = dp + (long)yy * stride;
                int xx = 0;
                if (Avx2.IsSupported)
                {
                    var half = Vector256.Create(1 << (PrecisionBits - 1));
                    var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
                    for (; xx + 32 <= stride; xx += 32)
                    {
                        Vector256<int> a0 = half, a1 = half, a2 = half, a3 = half;
                        byte* p = rowIn + xx;
                        for (int y = 0; y < ymax; y++, p += stride)
                        {
                            var kv = Vector256.Create(k[y]);
                            a0 = Avx2.Add(a0, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p), kv));
                            a1 = Avx2.Add(a1, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 8), kv));
                            a2 = Avx2.Add(a2, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 16), kv));
                            a3 = Avx2.Add(a3, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 24), kv));
                        }
                        var s01 = Avx2.PackSignedSaturate(Avx2.ShiftRightArithmetic(a0, PrecisionBits), Avx2.ShiftRightArithmetic(a1, PrecisionBits));
                        var s23 = Avx2.PackSignedSaturate(Avx2.ShiftRightArithmetic(a2, PrecisionBits), Avx2.ShiftRightArithmetic(a3, PrecisionBits));
                        var bytes = Avx2.PackUnsignedSaturate(s01, s23);
                        Avx.Store(rowOut + xx, Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsByte());
                    }
                }
                for (; xx < stride; xx++)
                {
                    int acc = 1 << (PrecisionBits - 1);
                    byte* p = rowIn + xx;
                    for (int y = 0; y < ymax; y++, p += stride)
                        acc += *p * k[y];
                    rowOut[xx] = Clip8(acc);
                }
            }
        }
    }
}
