using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Soco.Proposals.OpenCv;

/// <summary>
/// The texture features of OpenCV's selective search (SelectiveSearchSegmentationStrategyTexture::setImage): per
/// channel, Scharr x/y on the plane and on the plane rotated by 45° (warpAffine there, Scharr, warpAffine back by −45°,
/// centre crop), each split into positive and negative parts and min-max scaled to 8 bits; then each value's histogram
/// bin (10 bins over [0, 256)). Integer and float steps follow OpenCV 4.6 (imgwarp fixed-point bilinear remap for
/// 8-bit, float bilinear remap for the gradients, FMA in convertTo).
/// </summary>
internal static class TextureMaps
{
    public const int Bins = 10;
    private const int InterBits = 5, InterTabSize = 1 << InterBits, AbBits = 10, AbScale = 1 << AbBits;
    private const int RemapCoefBits = 15, RemapCoefScale = 1 << RemapCoefBits;

    /// <summary>
    /// Histogram bins, one byte per (pixel, map): <c>bins[p * 8·channels + m] = m * 10 + bin</c> for map
    /// <c>m = channel * 8 + k</c>, maps in OpenCV's order x+, x−, y+, y−, rotated x+, x−, rotated y+, y− (so the value
    /// indexes a region's 8·10·channels texture histogram directly).
    /// </summary>
    public static byte[] ComputeBins(OcvImage img) => ComputeBins(img, Geometry.For(img.Width, img.Height));

    internal static byte[] ComputeBins(OcvImage img, Geometry geo) =>
        ComputeBins(img, geo, new byte[img.Width * img.Height * 8 * img.Channels]);

    /// <summary><see cref="ComputeBins(OcvImage)"/> into <paramref name="bins"/> (at least pixels × 8 · channels long).</summary>
    internal static byte[] ComputeBins(OcvImage img, Geometry geo, byte[] bins)
    {
        int w = img.Width, h = img.Height, cn = img.Channels, n = w * h;
        int bw = geo.BbW, bh = geo.BbH;
        var scratch = PerThreadArrays.For(n);
        var plane = cn == 1 ? img.Data : scratch.Get<byte>("tex.plane", n);
        var gx = scratch.Get<float>("tex.gx", n);
        var gy = scratch.Get<float>("tex.gy", n);
        var rotated = scratch.Get<byte>("tex.rotated", bw * bh);
        var rgx = scratch.Get<float>("tex.rgx", bw * bh);
        var rgy = scratch.Get<float>("tex.rgy", bw * bh);
        var rowS = scratch.Get<int>("tex.rowS", Math.Max(w, bw));
        var rowD = scratch.Get<int>("tex.rowD", Math.Max(w, bw));
        for (int c = 0; c < cn; c++)
        {
            if (cn > 1)
            {
                var d = img.Data;
                for (int i = 0, q = c; i < n; i++, q += cn) plane[i] = d[q];
            }
            int m0 = c * 8;
            ScharrXY(plane, w, h, gx, gy, rowS, rowD);
            EmitPair(gx, bins, n, m0 + 0, 8 * cn);
            EmitPair(gy, bins, n, m0 + 2, 8 * cn);
            WarpAffine8U(plane, w, h, geo.Fwd, rotated);
            ScharrXY(rotated, bw, bh, rgx, rgy, rowS, rowD);
            WarpAffine32F(rgx, bw, bh, geo.Back, gx);
            EmitPair(gx, bins, n, m0 + 4, 8 * cn);
            WarpAffine32F(rgy, bw, bh, geo.Back, gy);
            EmitPair(gy, bins, n, m0 + 6, 8 * cn);
        }
        return bins;
    }

    /// <summary>
    /// The warp geometry of an image size (the same for every channel and colour space): the forward 45° rotation
    /// into the rotated bounding box, and the −45° rotation back, of which only the centre crop OpenCV keeps is used.
    /// </summary>
    internal sealed class Geometry
    {
        public required int Width, Height, BbW, BbH;
        public required WarpCoords Fwd, Back;

        [ThreadStatic] private static Geometry? _last;

        public static Geometry For(int w, int h)
        {
            var g = _last;
            if (g != null && g.Width == w && g.Height == h) return g;
            float cx = w / 2.0f, cy = h / 2.0f;
            var rot = RotationMatrix(cx, cy, 45.0);
            var (bbw, bbh) = RotatedBoundingSize(cx, cy, w, h, 45.0f);
            rot[2] += bbw / 2.0 - cx;
            rot[5] += bbh / 2.0 - cy;
            var fwd = Coords(rot, 0, 0, bbw, bbh, w, h);
            float c2x = (int)(bbw / 2.0), c2y = (int)(bbh / 2.0);
            var backM = RotationMatrix(c2x, c2y, -45.0);
            var (b2w, b2h) = RotatedBoundingSize(c2x, c2y, bbw, bbh, -45.0f);
            int startX = Math.Max(0, (bbw - w) / 2), startY = Math.Max(0, (bbh - h) / 2);
            if (startX + w > b2w || startY + h > b2h) throw new InvalidOperationException("crop outside the back-rotated image");
            var back = Coords(backM, startX, startY, w, h, bbw, bbh);
            g = new Geometry { Width = w, Height = h, BbW = bbw, BbH = bbh, Fwd = fwd, Back = back };
            _last = g;
            return g;
        }
    }

    /// <summary>
    /// Calls <paramref name="sink"/> with the 4 gradients per channel (index channel·4 + {x, y, rotated x, rotated y}),
    /// each of the image's size, before the positive/negative split.
    /// </summary>
    internal static void ForEachGradient(OcvImage img, Action<int, float[]> sink)
    {
        int w = img.Width, h = img.Height, cn = img.Channels, n = w * h;
        var geo = Geometry.For(w, h);
        int bw = geo.BbW, bh = geo.BbH;
        var plane = new byte[n];
        var rowS = new int[Math.Max(w, bw)];
        var rowD = new int[Math.Max(w, bw)];
        for (int c = 0; c < cn; c++)
        {
            for (int i = 0, q = c; i < n; i++, q += cn) plane[i] = img.Data[q];
            var gx = new float[n];
            var gy = new float[n];
            ScharrXY(plane, w, h, gx, gy, rowS, rowD);
            sink(c * 4 + 0, gx);
            sink(c * 4 + 1, gy);
            var rotated = new byte[bw * bh];
            WarpAffine8U(plane, w, h, geo.Fwd, rotated);
            var rgx = new float[bw * bh];
            var rgy = new float[bw * bh];
            ScharrXY(rotated, bw, bh, rgx, rgy, rowS, rowD);
            var bx = new float[n];
            var by = new float[n];
            WarpAffine32F(rgx, bw, bh, geo.Back, bx);
            WarpAffine32F(rgy, bw, bh, geo.Back, by);
            sink(c * 4 + 2, bx);
            sink(c * 4 + 3, by);
        }
    }

    /// <summary>
    /// Both parts of one gradient: threshold(TOZERO or TOZERO_INV at 0), then minMaxLoc and convertTo(CV_8U,
    /// 255/(max−min), −255·min/(max−min)), then the histogram bin; writes maps m (positive) and m + 1 (negative).
    /// </summary>
    private static unsafe void EmitPair(float[] g, byte[] bins, int n, int m, int stride)
    {
        // min/max of the thresholded maps follow from those of g: max(v, 0) and min(v, 0) are monotone.
        float gmin = float.PositiveInfinity, gmax = float.NegativeInfinity;
        int i = 0;
        fixed (float* pg = g)
        fixed (byte* pb = bins)
        {
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var vmin = Vector256.Create(float.PositiveInfinity);
                var vmax = Vector256.Create(float.NegativeInfinity);
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(pg + i);
                    vmin = Vector256.Min(vmin, v);
                    vmax = Vector256.Max(vmax, v);
                }
                for (int j = 0; j < 8; j++)
                {
                    gmin = Math.Min(gmin, vmin.GetElement(j));
                    gmax = Math.Max(gmax, vmax.GetElement(j));
                }
            }
            for (; i < n; i++)
            {
                float v = pg[i];
                if (v < gmin) gmin = v;
                if (v > gmax) gmax = v;
            }
            Convert(pg, pb + m, stride, n, gmin > 0 ? gmin : 0, gmax > 0 ? gmax : 0, true, (byte)(m * Bins));
            Convert(pg, pb + m + 1, stride, n, gmin > 0 ? 0 : gmin, gmax > 0 ? 0 : gmax, false, (byte)((m + 1) * Bins));
        }
    }

    private static unsafe void Convert(float* g, byte* dst, int stride, int n, float mn, float mx, bool positive, byte baseBin)
    {
        double hmin = mn, hmax = mx;
        if (hmax == hmin)
        {
            // alpha = inf gives NaN, which OpenCV's conversion turns into 0 (bin 0).
            for (int j = 0; j < n; j++) dst[j * stride] = baseBin;
            return;
        }
        float a = (float)((256.0f - 1) / (hmax - hmin));
        float b = (float)(-(256.0f - 1) * hmin / (hmax - hmin));
        const float BinWidth = 256.0f / Bins;
        int i = 0;
        if (Fma.IsSupported && Avx2.IsSupported)
        {
            var va = Vector256.Create(a);
            var vb = Vector256.Create(b);
            var zero = Vector256<float>.Zero;
            var top = Vector256.Create(255f);
            var width = Vector256.Create(BinWidth);
            var vbase = Vector256.Create((int)baseBin);
            for (; i <= n - 8; i += 8)
            {
                var v = Avx.LoadVector256(g + i);
                // TOZERO keeps v > 0; TOZERO_INV keeps v <= 0 (a −0 there becomes +0, which converts to the same byte).
                v = positive ? Avx.Max(v, zero) : Avx.Min(v, zero);
                var t = Avx.Min(Avx.Max(Fma.MultiplyAdd(v, va, vb), zero), top);
                var r = Avx.ConvertToVector256Int32(t); // round to nearest even, like cvRound / saturate_cast
                var bin = Avx.ConvertToVector256Int32WithTruncation(Avx.Divide(Avx.ConvertToVector256Single(r), width));
                bin = Avx2.Add(bin, vbase);
                // 8 ints -> 8 bytes, stored with the pixel stride
                var p16 = Avx2.PackSignedSaturate(bin, bin);                 // lanes: 0-3,0-3 | 4-7,4-7
                var p8 = Avx2.PackUnsignedSaturate(p16, p16);
                ulong lo = p8.AsUInt32().GetElement(0), hi = p8.AsUInt32().GetElement(4);
                ulong all = lo | (hi << 32);
                byte* o = dst + (long)i * stride;
                for (int j = 0; j < 8; j++, o += stride) *o = (byte)(all >> (8 * j));
            }
        }
        for (; i < n; i++)
        {
            float v = g[i];
            v = positive ? (v > 0 ? v : 0) : (v > 0 ? 0 : v);
            float r = MathF.Round(MathF.FusedMultiplyAdd(v, a, b), MidpointRounding.ToEven);
            int q = r <= 0 ? 0 : r >= 255 ? 255 : (int)r;
            dst[(long)i * stride] = (byte)(baseBin + (int)(q / BinWidth));
        }
    }

    /// <summary>Scharr(src 8U, CV_32F, dx=1,dy=0) and (dx=0,dy=1), BORDER_REFLECT_101. Exact integers.</summary>
    internal static unsafe void ScharrXY(byte[] src, int w, int h, float[] gx, float[] gy, int[] rowS, int[] rowD)
    {
        fixed (byte* ps = src)
        fixed (float* px = gx, py = gy)
        fixed (int* s = rowS, d = rowD)
        {
            for (int y = 0; y < h; y++)
            {
                byte* r0 = ps + GraphSegmentation.Reflect101(y - 1, h) * w, r1 = ps + y * w, r2 = ps + GraphSegmentation.Reflect101(y + 1, h) * w;
                // Vertical parts: S = 3·up + 10·centre + 3·down (smoothing, for d/dx), D = down − up (for d/dy).
                int x = 0;
                if (Avx2.IsSupported)
                {
                    var three = Vector256.Create(3);
                    var ten = Vector256.Create(10);
                    for (; x <= w - 8; x += 8)
                    {
                        var a = Avx2.ConvertToVector256Int32(r0 + x);
                        var b = Avx2.ConvertToVector256Int32(r1 + x);
                        var c = Avx2.ConvertToVector256Int32(r2 + x);
                        Avx.Store(s + x, Avx2.Add(Avx2.MultiplyLow(Avx2.Add(a, c), three), Avx2.MultiplyLow(b, ten)));
                        Avx.Store(d + x, Avx2.Subtract(c, a));
                    }
                }
                for (; x < w; x++)
                {
                    s[x] = 3 * (r0[x] + r2[x]) + 10 * r1[x];
                    d[x] = r2[x] - r0[x];
                }
                float* ox = px + y * w, oy = py + y * w;
                if (w == 1)
                {
                    ox[0] = 0; // s[0] − s[0]
                    oy[0] = 16 * d[0];
                    continue;
                }
                // x = 0 and x = w−1 reflect to 1 and w−2.
                ox[0] = s[1] - s[1];
                oy[0] = 3 * d[1] + 10 * d[0] + 3 * d[1];
                x = 1;
                if (Avx2.IsSupported)
                {
                    var three = Vector256.Create(3);
                    var ten = Vector256.Create(10);
                    for (; x <= w - 9; x += 8)
                    {
                        var sl = Avx.LoadVector256(s + x - 1);
                        var sr = Avx.LoadVector256(s + x + 1);
                        var dl = Avx.LoadVector256(d + x - 1);
                        var dc = Avx.LoadVector256(d + x);
                        var dr = Avx.LoadVector256(d + x + 1);
                        Avx.Store(ox + x, Avx.ConvertToVector256Single(Avx2.Subtract(sr, sl)));
                        Avx.Store(oy + x, Avx.ConvertToVector256Single(Avx2.Add(Avx2.MultiplyLow(Avx2.Add(dl, dr), three), Avx2.MultiplyLow(dc, ten))));
                    }
                }
                for (; x < w - 1; x++)
                {
                    ox[x] = s[x + 1] - s[x - 1];
                    oy[x] = 3 * (d[x - 1] + d[x + 1]) + 10 * d[x];
                }
                ox[w - 1] = s[w - 2] - s[w - 2];
                oy[w - 1] = 3 * (d[w - 2] + d[w - 2]) + 10 * d[w - 1];
            }
        }
    }

    /// <summary>getRotationMatrix2D(center, angle, 1) as a row-major 2×3 double matrix.</summary>
    internal static double[] RotationMatrix(float cx, float cy, double angleDeg)
    {
        double angle = angleDeg * Math.PI / 180;
        double alpha = Math.Cos(angle), beta = Math.Sin(angle);
        return new[]
        {
            alpha, beta, (1 - alpha) * cx - beta * cy,
            -beta, alpha, beta * cx + (1 - alpha) * cy,
        };
    }

    /// <summary>RotatedRect(center, Size2f(w, h), angle).boundingRect() width and height.</summary>
    internal static (int W, int H) RotatedBoundingSize(float cx, float cy, int w, int h, float angleDeg)
    {
        double ang = angleDeg * Math.PI / 180.0;
        float b = (float)Math.Cos(ang) * 0.5f;
        float a = (float)Math.Sin(ang) * 0.5f;
        float sw = w, sh = h;
        float p0x = cx - a * sh - b * sw, p0y = cy + b * sh - a * sw;
        float p1x = cx + a * sh - b * sw, p1y = cy - b * sh - a * sw;
        float p2x = 2 * cx - p0x, p2y = 2 * cy - p0y;
        float p3x = 2 * cx - p1x, p3y = 2 * cy - p1y;
        int x0 = (int)MathF.Floor(MathF.Min(MathF.Min(MathF.Min(p0x, p1x), p2x), p3x));
        int y0 = (int)MathF.Floor(MathF.Min(MathF.Min(MathF.Min(p0y, p1y), p2y), p3y));
        int x1 = (int)MathF.Ceiling(MathF.Max(MathF.Max(MathF.Max(p0x, p1x), p2x), p3x));
        int y1 = (int)MathF.Ceiling(MathF.Max(MathF.Max(MathF.Max(p0y, p1y), p2y), p3y));
        return (x1 - x0 + 1, y1 - y0 + 1);
    }

    private static int CvRound(double v) => (int)Math.Round(v, MidpointRounding.ToEven);

    /// <summary>
    /// The per-pixel source of warpAffine (INTER_LINEAR, BORDER_CONSTANT 0) for the inverse of the forward matrix,
    /// exactly as WarpAffineInvoker computes it: integer (sx, sy) and the 5+5-bit fraction index. Kind 0: all four
    /// taps inside (Off = sy·sw + sx); 1: all outside (0); 2: partly outside (taps read with a zero border).
    /// </summary>
    internal sealed class WarpCoords
    {
        public required short[] Xs, Ys;
        public required int[] Off, W4; // source offset; fraction index · 4 (into the weight tables)
        public required byte[] Kind;
    }

    /// <summary>Coordinates for the destination window [x0, x0+dw) × [y0, y0+dh) of a sw × sh source.</summary>
    private static WarpCoords Coords(double[] m, int x0, int y0, int dw, int dh, int sw, int sh)
    {
        double m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5];
        double D = m0 * m4 - m1 * m3;
        D = D != 0 ? 1.0 / D : 0;
        double a11 = m4 * D, a22 = m0 * D;
        m0 = a11; m1 *= -D;
        m3 *= -D; m4 = a22;
        double b1 = -m0 * m2 - m1 * m5;
        double b2 = -m3 * m2 - m4 * m5;
        m2 = b1; m5 = b2;

        var adelta = new int[dw];
        var bdelta = new int[dw];
        for (int x = 0; x < dw; x++)
        {
            adelta[x] = CvRound(m0 * (x + x0) * AbScale);
            bdelta[x] = CvRound(m3 * (x + x0) * AbScale);
        }
        const int roundDelta = AbScale / InterTabSize / 2;
        int total = dw * dh;
        var xs = new short[total];
        var ys = new short[total];
        var off = new int[total];
        var w4 = new int[total];
        var kind = new byte[total];
        for (int y = 0; y < dh; y++)
        {
            int X0 = CvRound((m1 * (y + y0) + m2) * AbScale) + roundDelta;
            int Y0 = CvRound((m4 * (y + y0) + m5) * AbScale) + roundDelta;
            int o = y * dw;
            for (int x = 0; x < dw; x++)
            {
                int X = (X0 + adelta[x]) >> (AbBits - InterBits);
                int Y = (Y0 + bdelta[x]) >> (AbBits - InterBits);
                int sx = SatShort(X >> InterBits), sy = SatShort(Y >> InterBits);
                xs[o + x] = (short)sx;
                ys[o + x] = (short)sy;
                w4[o + x] = ((Y & (InterTabSize - 1)) * InterTabSize + (X & (InterTabSize - 1))) * 4;
                if ((uint)sx < (uint)(sw - 1) && (uint)sy < (uint)(sh - 1))
                {
                    kind[o + x] = 0;
                    off[o + x] = sy * sw + sx;
                }
                else if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0) kind[o + x] = 1;
                else kind[o + x] = 2;
            }
        }
        return new WarpCoords { Xs = xs, Ys = ys, Off = off, W4 = w4, Kind = kind };
    }

    private static short SatShort(int v) => (short)(v < short.MinValue ? short.MinValue : v > short.MaxValue ? short.MaxValue : v);

    private static readonly float[] WTabF = BuildWTabF();
    private static readonly int[] WTabI = BuildWTabI();

    private static float[] BuildWTabF()
    {
        var t = new float[InterTabSize * InterTabSize * 4];
        for (int i = 0; i < InterTabSize; i++)
        {
            float fy = i * (1.0f / InterTabSize);
            float vy0 = 1.0f - fy, vy1 = fy;
            for (int j = 0; j < InterTabSize; j++)
            {
                float fx = j * (1.0f / InterTabSize);
                float vx0 = 1.0f - fx, vx1 = fx;
                int o = (i * InterTabSize + j) * 4;
                t[o] = vy0 * vx0; t[o + 1] = vy0 * vx1; t[o + 2] = vy1 * vx0; t[o + 3] = vy1 * vx1;
            }
        }
        return t;
    }

    private static int[] BuildWTabI()
    {
        var f = BuildWTabF();
        var t = new int[f.Length];
        for (int i = 0; i < f.Length; i++) t[i] = (int)MathF.Round(f[i] * RemapCoefScale, MidpointRounding.ToEven); // exact: multiples of 1/1024
        return t;
    }

    /// <summary>warpAffine(8U, 1 channel, INTER_LINEAR, BORDER_CONSTANT 0) with OpenCV's fixed-point weights.</summary>
    internal static unsafe void WarpAffine8U(byte[] src, int sw, int sh, WarpCoords co, byte[] dst)
    {
        var wt = WTabI;
        fixed (byte* ps = src, pd = dst, pk = co.Kind)
        fixed (int* poff = co.Off, pw = co.W4, pt = wt)
        {
            int len = co.Kind.Length; // dst may be a longer scratch array
            for (int i = 0; i < len; i++)
            {
                int kind = pk[i];
                if (kind == 1)
                {
                    pd[i] = 0;
                    continue;
                }
                int* t = pt + pw[i];
                int sum;
                if (kind == 0)
                {
                    byte* p = ps + poff[i];
                    sum = p[0] * t[0] + p[1] * t[1] + p[sw] * t[2] + p[sw + 1] * t[3];
                }
                else
                {
                    int sx = co.Xs[i], sy = co.Ys[i];
                    sum = Px8(src, sw, sh, sx, sy) * t[0] + Px8(src, sw, sh, sx + 1, sy) * t[1]
                        + Px8(src, sw, sh, sx, sy + 1) * t[2] + Px8(src, sw, sh, sx + 1, sy + 1) * t[3];
                }
                int r = (sum + (1 << (RemapCoefBits - 1))) >> RemapCoefBits;
                pd[i] = (byte)(r < 0 ? 0 : r > 255 ? 255 : r);
            }
        }
    }

    private static int Px8(byte[] s, int w, int h, int x, int y) => (uint)x < (uint)w && (uint)y < (uint)h ? s[y * w + x] : 0;
    private static float PxF(float[] s, int w, int h, int x, int y) => (uint)x < (uint)w && (uint)y < (uint)h ? s[y * w + x] : 0f;

    /// <summary>warpAffine(32F, 1 channel, INTER_LINEAR, BORDER_CONSTANT 0) with OpenCV's float weights.</summary>
    internal static unsafe void WarpAffine32F(float[] src, int sw, int sh, WarpCoords co, float[] dst)
    {
        var wt = WTabF;
        fixed (float* ps = src, pd = dst, pt = wt)
        fixed (byte* pk = co.Kind)
        fixed (int* poff = co.Off, pw = co.W4)
        {
            int len = co.Kind.Length; // dst may be a longer scratch array
            for (int i = 0; i < len; i++)
            {
                int kind = pk[i];
                if (kind == 1)
                {
                    pd[i] = 0;
                    continue;
                }
                float* t = pt + pw[i];
                if (kind == 0)
                {
                    float* p = ps + poff[i];
                    pd[i] = p[0] * t[0] + p[1] * t[1] + p[sw] * t[2] + p[sw + 1] * t[3];
                }
                else
                {
                    int sx = co.Xs[i], sy = co.Ys[i];
                    float v0 = PxF(src, sw, sh, sx, sy), v1 = PxF(src, sw, sh, sx + 1, sy);
                    float v2 = PxF(src, sw, sh, sx, sy + 1), v3 = PxF(src, sw, sh, sx + 1, sy + 1);
                    pd[i] = v0 * t[0] + v1 * t[1] + v2 * t[2] + v3 * t[3];
                }
            }
        }
    }
}
