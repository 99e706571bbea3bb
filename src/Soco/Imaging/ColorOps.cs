using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Soco.Imaging;

/// <summary>
/// The colour operations of SoCo's BYOL-style view pipeline (docs/soco-reference.md §4.10), with the definitions torchvision applies to
/// PIL images, bit-exact to Pillow 9.4's C code (Blend.c, Convert.c, BoxBlur.c). Every operation works in place on
/// an <see cref="RgbImage"/> the caller owns; the factors are the already-drawn random values.
/// </summary>
public static class ColorOps
{
    /// <summary>ITU-R 601-2 luma as PIL's <c>convert('L')</c> computes it (Convert.c, <c>L24(rgb) &gt;&gt; 16</c>).</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>
    /// One byte of PIL's <c>Image.blend(degenerate, image, alpha)</c> (Blend.c): <c>in1 + alpha·(in2 − in1)</c> in float,
    /// truncated; clipped to [0, 255] when alpha is outside [0, 1] (extrapolation).
    /// </summary>
    static byte Blend(int degenerate, int value, float alpha, bool interpolate)
    {
        float prod = alpha * (value - degenerate);
        float t = degenerate + prod;
        if (interpolate) return (byte)(int)t;
        return t <= 0.0f ? (byte)0 : t >= 255.0f ? (byte)255 : (byte)(int)t;
    }

    /// <summary>Blend with a constant degenerate image: a 256-entry table (the same arithmetic per possible byte).</summary>
    static void BlendConstant(RgbImage image, float alpha, byte degenerate)
    {
        if (alpha == 1.0f) return; // Blend.c shortcut: a copy of the image
        Span<byte> lut = stackalloc byte[256];
        bool interpolate = alpha >= 0 && alpha <= 1.0f;
        for (int v = 0; v < 256; v++) lut[v] = alpha == 0.0f ? degenerate : Blend(degenerate, v, alpha, interpolate);
        ApplyLut(image.Pixels, lut);
    }

    /// <summary>px[i] = lut[px[i]] for every byte: 64 at a time with AVX-512 VBMI (two 128-entry vpermi2b lookups).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void ApplyLut(byte[] px, ReadOnlySpan<byte> lut)
    {
        int i = 0;
        fixed (byte* p = px, t = lut)
        {
            if (Avx512Vbmi.IsSupported && px.Length >= 64)
            {
                var t0 = Vector512.Load(t);
                var t1 = Vector512.Load(t + 64);
                var t2 = Vector512.Load(t + 128);
                var t3 = Vector512.Load(t + 192);
                for (; i + 64 <= px.Length; i += 64)
                {
                    var v = Vector512.Load(p + i);
                    var lo = Avx512Vbmi.PermuteVar64x8x2(t0, v, t1); // entries 0..127 (index bits 0..6)
                    var hi = Avx512Vbmi.PermuteVar64x8x2(t2, v, t3); // entries 128..255
                    Vector512.ConditionalSelect(Vector512.LessThan(v.AsSByte(), Vector512<sbyte>.Zero).AsByte(), hi, lo).Store(p + i);
                }
            }
            for (; i < px.Length; i++) p[i] = t[p[i]];
        }
    }

    /// <summary>torchvision <c>adjust_brightness</c>: <c>ImageEnhance.Brightness(img).enhance(factor)</c> (blend with black).</summary>
    public static void AdjustBrightness(RgbImage image, double factor) => BlendConstant(image, (float)factor, 0);

    /// <summary>
    /// torchvision <c>adjust_contrast</c>: <c>ImageEnhance.Contrast</c>, blending with a grey image whose level is the
    /// rounded mean luma (<c>int(ImageStat.Stat(img.convert('L')).mean[0] + 0.5)</c>).
    /// </summary>
    public static void AdjustContrast(RgbImage image, double factor)
    {
        var px = image.Pixels;
        long sum = LumaSum(px);
        double mean = (double)sum / (px.Length / 3);
        BlendConstant(image, (float)factor, (byte)(int)(mean + 0.5));
    }

    /// <summary>torchvision <c>adjust_saturation</c>: <c>ImageEnhance.Color</c>, blending with the image's own luma.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    public static unsafe void AdjustSaturation(RgbImage image, double factor)
    {
        float alpha = (float)factor;
        if (alpha == 1.0f) return;
        var px = image.Pixels;
        bool interpolate = alpha >= 0 && alpha <= 1.0f;
        int i = 0;
        if (Avx2.IsSupported && alpha != 0.0f)
            fixed (byte* p0 = px)
            {
                var a = Vector256.Create(alpha);
                var zero = Vector256<float>.Zero;
                var top = Vector256.Create(255.0f);
                var low8 = Vector256.Create(0xFF);
                // Blend per lane: t = l + alpha·(v − l) in float, then truncation (interpolation: (byte)(int)t;
                // extrapolation: clipped to [0, 255] first, which gives the same as Blend's comparisons)
                // interpolation: (byte)(int)t, i.e. the low byte; extrapolation: clipped to [0, 255] first
                var lo = interpolate ? Vector256.Create(float.MinValue) : zero;
                var hi = interpolate ? Vector256.Create(float.MaxValue) : top;
                var keep = interpolate ? low8 : Vector256.Create(-1);
                for (; i + 28 <= px.Length; i += 24)
                {
                    Load8(p0 + i, out var r, out var g, out var b);
                    var l = Luma8(r, g, b);
                    var lf = Avx.ConvertToVector256Single(l);
                    var tr = Avx.Add(lf, Avx.Multiply(a, Avx.ConvertToVector256Single(Avx2.Subtract(r, l))));
                    var tg = Avx.Add(lf, Avx.Multiply(a, Avx.ConvertToVector256Single(Avx2.Subtract(g, l))));
                    var tb = Avx.Add(lf, Avx.Multiply(a, Avx.ConvertToVector256Single(Avx2.Subtract(b, l))));
                    Store8(p0 + i,
                        Avx2.And(Avx.ConvertToVector256Int32WithTruncation(Avx.Min(Avx.Max(tr, lo), hi)), keep),
                        Avx2.And(Avx.ConvertToVector256Int32WithTruncation(Avx.Min(Avx.Max(tg, lo), hi)), keep),
                        Avx2.And(Avx.ConvertToVector256Int32WithTruncation(Avx.Min(Avx.Max(tb, lo), hi)), keep));
                }
            }
        for (; i < px.Length; i += 3)
        {
            byte l = Luma(px[i], px[i + 1], px[i + 2]);
            if (alpha == 0.0f)
            {
                px[i] = px[i + 1] = px[i + 2] = l;
                continue;
            }
            px[i] = Blend(l, px[i], alpha, interpolate);
            px[i + 1] = Blend(l, px[i + 1], alpha, interpolate);
            px[i + 2] = Blend(l, px[i + 2], alpha, interpolate);
        }
    }

    /// <summary>8 interleaved RGB pixels (24 bytes; reads 28) as three int vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Load8(byte* p, out Vector256<int> r, out Vector256<int> g, out Vector256<int> b)
    {
        const byte z = 128;
        var raw = Vector256.Create(Vector128.Load(p), Vector128.Load(p + 12));
        r = Avx2.Shuffle(raw, Vector256.Create((byte)0, z, z, z, 3, z, z, z, 6, z, z, z, 9, z, z, z, 0, z, z, z, 3, z, z, z, 6, z, z, z, 9, z, z, z)).AsInt32();
        g = Avx2.Shuffle(raw, Vector256.Create((byte)1, z, z, z, 4, z, z, z, 7, z, z, z, 10, z, z, z, 1, z, z, z, 4, z, z, z, 7, z, z, z, 10, z, z, z)).AsInt32();
        b = Avx2.Shuffle(raw, Vector256.Create((byte)2, z, z, z, 5, z, z, z, 8, z, z, z, 11, z, z, z, 2, z, z, z, 5, z, z, z, 8, z, z, z, 11, z, z, z)).AsInt32();
    }

    /// <summary>Writes 8 RGB pixels (exactly 24 bytes) from three int vectors holding 0..255.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Store8(byte* p, Vector256<int> r, Vector256<int> g, Vector256<int> b)
    {
        var rgb = Avx2.Or(r, Avx2.Or(Avx2.ShiftLeftLogical(g, 8), Avx2.ShiftLeftLogical(b, 16)));
        var packed = Avx2.Shuffle(rgb.AsByte(), Vector256.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 128, 128, 128, 128,
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 128, 128, 128, 128));
        var lo = packed.GetLower().AsUInt64();
        var hi = packed.GetUpper().AsUInt64();
        *(ulong*)p = lo.ToScalar();
        *(uint*)(p + 8) = lo.AsUInt32().GetElement(2);
        *(ulong*)(p + 12) = hi.ToScalar();
        *(uint*)(p + 20) = hi.AsUInt32().GetElement(2);
    }

    /// <summary><see cref="Luma"/> on 8 lanes (int arithmetic, no overflow: at most 255·65536 + 0x8000).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Luma8(Vector256<int> r, Vector256<int> g, Vector256<int> b) =>
        Avx2.ShiftRightLogical(Avx2.Add(Avx2.Add(Avx2.MultiplyLow(r, Vector256.Create(19595)), Avx2.MultiplyLow(g, Vector256.Create(38470))),
            Avx2.Add(Avx2.MultiplyLow(b, Vector256.Create(7471)), Vector256.Create(0x8000))), 16);

    /// <summary>Sum of <see cref="Luma"/> over all pixels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe long LumaSum(byte[] px)
    {
        long sum = 0;
        int i = 0;
        if (Avx2.IsSupported)
            fixed (byte* p0 = px)
            {
                while (i + 28 <= px.Length)
                {
                    // at most 4096 × 255 per lane before it is added to the long
                    var acc = Vector256<int>.Zero;
                    for (int k = 0; k < 4096 && i + 28 <= px.Length; k++, i += 24)
                    {
                        Load8(p0 + i, out var r, out var g, out var b);
                        acc = Avx2.Add(acc, Luma8(r, g, b));
                    }
                    sum += Vector256.Sum(acc);
                }
            }
        for (; i < px.Length; i += 3) sum += Luma(px[i], px[i + 1], px[i + 2]);
        return sum;
    }

    /// <summary>
    /// torchvision <c>adjust_hue</c> on PIL: RGB → HSV (PIL), hue byte += <c>np.uint8(hue_factor·255)</c> with uint8
    /// wrap-around, HSV → RGB (PIL). <paramref name="hueFactor"/> ∈ [−0.5, 0.5].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    public static unsafe void AdjustHue(RgbImage image, double hueFactor)
    {
        if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new ArgumentOutOfRangeException(nameof(hueFactor), hueFactor, "hue factor must be in [-0.5, 0.5]");
        // np.uint8(float): C conversion to an integer (truncation toward zero), then modulo 256.
        byte shift = unchecked((byte)(long)(hueFactor * 255));
        var t = HueTables.Instance;
        // Per pixel: RgbToHsv and HsvToRgb below, with every part that depends on fewer than three inputs looked up
        // (tables made by those very functions, so the bytes are the same), no branches on the data.
        fixed (byte* px0 = image.Pixels, hueT = t.Hue, satT = t.Sat, sixT = t.Sector)
        fixed (float* fracT = t.Frac, fsT = t.Fs)
        {
            byte* px = px0, end = px0 + image.Pixels.Length;
            if (Avx2.IsSupported) px = HueAvx2(px, end, shift, hueT, satT);
            int* vals = stackalloc int[4];
            for (; px < end; px += 3)
            {
                int r = px[0], g = px[1], b = px[2];
                int maxc = Math.Max(r, Math.Max(g, b)), minc = Math.Min(r, Math.Min(g, b));
                // rgb2hsv's branch (r max, else g max, else b max) and its two differences
                int d1 = r == maxc ? maxc - b : g == maxc ? maxc - r : maxc - g;
                int d2 = r == maxc ? maxc - g : g == maxc ? maxc - b : maxc - r;
                int branch = r == maxc ? 0 : g == maxc ? 1 << 16 : 2 << 16;
                int h = (byte)(hueT[branch | (d1 << 8) | d2] + shift);
                int s = satT[(maxc << 8) | minc];
                // hsv2rgb (s = 0 needs no branch: p = q = t = v then)
                float f = fracT[h], fs = fsT[s];
                float fsf = fs * f;
                vals[0] = maxc;
                vals[1] = RoundHalfAway(maxc * (1.0 - fs));
                vals[2] = RoundHalfAway(maxc * (1.0 - fsf));
                vals[3] = RoundHalfAway(maxc * (1.0 - fs * (1.0 - f)));
                int perm = HueTables.Perm[sixT[h]];
                px[0] = (byte)vals[perm & 3];
                px[1] = (byte)vals[(perm >> 2) & 3];
                px[2] = (byte)vals[(perm >> 4) & 3];
            }
        }
    }

    /// <summary>
    /// <see cref="AdjustHue"/>'s loop, 8 pixels at a time (AVX2): the same table lookups (gathers) and the same
    /// float / double operations lane by lane, so the same bytes. Returns where the scalar loop goes on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe byte* HueAvx2(byte* px, byte* end, byte shift, byte* hueT, byte* satT)
    {
        var low8 = Vector256.Create(0xFF);
        var shiftV = Vector256.Create((int)shift);
        var cap = Vector256.Create(255);
        var branchG = Vector256.Create(1 << 16);
        var branchB = Vector256.Create(2 << 16);
        // 8 pixels are 24 bytes; the second 16-byte load reads 4 bytes further
        for (; px + 28 <= end; px += 24)
        {
            Load8(px, out var r, out var g, out var b);
            var maxc = Avx2.Max(r, Avx2.Max(g, b));
            var minc = Avx2.Min(r, Avx2.Min(g, b));
            var isR = Avx2.CompareEqual(r, maxc);
            var isG = Avx2.AndNot(isR, Avx2.CompareEqual(g, maxc));
            Vector256<int> mr = Avx2.Subtract(maxc, r), mg = Avx2.Subtract(maxc, g), mb = Avx2.Subtract(maxc, b);
            var d1 = Avx2.BlendVariable(Avx2.BlendVariable(mg, mr, isG), mb, isR);
            var d2 = Avx2.BlendVariable(Avx2.BlendVariable(mr, mb, isG), mg, isR);
            var branch = Avx2.AndNot(isR, Avx2.BlendVariable(branchB, branchG, isG));
            var idx = Avx2.Or(branch, Avx2.Or(Avx2.ShiftLeftLogical(d1, 8), d2));
            var hue = Avx2.And(Avx2.GatherVector256((int*)hueT, idx, 1), low8);
            var h = Avx2.And(Avx2.Add(hue, shiftV), low8);
            var sat = Avx2.And(Avx2.GatherVector256((int*)satT, Avx2.Or(Avx2.ShiftLeftLogical(maxc, 8), minc), 1), low8);
            // hsv2rgb's i = ⌊h·6/255⌋ (the double quotient is never within rounding of an integer unless it is one),
            // f = (float)(h·6/255 − i) and fs = (float)(s/255): for all 256 bytes these equal the integer quotient
            // (n·0x8081) >> 23, (float)(n − 255i) / 255f and (float)s / 255f (checked exhaustively by the tests)
            var n = Avx2.MultiplyLow(h, Vector256.Create(6));
            var i6 = Avx2.ShiftRightLogical(Avx2.MultiplyLow(n, Vector256.Create(0x8081)), 23);
            var f = Avx.Divide(Avx.ConvertToVector256Single(Avx2.Subtract(n, Avx2.MultiplyLow(i6, Vector256.Create(255)))), Vector256.Create(255f));
            var fs = Avx.Divide(Avx.ConvertToVector256Single(sat), Vector256.Create(255f));
            var sector = Avx2.AndNot(Avx2.CompareEqual(i6, Vector256.Create(6)), i6); // i % 6
            // fsf = fs·f: a float product (exact in double, rounded once to float, as the float multiply rounds it)
            var fsf = Avx.Multiply(fs, f);
            var (p0, q0, t0) = HsvParts(maxc.GetLower(), fs.GetLower(), f.GetLower(), fsf.GetLower());
            var (p1, q1, t1) = HsvParts(maxc.GetUpper(), fs.GetUpper(), f.GetUpper(), fsf.GetUpper());
            var p = Avx2.Min(Vector256.Create(p0, p1), cap);
            var q = Avx2.Min(Vector256.Create(q0, q1), cap);
            var tt = Avx2.Min(Vector256.Create(t0, t1), cap);
            var e0 = Avx2.CompareEqual(sector, Vector256<int>.Zero);
            var e1 = Avx2.CompareEqual(sector, Vector256.Create(1));
            var e2 = Avx2.CompareEqual(sector, Vector256.Create(2));
            var e3 = Avx2.CompareEqual(sector, Vector256.Create(3));
            var e4 = Avx2.CompareEqual(sector, Vector256.Create(4));
            var e5 = Avx2.CompareEqual(sector, Vector256.Create(5));
            // sector: 0 (v t p), 1 (q v p), 2 (p v t), 3 (p q v), 4 (t p v), 5 (v p q)
            var ro = Avx2.BlendVariable(Avx2.BlendVariable(Avx2.BlendVariable(p, tt, e4), q, e1), maxc, Avx2.Or(e0, e5));
            var go = Avx2.BlendVariable(Avx2.BlendVariable(Avx2.BlendVariable(p, tt, e0), maxc, Avx2.Or(e1, e2)), q, e3);
            var bo = Avx2.BlendVariable(Avx2.BlendVariable(Avx2.BlendVariable(p, tt, e2), maxc, Avx2.Or(e3, e4)), q, e5);
            Store8(px, ro, go, bo);
        }
        return px;
    }

    /// <summary>A pshufb mask taking bytes a, b, c, d of each 128-bit lane into the low byte of its four ints.</summary>
    static Vector256<byte> LaneShuffle(byte a, byte b, byte c, byte d)
    {
        const byte z = 128;
        var l = Vector128.Create(a, z, z, z, b, z, z, z, c, z, z, z, d, z, z, z);
        return Vector256.Create(l, l);
    }

    /// <summary>hsv2rgb's p, q, t for four pixels: round-half-away of v·(1 − fs), v·(1 − fs·f), v·(1 − fs·(1 − f)) in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector128<int> P, Vector128<int> Q, Vector128<int> T) HsvParts(Vector128<int> v, Vector128<float> fs, Vector128<float> f, Vector128<float> fsf)
    {
        var one = Vector256.Create(1.0);
        var vd = Avx.ConvertToVector256Double(v);
        var fsd = Avx.ConvertToVector256Double(fs);
        var fd = Avx.ConvertToVector256Double(f);
        var fsfd = Avx.ConvertToVector256Double(fsf);
        var p = RoundHalfAway(Avx.Multiply(vd, Avx.Subtract(one, fsd)));
        var q = RoundHalfAway(Avx.Multiply(vd, Avx.Subtract(one, fsfd)));
        var t = RoundHalfAway(Avx.Multiply(vd, Avx.Subtract(one, Avx.Multiply(fsd, Avx.Subtract(one, fd)))));
        return (p, q, t);
    }

    /// <summary>Round half away from zero for x ≥ 0 (x − ⌊x⌋ is exact), as int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<int> RoundHalfAway(Vector256<double> x)
    {
        var fl = Avx.Floor(x);
        var up = Avx.And(Avx.CompareGreaterThanOrEqual(Avx.Subtract(x, fl), Vector256.Create(0.5)), Vector256.Create(1.0));
        return Avx.ConvertToVector128Int32WithTruncation(Avx.Add(fl, up));
    }

    /// <summary><c>Math.Round(x, MidpointRounding.AwayFromZero)</c> for 0 ≤ x ≤ 255 (x − ⌊x⌋ is exact), clipped like hsv2rgb's CLIP8.</summary>
    static int RoundHalfAway(double x)
    {
        double fl = Math.Floor(x);
        int v = (int)fl + (x - fl >= 0.5 ? 1 : 0);
        return v > 255 ? 255 : v;
    }

    /// <summary>Lookup tables of <see cref="AdjustHue"/>, built once from <see cref="RgbToHsv"/> / <see cref="HsvToRgb"/>'s own arithmetic.</summary>
    sealed class HueTables
    {
        public static readonly HueTables Instance = new();

        /// <summary>hsv2rgb's output order for sector i (0..5) as indices into {v, p, q, t}, 2 bits each (R, G, B).</summary>
        public static readonly int[] Perm =
        [
            0 | 3 << 2 | 1 << 4, // v t p
            2 | 0 << 2 | 1 << 4, // q v p
            1 | 0 << 2 | 3 << 4, // p v t
            1 | 2 << 2 | 0 << 4, // p q v
            3 | 1 << 2 | 0 << 4, // t p v
            0 | 1 << 2 | 2 << 4, // v p q
        ];

        /// <summary>
        /// Hue byte by [branch][d1][d2]: rgb2hsv's h depends only on which channel is the maximum (r first, then g)
        /// and on the two differences maxc − x it divides by cr = max(d1, d2); so it is evaluated with maxc = 255.
        /// </summary>
        public readonly byte[] Hue = new byte[(3 << 16) + 4]; // + 4: a 32-bit gather reads 3 bytes on
        /// <summary>Saturation byte by [maxc][minc] (s = cr / maxc).</summary>
        public readonly byte[] Sat = new byte[(1 << 16) + 4];
        /// <summary>Per hue byte: hsv2rgb's sector i % 6 and fraction f.</summary>
        public readonly byte[] Sector = new byte[256];
        public readonly float[] Frac = new float[256];
        /// <summary>Per saturation byte: fs = s / 255 as a float.</summary>
        public readonly float[] Fs = new float[256];

        HueTables()
        {
            for (int d1 = 0; d1 < 256; d1++)
                for (int d2 = 0; d2 < 256; d2++)
                {
                    int i = (d1 << 8) | d2;
                    // branch r: d1 = maxc − b, d2 = maxc − g; branch g: d1 = maxc − r, d2 = maxc − b; branch b: d1 = maxc − g, d2 = maxc − r
                    RgbToHsv(255, (byte)(255 - d2), (byte)(255 - d1), out Hue[i], out _, out _);
                    RgbToHsv((byte)(255 - d1), 255, (byte)(255 - d2), out Hue[(1 << 16) | i], out _, out _);
                    RgbToHsv((byte)(255 - d2), (byte)(255 - d1), 255, out Hue[(2 << 16) | i], out _, out _);
                    // Sat[maxc = d1][minc = d2], meaningful for minc ≤ maxc
                    if (d2 <= d1) RgbToHsv((byte)d1, (byte)d2, (byte)d2, out _, out Sat[i], out _);
                }
            for (int h = 0; h < 256; h++)
            {
                int i = (int)Math.Floor((float)h * 6.0 / 255.0);
                Frac[h] = (float)((float)h * 6.0 / 255.0 - (float)i);
                Sector[h] = (byte)(i % 6);
            }
            for (int s = 0; s < 256; s++) Fs[s] = (float)(s / 255.0);
        }
    }

    /// <summary>PIL Convert.c <c>rgb2hsv_row</c> (float / double mix kept as in C).</summary>
    public static void RgbToHsv(byte r, byte g, byte b, out byte uh, out byte us, out byte uv)
    {
        byte maxc = Math.Max(r, Math.Max(g, b));
        byte minc = Math.Min(r, Math.Min(g, b));
        uv = maxc;
        if (minc == maxc)
        {
            uh = 0;
            us = 0;
            return;
        }
        float cr = maxc - minc;
        float s = cr / maxc;
        // Only the two quotients a branch uses are computed (each exactly as in C).
        float h;
        if (r == maxc) h = (maxc - b) / cr - (maxc - g) / cr;
        else if (g == maxc) h = (float)(2.0 + (maxc - r) / cr - (maxc - b) / cr);
        else h = (float)(4.0 + (maxc - g) / cr - (maxc - r) / cr);
        h = (float)((h / 6.0 + 1.0) % 1.0); // C fmod

        uh = Clip8((int)(h * 255.0));
        us = Clip8((int)(s * 255.0));
    }

    /// <summary>PIL Convert.c <c>hsv2rgb</c>.</summary>
    public static void HsvToRgb(byte h, byte s, byte v, out byte r, out byte g, out byte b)
    {
        if (s == 0)
        {
            r = g = b = v;
            return;
        }
        int i = (int)Math.Floor((float)h * 6.0 / 255.0);
        float f = (float)((float)h * 6.0 / 255.0 - (float)i);
        float fs = (float)(s / 255.0);
        float fsf = fs * f;
        int p = (int)Math.Round(v * (1.0 - fs), MidpointRounding.AwayFromZero);
        int q = (int)Math.Round(v * (1.0 - fsf), MidpointRounding.AwayFromZero);
        int t = (int)Math.Round(v * (1.0 - fs * (1.0 - f)), MidpointRounding.AwayFromZero);
        byte up = Clip8(p), uq = Clip8(q), ut = Clip8(t);
        switch (i % 6)
        {
            case 0: r = v; g = ut; b = up; break;
            case 1: r = uq; g = v; b = up; break;
            case 2: r = up; g = v; b = ut; break;
            case 3: r = up; g = uq; b = v; break;
            case 4: r = ut; g = up; b = v; break;
            default: r = v; g = up; b = uq; break;
        }
    }

    static byte Clip8(int v) => v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)v;

    /// <summary>torchvision <c>rgb_to_grayscale(img, 3)</c> on PIL: <c>convert('L')</c> replicated into 3 channels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    public static unsafe void Grayscale(RgbImage image)
    {
        var px = image.Pixels;
        int i = 0;
        if (Avx2.IsSupported)
            fixed (byte* p0 = px)
                for (; i + 28 <= px.Length; i += 24)
                {
                    Load8(p0 + i, out var r, out var g, out var b);
                    var l = Luma8(r, g, b);
                    Store8(p0 + i, l, l, l);
                }
        for (; i < px.Length; i += 3)
            px[i] = px[i + 1] = px[i + 2] = Luma(px[i], px[i + 1], px[i + 2]);
    }

    /// <summary>PIL <c>ImageOps.solarize(img, threshold)</c>: values ≥ threshold become 255 − v.</summary>
    public static void Solarize(RgbImage image, int threshold = 128)
    {
        Span<byte> lut = stackalloc byte[256];
        for (int v = 0; v < 256; v++) lut[v] = v >= threshold ? (byte)(255 - v) : (byte)v;
        ApplyLut(image.Pixels, lut);
    }

    /// <summary>
    /// PIL <c>img.filter(ImageFilter.GaussianBlur(radius))</c> (Pillow 9.4): three passes of an extended box blur
    /// whose fractional radius follows Gwosdek et al. (BoxBlur.c <c>ImagingGaussianBlur</c>), horizontal passes, then
    /// vertical ones; 8.24 fixed-point weights. <paramref name="radius"/> is narrowed to a C float as PIL does.
    /// </summary>
    public static void GaussianBlur(RgbImage image, double radius)
    {
        const int passes = 3;
        float r = (float)radius;
        float sigma2 = r * r / passes;
        float L = (float)Math.Sqrt(12.0 * sigma2 + 1.0);
        float l = (float)Math.Floor((L - 1.0) / 2.0);
        float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
        a /= 6 * (sigma2 - (l + 1) * (l + 1));
        BoxBlur(image, l + a, passes);
    }

    /// <summary>
    /// PIL <c>ImagingBoxBlur</c>: <paramref name="passes"/> horizontal passes, a transpose, as many horizontal passes
    /// (i.e. vertical), a transpose back; the three channels of a pixel at once like PIL's 32-bit path. Here every
    /// pass runs down the columns (all the bytes of a row side by side, in SIMD lanes where the CPU has AVX2): the
    /// vertical passes directly, the horizontal ones on the transposed image. Each column sees exactly PIL's line
    /// arithmetic, so the bytes are PIL's.
    /// </summary>
    public static void BoxBlur(RgbImage image, float radius, int passes)
    {
        int w = image.Width, h = image.Height;
        int ir = (int)radius;
        uint ww = (uint)((float)(1u << 24) / (radius * 2 + 1));
        uint fw = ((1u << 24) - (uint)(ir * 2 + 1) * ww) / 2;
        var px = image.Pixels;
        int n = px.Length;
        var t = Scratch(ref blurT, n);
        Transpose(px, t, w, h);
        BlurColumns(t, h, w, ir, ww, fw, passes); // along the original rows
        Transpose(t, px, h, w);
        BlurColumns(px, w, h, ir, ww, fw, passes);
    }

    [ThreadStatic] static byte[]? blurT, blurA, blurB;

    static byte[] Scratch(ref byte[]? buf, int n)
    {
        if (buf is null || buf.Length < n) buf = new byte[Math.Max(n, 1 << 16)];
        return buf;
    }

    /// <summary>
    /// <paramref name="passes"/> box-blur passes along the columns of the w×h RGB image in <paramref name="px"/>
    /// (line length h), the result back in <paramref name="px"/>.
    /// </summary>
    static void BlurColumns(byte[] px, int w, int h, int radius, uint ww, uint fw, int passes)
    {
        if (passes <= 0) return;
        int n = w * h * 3;
        var a = Scratch(ref blurA, n);
        var b = Scratch(ref blurB, n);
        byte[] input = px;
        for (int p = 0; p < passes; p++)
        {
            byte[] output = p == passes - 1 && input != px ? px : (input == a ? b : a);
            ColumnBoxBlur(output, input, w * 3, h - 1, radius, ww, fw);
            input = output;
        }
        if (input != px) Buffer.BlockCopy(input, 0, px, 0, n);
    }

    /// <summary>
    /// BoxBlur.c <c>ImagingLineBoxBlur32</c> applied to every byte column of a <paramref name="stride"/>-byte-wide
    /// image at once: line position y is row y; unsigned 32-bit arithmetic as in C. PIL's five edge loops are one
    /// loop here: in each of them the subtracted / left index is max(y − r − 1, 0), the added one min(y + r, lasty)
    /// and the right one min(y + r + 1, lasty).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void ColumnBoxBlur(byte[] output, byte[] input, int stride, int lasty, int radius, uint ww, uint fw)
    {
        int len = lasty + 1;
        int edgeA = Math.Min(radius + 1, len);
        int rest = radius - edgeA + 1;
        const uint half = 1u << 23;
        fixed (byte* inp = input, outp = output)
        {
            int x = 0;
            if (Avx2.IsSupported)
            {
                var wwV = Vector256.Create(ww);
                var fwV = Vector256.Create(fw);
                var halfV = Vector256.Create(half);
                var mask = Vector256.Create(0xFFu);
                var r1 = Vector256.Create((uint)(radius + 1));
                var restV = Vector256.Create(unchecked((uint)rest));
                var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
                for (; x + 32 <= stride; x += 32)
                {
                    byte* col = inp + x;
                    Vector256<uint> a0 = Avx2.MultiplyLow(Load(col, 0), r1), a1 = Avx2.MultiplyLow(Load(col + 8, 0), r1),
                        a2 = Avx2.MultiplyLow(Load(col + 16, 0), r1), a3 = Avx2.MultiplyLow(Load(col + 24, 0), r1);
                    for (int y = 0; y < edgeA - 1; y++)
                    {
                        byte* row = col + (long)y * stride;
                        a0 = Avx2.Add(a0, Load(row, 0));
                        a1 = Avx2.Add(a1, Load(row, 8));
                        a2 = Avx2.Add(a2, Load(row, 16));
                        a3 = Avx2.Add(a3, Load(row, 24));
                    }
                    byte* last = col + (long)lasty * stride;
                    a0 = Avx2.Add(a0, Avx2.MultiplyLow(Load(last, 0), restV));
                    a1 = Avx2.Add(a1, Avx2.MultiplyLow(Load(last, 8), restV));
                    a2 = Avx2.Add(a2, Avx2.MultiplyLow(Load(last, 16), restV));
                    a3 = Avx2.Add(a3, Avx2.MultiplyLow(Load(last, 24), restV));
                    for (int y = 0; y <= lasty; y++)
                    {
                        byte* sub = col + (long)Math.Max(y - radius - 1, 0) * stride;
                        byte* add = col + (long)Math.Min(y + radius, lasty) * stride;
                        byte* right = col + (long)Math.Min(y + radius + 1, lasty) * stride;
                        Vector256<uint> s0 = Load(sub, 0), s1 = Load(sub, 8), s2 = Load(sub, 16), s3 = Load(sub, 24);
                        a0 = Avx2.Subtract(Avx2.Add(a0, Load(add, 0)), s0);
                        a1 = Avx2.Subtract(Avx2.Add(a1, Load(add, 8)), s1);
                        a2 = Avx2.Subtract(Avx2.Add(a2, Load(add, 16)), s2);
                        a3 = Avx2.Subtract(Avx2.Add(a3, Load(add, 24)), s3);
                        var o0 = Out(a0, s0, Load(right, 0), wwV, fwV, halfV, mask);
                        var o1 = Out(a1, s1, Load(right, 8), wwV, fwV, halfV, mask);
                        var o2 = Out(a2, s2, Load(right, 16), wwV, fwV, halfV, mask);
                        var o3 = Out(a3, s3, Load(right, 24), wwV, fwV, halfV, mask);
                        var bytes = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(o0, o1), Avx2.PackSignedSaturate(o2, o3));
                        Avx.Store(outp + (long)y * stride + x, Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsByte());
                    }
                }
            }
            unchecked
            {
                for (; x < stride; x++)
                {
                    byte* col = inp + x;
                    uint acc = (uint)(col[0] * (radius + 1));
                    for (int y = 0; y < edgeA - 1; y++) acc += col[(long)y * stride];
                    acc += (uint)(col[(long)lasty * stride] * rest);
                    for (int y = 0; y <= lasty; y++)
                    {
                        uint sub = col[(long)Math.Max(y - radius - 1, 0) * stride];
                        uint add = col[(long)Math.Min(y + radius, lasty) * stride];
                        uint right = col[(long)Math.Min(y + radius + 1, lasty) * stride];
                        acc += add - sub;
                        outp[(long)y * stride + x] = (byte)((acc * ww + (sub + right) * fw + half) >> 24);
                    }
                }
            }
        }
    }

    static unsafe Vector256<uint> Load(byte* p, int offset) => Avx2.ConvertToVector256Int32(p + offset).AsUInt32();

    /// <summary>(acc·ww + (sub + right)·fw + ½) &gt;&gt; 24, truncated to a byte like C's store to UINT8 (as int lanes, ≤ 255).</summary>
    static Vector256<int> Out(Vector256<uint> acc, Vector256<uint> sub, Vector256<uint> right, Vector256<uint> ww, Vector256<uint> fw, Vector256<uint> half, Vector256<uint> mask) =>
        Avx2.And(Avx2.ShiftRightLogical(Avx2.Add(Avx2.Add(Avx2.MultiplyLow(acc, ww), Avx2.MultiplyLow(Avx2.Add(sub, right), fw)), half), 24), mask).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    static unsafe void Transpose(byte[] src, byte[] dst, int w, int h)
    {
        // dst (h wide, w high) pixel (y, x) = src pixel (x, y); 8×8-pixel tiles with AVX2, the rest pixel by pixel
        long n = (long)w * h * 3;
        fixed (byte* sp = src, dp = dst)
        {
            int yFull = Avx2.IsSupported ? h / 8 * 8 : 0, xFull = Avx2.IsSupported ? w / 8 * 8 : 0;
            for (int y0 = 0; y0 < yFull; y0 += 8)
                for (int x0 = 0; x0 < xFull; x0 += 8)
                {
                    // each row's eight pixels are read with a 32-byte load (8 bytes past them)
                    if (((long)(y0 + 7) * w + x0) * 3 + 32 > n) TransposeTile(sp, dp, w, h, x0, y0, 8, 8);
                    else Transpose8x8Pixels(sp + ((long)y0 * w + x0) * 3, w * 3, dp + ((long)x0 * h + y0) * 3, h * 3);
                }
            if (xFull < w) TransposeTile(sp, dp, w, h, xFull, 0, w - xFull, h);
            if (yFull < h) TransposeTile(sp, dp, w, h, 0, yFull, xFull, h - yFull);
        }
    }

    static unsafe void TransposeTile(byte* sp, byte* dp, int w, int h, int x0, int y0, int tw, int th)
    {
        for (int y = y0; y < y0 + th; y++)
            for (int x = x0; x < x0 + tw; x++)
            {
                byte* s = sp + ((long)y * w + x) * 3, d = dp + ((long)x * h + y) * 3;
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
    }

    /// <summary>
    /// An 8×8 block of RGB pixels transposed: rows widened to one pixel per int (RGB0), the usual AVX2 8×8 int
    /// transpose, narrowed back to 24 bytes a row (written exactly).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Transpose8x8Pixels(byte* s, int sStride, byte* d, int dStride)
    {
        var spread = Vector256.Create(0, 1, 2, 0, 3, 4, 5, 0);
        const byte z = 128;
        var widen = Vector256.Create((byte)0, 1, 2, z, 3, 4, 5, z, 6, 7, 8, z, 9, 10, 11, z, 0, 1, 2, z, 3, 4, 5, z, 6, 7, 8, z, 9, 10, 11, z);
        Vector256<int> Row(byte* p) => Avx2.Shuffle(Avx2.PermuteVar8x32(Avx.LoadVector256(p).AsInt32(), spread).AsByte(), widen).AsInt32();
        var r0 = Row(s); var r1 = Row(s + sStride); var r2 = Row(s + 2 * sStride); var r3 = Row(s + 3 * sStride);
        var r4 = Row(s + 4 * sStride); var r5 = Row(s + 5 * sStride); var r6 = Row(s + 6 * sStride); var r7 = Row(s + 7 * sStride);
        var t0 = Avx2.UnpackLow(r0, r1); var t1 = Avx2.UnpackHigh(r0, r1);
        var t2 = Avx2.UnpackLow(r2, r3); var t3 = Avx2.UnpackHigh(r2, r3);
        var t4 = Avx2.UnpackLow(r4, r5); var t5 = Avx2.UnpackHigh(r4, r5);
        var t6 = Avx2.UnpackLow(r6, r7); var t7 = Avx2.UnpackHigh(r6, r7);
        var u0 = Avx2.UnpackLow(t0.AsInt64(), t2.AsInt64()).AsInt32(); var u1 = Avx2.UnpackHigh(t0.AsInt64(), t2.AsInt64()).AsInt32();
        var u2 = Avx2.UnpackLow(t1.AsInt64(), t3.AsInt64()).AsInt32(); var u3 = Avx2.UnpackHigh(t1.AsInt64(), t3.AsInt64()).AsInt32();
        var u4 = Avx2.UnpackLow(t4.AsInt64(), t6.AsInt64()).AsInt32(); var u5 = Avx2.UnpackHigh(t4.AsInt64(), t6.AsInt64()).AsInt32();
        var u6 = Avx2.UnpackLow(t5.AsInt64(), t7.AsInt64()).AsInt32(); var u7 = Avx2.UnpackHigh(t5.AsInt64(), t7.AsInt64()).AsInt32();
        StoreRow(d, Avx2.Permute2x128(u0, u4, 0x20));
        StoreRow(d + dStride, Avx2.Permute2x128(u1, u5, 0x20));
        StoreRow(d + 2 * dStride, Avx2.Permute2x128(u2, u6, 0x20));
        StoreRow(d + 3 * dStride, Avx2.Permute2x128(u3, u7, 0x20));
        StoreRow(d + 4 * dStride, Avx2.Permute2x128(u0, u4, 0x31));
        StoreRow(d + 5 * dStride, Avx2.Permute2x128(u1, u5, 0x31));
        StoreRow(d + 6 * dStride, Avx2.Permute2x128(u2, u6, 0x31));
        StoreRow(d + 7 * dStride, Avx2.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Eight RGB0 ints written as 24 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void StoreRow(byte* d, Vector256<int> px)
    {
        const byte z = 128;
        var narrow = Vector256.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, z, z, z, z, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, z, z, z, z);
        var b = Avx2.Shuffle(px.AsByte(), narrow);
        var packed = Avx2.PermuteVar8x32(b.AsInt32(), Vector256.Create(0, 1, 2, 4, 5, 6, 3, 7)); // 24 bytes first
        packed.GetLower().AsByte().Store(d);
        *(ulong*)(d + 16) = packed.GetUpper().AsUInt64().ToScalar();
    }

    /// <summary>ImageNet mean and std of torchvision's <c>Normalize</c> in SoCo (float32).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>
    /// torchvision <c>ToTensor()</c> then <c>Normalize(mean, std)</c>, float32 as torch computes it:
    /// <c>(v / 255 − mean) / std</c>, CHW layout, written into <paramref name="chw"/> (3·H·W) at <paramref name="offset"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    public static unsafe void ToNormalizedTensor(RgbImage image, float[] chw, int offset = 0)
    {
        int n = image.Width * image.Height;
        if (chw.Length - offset < 3 * n) throw new ArgumentException($"tensor buffer too small: need {3 * n} floats from {offset}");
        // The 256 possible values per channel, computed once: the same float ops torch does per element.
        Span<float> lut = stackalloc float[256 * 3];
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
            {
                float x = v / 255f;
                float d = x - ImageNetMean[c];
                lut[c * 256 + v] = d / ImageNetStd[c];
            }
        var px = image.Pixels;
        int i = 0;
        if (Avx2.IsSupported)
            fixed (byte* p = px)
            fixed (float* t = lut, o = chw)
            {
                float* o0 = o + offset, o1 = o0 + n, o2 = o1 + n;
                for (; 3 * i + 28 <= px.Length; i += 8)
                {
                    Load8(p + 3 * i, out var r, out var g, out var b);
                    Avx.Store(o0 + i, Avx2.GatherVector256(t, r, 4));
                    Avx.Store(o1 + i, Avx2.GatherVector256(t + 256, g, 4));
                    Avx.Store(o2 + i, Avx2.GatherVector256(t + 512, b, 4));
                }
            }
        for (; i < n; i++)
        {
            chw[offset + i] = lut[px[3 * i]];
            chw[offset + n + i] = lut[256 + px[3 * i + 1]];
            chw[offset + 2 * n + i] = lut[512 + px[3 * i + 2]];
        }
    }

    /// <summary>PIL <c>transpose(FLIP_LEFT_RIGHT)</c> (torchvision <c>hflip</c>), in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot loop: optimised from the first call (no tier-0 / OSR)
    public static unsafe void FlipHorizontal(RgbImage image)
    {
        int w = image.Width, stride = w * 3;
        var px = image.Pixels;
        // each row: copied aside, then written back reversed, 5 pixels (15 bytes) per 16-byte shuffle
        Span<byte> tmp = stride + 16 <= 16384 ? stackalloc byte[stride + 16] : new byte[stride + 16];
        var rev5 = Vector128.Create((byte)12, 13, 14, 9, 10, 11, 6, 7, 8, 3, 4, 5, 0, 1, 2, 128);
        fixed (byte* p0 = px, t = tmp)
            for (int y = 0; y < image.Height; y++)
            {
                byte* row = p0 + (long)y * stride;
                new ReadOnlySpan<byte>(row, stride).CopyTo(tmp);
                int x = 0;
                if (Ssse3.IsSupported)
                    // out pixels x..x+4 = in pixels w−5−x..w−1−x reversed; the 16th byte stored is rewritten next
                    for (; x + 5 <= w && (x + 5) * 3 + 1 <= stride; x += 5)
                        Ssse3.Shuffle(Vector128.Load(t + (w - 5 - x) * 3), rev5).Store(row + x * 3);
                for (; x < w; x++)
                {
                    byte* s = t + (w - 1 - x) * 3, d = row + x * 3;
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
            }
    }
}

/// <summary>Cutout on a normalised CHW tensor (docs/soco-reference.md §4.11): zeroing = painting the ImageNet mean colour.</summary>
public static class Cutout
{
    /// <summary>Sets the inclusive square [x1, x2]×[y1, y2] (clipped to the S×S view) to zero in all 3 channels.</summary>
    public static void Zero(float[] chw, int size, int x1, int y1, int x2, int y2, int offset = 0)
    {
        x1 = Math.Max(x1, 0);
        y1 = Math.Max(y1, 0);
        x2 = Math.Min(x2, size - 1);
        y2 = Math.Min(y2, size - 1);
        if (x2 < x1 || y2 < y1) return;
        int plane = size * size;
        for (int c = 0; c < 3; c++)
            for (int y = y1; y <= y2; y++)
                Array.Clear(chw, offset + c * plane + y * size + x1, x2 - x1 + 1);
    }
}
