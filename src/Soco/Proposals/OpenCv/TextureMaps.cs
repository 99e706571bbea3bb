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
    /// Histogram bins, one byte per (pixel, map): index <c>pixel * (8 * channels) + channel * 8 + map</c>,
    /// maps in OpenCV's order x+, x−, y+, y−, rotated x+, x−, rotated y+, y−.
    /// </summary>
    public static byte[] ComputeBins(OcvImage img)
    {
        int n = img.Width * img.Height, nm = 8 * img.Channels;
        var bins = new byte[n * nm];
        var binLut = new byte[256];
        for (int v = 0; v < 256; v++) binLut[v] = (byte)(int)(v / (256.0f / Bins));
        var map8 = new byte[n];
        ForEachGradient(img, (mi, g) =>
        {
            Emit(g, true, map8);
            Scatter(map8, bins, nm, 2 * mi, binLut);
            Emit(g, false, map8);
            Scatter(map8, bins, nm, 2 * mi + 1, binLut);
        });
        return bins;
    }

    /// <summary>
    /// Calls <paramref name="sink"/> with the 4 gradients per channel (index channel·4 + {x, y, rotated x, rotated y}),
    /// each of the image's size, before the positive/negative split.
    /// </summary>
    internal static void ForEachGradient(OcvImage img, Action<int, float[]> sink)
    {
        int w = img.Width, h = img.Height, cn = img.Channels, n = w * h;
        // Geometry (the same for every channel): forward 45° rotation into the rotated bounding box, and the −45°
        // rotation back, of which only the centre crop OpenCV keeps is computed.
        float cx = w / 2.0f, cy = h / 2.0f;
        var rot = RotationMatrix(cx, cy, 45.0);
        var (bbw, bbh) = RotatedBoundingSize(cx, cy, w, h, 45.0f);
        rot[2] += bbw / 2.0 - cx;
        rot[5] += bbh / 2.0 - cy;
        var fwd = Coords(rot, 0, 0, bbw, bbh);
        float c2x = (int)(bbw / 2.0), c2y = (int)(bbh / 2.0);
        var backM = RotationMatrix(c2x, c2y, -45.0);
        var (b2w, b2h) = RotatedBoundingSize(c2x, c2y, bbw, bbh, -45.0f);
        int startX = Math.Max(0, (bbw - w) / 2), startY = Math.Max(0, (bbh - h) / 2);
        if (startX + w > b2w || startY + h > b2h) throw new InvalidOperationException("crop outside the back-rotated image");
        var back = Coords(backM, startX, startY, w, h);
        var planeBuf = new byte[n];
        for (int c = 0; c < cn; c++)
        {
            byte[] plane;
            if (cn == 1) plane = img.Data;
            else
            {
                var d = img.Data;
                for (int i = 0, q = c; i < n; i++, q += cn) planeBuf[i] = d[q];
                plane = planeBuf;
            }
            sink(c * 4 + 0, Scharr(plane, w, h, 1, 0));
            sink(c * 4 + 1, Scharr(plane, w, h, 0, 1));
            var rotated = WarpAffine8U(plane, w, h, fwd);
            for (int d = 0; d < 2; d++)
            {
                var g = Scharr(rotated, bbw, bbh, d == 0 ? 1 : 0, d == 0 ? 0 : 1);
                sink(c * 4 + 2 + d, WarpAffine32F(g, bbw, bbh, back));
            }
        }
    }

    private static void Scatter(byte[] map8, byte[] bins, int stride, int offset, byte[] lut)
    {
        for (int i = 0, j = offset; i < map8.Length; i++, j += stride) bins[j] = lut[map8[i]];
    }

    /// <summary>threshold(TOZERO or TOZERO_INV at 0), then minMaxLoc and convertTo(CV_8U, 255/(max−min), −255·min/(max−min)).</summary>
    private static void Emit(float[] g, bool positive, byte[] dst)
    {
        int n = g.Length;
        float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            float v = g[i];
            v = positive ? (v > 0 ? v : 0) : (v > 0 ? 0 : v);
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        double hmin = mn, hmax = mx;
        if (hmax == hmin)
        {
            // alpha = inf gives NaN, which OpenCV's conversion turns into 0.
            Array.Clear(dst);
            return;
        }
        float a = (float)((256.0f - 1) / (hmax - hmin));
        float b = (float)(-(256.0f - 1) * hmin / (hmax - hmin));
        for (int i = 0; i < n; i++)
        {
            float v = g[i];
            v = positive ? (v > 0 ? v : 0) : (v > 0 ? 0 : v);
            float r = MathF.Round(MathF.FusedMultiplyAdd(v, a, b), MidpointRounding.ToEven);
            dst[i] = (byte)(r <= 0 ? 0 : r >= 255 ? 255 : (int)r);
        }
    }

    /// <summary>Scharr(src 8U, CV_32F, dx, dy), BORDER_REFLECT_101. Exact integers.</summary>
    internal static float[] Scharr(byte[] src, int w, int h, int dx, int dy)
    {
        var dst = new float[w * h];
        var xm = new int[w + 2];
        for (int x = -1; x <= w; x++) xm[x + 1] = GraphSegmentation.Reflect101(x, w);
        for (int y = 0; y < h; y++)
        {
            int r0 = GraphSegmentation.Reflect101(y - 1, h) * w, r1 = y * w, r2 = GraphSegmentation.Reflect101(y + 1, h) * w;
            int o = y * w;
            if (dx == 1)
            {
                for (int x = 0; x < w; x++)
                {
                    int xl = xm[x], xr = xm[x + 2];
                    int v = 3 * (src[r0 + xr] - src[r0 + xl]) + 10 * (src[r1 + xr] - src[r1 + xl]) + 3 * (src[r2 + xr] - src[r2 + xl]);
                    dst[o + x] = v;
                }
            }
            else
            {
                for (int x = 0; x < w; x++)
                {
                    int xl = xm[x], xc = xm[x + 1], xr = xm[x + 2];
                    int v = 3 * (src[r2 + xl] - src[r0 + xl]) + 10 * (src[r2 + xc] - src[r0 + xc]) + 3 * (src[r2 + xr] - src[r0 + xr]);
                    dst[o + x] = v;
                }
            }
        }
        return dst;
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
    /// The per-pixel source coordinate of warpAffine (INTER_LINEAR): integer (sx, sy) and the 5+5-bit fraction index,
    /// for the inverse of the forward matrix m, exactly as WarpAffineInvoker computes them.
    /// </summary>
    internal sealed class WarpCoords
    {
        public required short[] Xs, Ys, Frac;
    }

    /// <summary>Coordinates for the destination window [x0, x0+dw) × [y0, y0+dh).</summary>
    private static WarpCoords Coords(double[] m, int x0, int y0, int dw, int dh)
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
        var xs = new short[dw * dh];
        var ys = new short[dw * dh];
        var frac = new short[dw * dh];
        for (int y = 0; y < dh; y++)
        {
            int X0 = CvRound((m1 * (y + y0) + m2) * AbScale) + roundDelta;
            int Y0 = CvRound((m4 * (y + y0) + m5) * AbScale) + roundDelta;
            int o = y * dw;
            for (int x = 0; x < dw; x++)
            {
                int X = (X0 + adelta[x]) >> (AbBits - InterBits);
                int Y = (Y0 + bdelta[x]) >> (AbBits - InterBits);
                xs[o + x] = SatShort(X >> InterBits);
                ys[o + x] = SatShort(Y >> InterBits);
                frac[o + x] = (short)((Y & (InterTabSize - 1)) * InterTabSize + (X & (InterTabSize - 1)));
            }
        }
        return new WarpCoords { Xs = xs, Ys = ys, Frac = frac };
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
    internal static byte[] WarpAffine8U(byte[] src, int sw, int sh, WarpCoords co)
    {
        short[] xs = co.Xs, ys = co.Ys, frac = co.Frac;
        var dst = new byte[xs.Length];
        var wt = WTabI;
        for (int i = 0; i < dst.Length; i++)
        {
            int sx = xs[i], sy = ys[i], wo = frac[i] * 4;
            int sum;
            if ((uint)sx < (uint)(sw - 1) && (uint)sy < (uint)(sh - 1))
            {
                int p = sy * sw + sx;
                sum = src[p] * wt[wo] + src[p + 1] * wt[wo + 1] + src[p + sw] * wt[wo + 2] + src[p + sw + 1] * wt[wo + 3];
            }
            else if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0)
            {
                dst[i] = 0;
                continue;
            }
            else
            {
                int v0 = Px8(src, sw, sh, sx, sy), v1 = Px8(src, sw, sh, sx + 1, sy);
                int v2 = Px8(src, sw, sh, sx, sy + 1), v3 = Px8(src, sw, sh, sx + 1, sy + 1);
                sum = v0 * wt[wo] + v1 * wt[wo + 1] + v2 * wt[wo + 2] + v3 * wt[wo + 3];
            }
            int r = (sum + (1 << (RemapCoefBits - 1))) >> RemapCoefBits;
            dst[i] = (byte)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
        return dst;
    }

    private static int Px8(byte[] s, int w, int h, int x, int y) => (uint)x < (uint)w && (uint)y < (uint)h ? s[y * w + x] : 0;
    private static float PxF(float[] s, int w, int h, int x, int y) => (uint)x < (uint)w && (uint)y < (uint)h ? s[y * w + x] : 0f;

    /// <summary>warpAffine(32F, 1 channel, INTER_LINEAR, BORDER_CONSTANT 0) with OpenCV's float weights.</summary>
    internal static float[] WarpAffine32F(float[] src, int sw, int sh, WarpCoords co)
    {
        short[] xs = co.Xs, ys = co.Ys, frac = co.Frac;
        var dst = new float[xs.Length];
        var wt = WTabF;
        for (int i = 0; i < dst.Length; i++)
        {
            int sx = xs[i], sy = ys[i], wo = frac[i] * 4;
            if ((uint)sx < (uint)(sw - 1) && (uint)sy < (uint)(sh - 1))
            {
                int p = sy * sw + sx;
                dst[i] = src[p] * wt[wo] + src[p + 1] * wt[wo + 1] + src[p + sw] * wt[wo + 2] + src[p + sw + 1] * wt[wo + 3];
            }
            else if (sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0)
            {
                dst[i] = 0;
            }
            else
            {
                float v0 = PxF(src, sw, sh, sx, sy), v1 = PxF(src, sw, sh, sx + 1, sy);
                float v2 = PxF(src, sw, sh, sx, sy + 1), v3 = PxF(src, sw, sh, sx + 1, sy + 1);
                dst[i] = v0 * wt[wo] + v1 * wt[wo + 1] + v2 * wt[wo + 2] + v3 * wt[wo + 3];
            }
        }
        return dst;
    }
}
