using Soco.Imaging;

namespace Soco.Tests.Imaging.Reference;

/// <summary>
/// The colour operations of SoCo's BYOL-style view pipeline (docs/soco-reference.md §4.10), with the definitions torchvision applies to
/// PIL images, bit-exact to Pillow 9.4's C code (Blend.c, Convert.c, BoxBlur.c). Every operation works in place on
/// an <see cref="RgbImage"/> the caller owns; the factors are the already-drawn random values.
/// </summary>
/// <remarks>The straightforward scalar ColorOps: the oracle the optimised ones are checked against (ColorOpsFastPathTests);
/// itself checked bit-exact on the PIL / torchvision fixtures by ViewsColorTests.</remarks>
public static class ColorOpsReference
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
        var px = image.Pixels;
        for (int i = 0; i < px.Length; i++) px[i] = lut[px[i]];
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
        long sum = 0;
        for (int i = 0; i < px.Length; i += 3) sum += Luma(px[i], px[i + 1], px[i + 2]);
        double mean = (double)sum / (px.Length / 3);
        BlendConstant(image, (float)factor, (byte)(int)(mean + 0.5));
    }

    /// <summary>torchvision <c>adjust_saturation</c>: <c>ImageEnhance.Color</c>, blending with the image's own luma.</summary>
    public static void AdjustSaturation(RgbImage image, double factor)
    {
        float alpha = (float)factor;
        if (alpha == 1.0f) return;
        var px = image.Pixels;
        bool interpolate = alpha >= 0 && alpha <= 1.0f;
        for (int i = 0; i < px.Length; i += 3)
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

    /// <summary>
    /// torchvision <c>adjust_hue</c> on PIL: RGB → HSV (PIL), hue byte += <c>np.uint8(hue_factor·255)</c> with uint8
    /// wrap-around, HSV → RGB (PIL). <paramref name="hueFactor"/> ∈ [−0.5, 0.5].
    /// </summary>
    public static void AdjustHue(RgbImage image, double hueFactor)
    {
        if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new ArgumentOutOfRangeException(nameof(hueFactor), hueFactor, "hue factor must be in [-0.5, 0.5]");
        // np.uint8(float): C conversion to an integer (truncation toward zero), then modulo 256.
        byte shift = unchecked((byte)(long)(hueFactor * 255));
        var px = image.Pixels;
        for (int i = 0; i < px.Length; i += 3)
        {
            RgbToHsv(px[i], px[i + 1], px[i + 2], out byte h, out byte s, out byte v);
            h = unchecked((byte)(h + shift));
            HsvToRgb(h, s, v, out px[i], out px[i + 1], out px[i + 2]);
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
    public static void Grayscale(RgbImage image)
    {
        var px = image.Pixels;
        for (int i = 0; i < px.Length; i += 3)
            px[i] = px[i + 1] = px[i + 2] = Luma(px[i], px[i + 1], px[i + 2]);
    }

    /// <summary>PIL <c>ImageOps.solarize(img, threshold)</c>: values ≥ threshold become 255 − v.</summary>
    public static void Solarize(RgbImage image, int threshold = 128)
    {
        var px = image.Pixels;
        for (int i = 0; i < px.Length; i++)
            if (px[i] >= threshold) px[i] = (byte)(255 - px[i]);
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
    /// (i.e. vertical), a transpose back; the three channels of a pixel at once like PIL's 32-bit path.
    /// </summary>
    public static void BoxBlur(RgbImage image, float radius, int passes)
    {
        int w = image.Width, h = image.Height;
        int ir = (int)radius;
        uint ww = (uint)((float)(1u << 24) / (radius * 2 + 1));
        uint fw = ((1u << 24) - (uint)(ir * 2 + 1) * ww) / 2;
        var px = image.Pixels;
        BlurRows(px, w, h, ir, ww, fw, passes);
        var t = new byte[px.Length];
        Transpose(px, t, w, h);
        BlurRows(t, h, w, ir, ww, fw, passes);
        Transpose(t, px, h, w);
    }

    static unsafe void Transpose(byte[] src, byte[] dst, int w, int h)
    {
        const int tile = 32;
        fixed (byte* sp = src, dp = dst)
            for (int y0 = 0; y0 < h; y0 += tile)
                for (int x0 = 0; x0 < w; x0 += tile)
                    for (int y = y0, ye = Math.Min(y0 + tile, h); y < ye; y++)
                        for (int x = x0, xe = Math.Min(x0 + tile, w); x < xe; x++)
                        {
                            byte* s = sp + (y * w + x) * 3, d = dp + (x * h + y) * 3;
                            d[0] = s[0];
                            d[1] = s[1];
                            d[2] = s[2];
                        }
    }

    static void BlurRows(byte[] px, int w, int h, int radius, uint ww, uint fw, int passes)
    {
        var a = new byte[w * 3];
        var b = new byte[w * 3];
        int edgeA = Math.Min(radius + 1, w), edgeB = Math.Max(w - radius - 1, 0);
        for (int y = 0; y < h; y++)
        {
            var row = px.AsSpan(y * w * 3, w * 3);
            row.CopyTo(a);
            for (int p = 0; p < passes; p++)
            {
                LineBoxBlur(b, a, w - 1, radius, edgeA, edgeB, ww, fw);
                (a, b) = (b, a);
            }
            a.CopyTo(row);
        }
    }

    /// <summary>
    /// BoxBlur.c <c>ImagingLineBoxBlur32</c> on RGB pixels, unsigned 32-bit arithmetic as in C. PIL's five edge
    /// loops are one loop here: in each of them the subtracted / left index is max(x − r − 1, 0), the added one
    /// min(x + r, lastx) and the right one min(x + r + 1, lastx) (edgeA = min(r + 1, w), edgeB = max(w − r − 1, 0)).
    /// </summary>
    static unsafe void LineBoxBlur(byte[] lineOut, byte[] lineIn, int lastx, int radius, int edgeA, int edgeB, uint ww, uint fw)
    {
        unchecked
        {
            fixed (byte* inp = lineIn, outp = lineOut)
            {
                uint a0 = (uint)(inp[0] * (radius + 1)), a1 = (uint)(inp[1] * (radius + 1)), a2 = (uint)(inp[2] * (radius + 1));
                for (int x = 0; x < edgeA - 1; x++)
                {
                    a0 += inp[3 * x];
                    a1 += inp[3 * x + 1];
                    a2 += inp[3 * x + 2];
                }
                int rest = radius - edgeA + 1, l3 = 3 * lastx;
                a0 += (uint)(inp[l3] * rest);
                a1 += (uint)(inp[l3 + 1] * rest);
                a2 += (uint)(inp[l3 + 2] * rest);
                const uint half = 1u << 23;
                for (int x = 0; x <= lastx; x++)
                {
                    byte* sub = inp + 3 * Math.Max(x - radius - 1, 0);
                    byte* add = inp + 3 * Math.Min(x + radius, lastx);
                    byte* right = inp + 3 * Math.Min(x + radius + 1, lastx);
                    a0 += (uint)(add[0] - sub[0]);
                    a1 += (uint)(add[1] - sub[1]);
                    a2 += (uint)(add[2] - sub[2]);
                    byte* o = outp + 3 * x;
                    o[0] = (byte)((a0 * ww + (uint)(sub[0] + right[0]) * fw + half) >> 24);
                    o[1] = (byte)((a1 * ww + (uint)(sub[1] + right[1]) * fw + half) >> 24);
                    o[2] = (byte)((a2 * ww + (uint)(sub[2] + right[2]) * fw + half) >> 24);
                }
            }
        }
    }

    /// <summary>ImageNet mean and std of torchvision's <c>Normalize</c> in SoCo (float32).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>
    /// torchvision <c>ToTensor()</c> then <c>Normalize(mean, std)</c>, float32 as torch computes it:
    /// <c>(v / 255 − mean) / std</c>, CHW layout, written into <paramref name="chw"/> (3·H·W) at <paramref name="offset"/>.
    /// </summary>
    public static void ToNormalizedTensor(RgbImage image, float[] chw, int offset = 0)
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
        for (int i = 0; i < n; i++)
        {
            chw[offset + i] = lut[px[3 * i]];
            chw[offset + n + i] = lut[256 + px[3 * i + 1]];
            chw[offset + 2 * n + i] = lut[512 + px[3 * i + 2]];
        }
    }

    /// <summary>PIL <c>transpose(FLIP_LEFT_RIGHT)</c> (torchvision <c>hflip</c>), in place.</summary>
    public static void FlipHorizontal(RgbImage image)
    {
        int w = image.Width;
        var px = image.Pixels;
        for (int y = 0; y < image.Height; y++)
        {
            int row = y * w * 3;
            for (int a = 0, b = w - 1; a < b; a++, b--)
                for (int c = 0; c < 3; c++)
                    (px[row + a * 3 + c], px[row + b * 3 + c]) = (px[row + b * 3 + c], px[row + a * 3 + c]);
        }
    }
}

