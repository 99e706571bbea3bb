namespace Soco.Imaging;

/// <summary>
/// The colour operations of SoCo's BYOL-style view pipeline (spec §4.10), with the definitions torchvision applies to
/// PIL images, bit-exact to Pillow 9.4's C code (Blend.c, Convert.c, BoxBlur.c). Every operation works in place on
/// an <see cref="RgbImage"/> the caller owns; the factors are the already-drawn random values.
/// </summary>
public static class ColorOps
{
    /// <summary>ITU-R 601-2 luma as PIL's <c>convert('L')</c> computes it (Convert.c, <c>L24(rgb) &gt;&gt; 16</c>).</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>
    /// PIL's <c>Image.blend(degenerate, image, alpha)</c> where the degenerate image is given per pixel by
    /// <paramref name="degenerate"/>(byteIndex) (Blend.c: float arithmetic, truncation, clipping when extrapolating).
    /// </summary>
    static void BlendWith(RgbImage image, float alpha, Func<int, byte[], byte> degenerate)
    {
        if (alpha == 1.0f) return; // Blend.c shortcut: a copy of the image
        var px = image.Pixels;
        if (alpha == 0.0f)
        {
            var copy = (byte[])px.Clone();
            for (int i = 0; i < px.Length; i++) px[i] = degenerate(i, copy);
            return;
        }
        bool interpolate = alpha >= 0 && alpha <= 1.0f;
        for (int i = 0; i < px.Length; i++)
        {
            int a = degenerate(i, px);
            float prod = alpha * (px[i] - a);
            float t = a + prod;
            if (interpolate) px[i] = (byte)(int)t;
            else px[i] = t <= 0.0f ? (byte)0 : t >= 255.0f ? (byte)255 : (byte)(int)t;
        }
    }

    /// <summary>torchvision <c>adjust_brightness</c>: <c>ImageEnhance.Brightness(img).enhance(factor)</c>.</summary>
    public static void AdjustBrightness(RgbImage image, double factor) =>
        BlendWith(image, (float)factor, static (_, _) => 0);

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
        byte m = (byte)(int)(mean + 0.5);
        BlendWith(image, (float)factor, (_, _) => m);
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
            int l = Luma(px[i], px[i + 1], px[i + 2]);
            for (int c = 0; c < 3; c++)
            {
                if (alpha == 0.0f) { px[i + c] = (byte)l; continue; }
                float prod = alpha * (px[i + c] - l);
                float t = l + prod;
                if (interpolate) px[i + c] = (byte)(int)t;
                else px[i + c] = t <= 0.0f ? (byte)0 : t >= 255.0f ? (byte)255 : (byte)(int)t;
            }
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
        float rc = (maxc - r) / cr;
        float gc = (maxc - g) / cr;
        float bc = (maxc - b) / cr;
        float h;
        if (r == maxc) h = bc - gc;
        else if (g == maxc) h = (float)(2.0 + rc - bc);
        else h = (float)(4.0 + gc - rc);
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

    /// <summary>PIL <c>ImagingBoxBlur</c>: <paramref name="passes"/> horizontal passes, then as many vertical ones.</summary>
    public static void BoxBlur(RgbImage image, float radius, int passes)
    {
        int w = image.Width, h = image.Height;
        var px = image.Pixels;
        int ir = (int)radius;
        uint ww = (uint)((float)(1u << 24) / (radius * 2 + 1));
        uint fw = ((1u << 24) - (uint)(ir * 2 + 1) * ww) / 2;
        int maxLen = Math.Max(w, h);
        var line = new byte[maxLen];
        var outLine = new byte[maxLen];
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < h; y++)
            {
                int start = y * w * 3 + c;
                for (int x = 0; x < w; x++) line[x] = px[start + x * 3];
                for (int p = 0; p < passes; p++)
                {
                    LineBoxBlur(outLine, line, w - 1, ir, Math.Min(ir + 1, w), Math.Max(w - ir - 1, 0), ww, fw);
                    (line, outLine) = (outLine, line);
                }
                for (int x = 0; x < w; x++) px[start + x * 3] = line[x];
            }
            for (int x = 0; x < w; x++)
            {
                int start = x * 3 + c, stride = w * 3;
                for (int y = 0; y < h; y++) line[y] = px[start + y * stride];
                for (int p = 0; p < passes; p++)
                {
                    LineBoxBlur(outLine, line, h - 1, ir, Math.Min(ir + 1, h), Math.Max(h - ir - 1, 0), ww, fw);
                    (line, outLine) = (outLine, line);
                }
                for (int y = 0; y < h; y++) px[start + y * stride] = line[y];
            }
        }
    }

    /// <summary>BoxBlur.c <c>ImagingLineBoxBlur8</c>, unsigned 32-bit arithmetic as in C.</summary>
    static void LineBoxBlur(byte[] lineOut, byte[] lineIn, int lastx, int radius, int edgeA, int edgeB, uint ww, uint fw)
    {
        unchecked
        {
            uint acc = (uint)(lineIn[0] * (radius + 1));
            for (int x = 0; x < edgeA - 1; x++) acc += lineIn[x];
            acc += (uint)(lineIn[lastx] * (radius - edgeA + 1));

            void Step(int x, int sub, int add, int left, int right, ref uint acc)
            {
                acc += (uint)(lineIn[add] - lineIn[sub]);
                uint bulk = acc * ww + (uint)(lineIn[left] + lineIn[right]) * fw;
                lineOut[x] = (byte)((bulk + (1u << 23)) >> 24);
            }

            if (edgeA <= edgeB)
            {
                for (int x = 0; x < edgeA; x++) Step(x, 0, x + radius, 0, x + radius + 1, ref acc);
                for (int x = edgeA; x < edgeB; x++) Step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1, ref acc);
                for (int x = edgeB; x <= lastx; x++) Step(x, x - radius - 1, lastx, x - radius - 1, lastx, ref acc);
            }
            else
            {
                for (int x = 0; x < edgeB; x++) Step(x, 0, x + radius, 0, x + radius + 1, ref acc);
                for (int x = edgeB; x < edgeA; x++) Step(x, 0, lastx, 0, lastx, ref acc);
                for (int x = edgeA; x <= lastx; x++) Step(x, x - radius - 1, lastx, x - radius - 1, lastx, ref acc);
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

/// <summary>Cutout on a normalised CHW tensor (spec §4.11): zeroing = painting the ImageNet mean colour.</summary>
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
