using Soco.Imaging;

namespace Soco.Proposals.OpenCv;

/// <summary>
/// OpenCV's 8-bit colour conversions (imgproc cvtColor), bit-exact with OpenCV 4.6: BGR→HSV (H in 0..179),
/// BGR→Lab (sRGB, D65, 8-bit scaling: L·255/100, a+128, b+128) and BGR→GRAY. Inputs are BGR as OpenCV's imread gives
/// them; <see cref="FromRgb"/> turns SoCo's RGB image into that layout.
/// </summary>
public static class OpenCvColor
{
    /// <summary>RGB (SoCo) → BGR (OpenCV) 3-channel image.</summary>
    public static OcvImage FromRgb(RgbImage image)
    {
        var src = image.Pixels;
        var dst = new byte[src.Length];
        for (int i = 0; i < src.Length; i += 3)
        {
            dst[i] = src[i + 2];
            dst[i + 1] = src[i + 1];
            dst[i + 2] = src[i];
        }
        return new OcvImage(image.Width, image.Height, 3, dst);
    }

    // ---------------------------------------------------------------- GRAY
    // OpenCV 4.x RGB2Gray<uchar> uses 15-bit coefficients (they sum to 1 << 15).
    private const int YuvShift = 15, R2Y = 9798, G2Y = 19235, B2Y = 3735;

    /// <summary><c>cvtColor(bgr, COLOR_BGR2GRAY)</c>.</summary>
    public static OcvImage BgrToGray(OcvImage bgr)
    {
        Require3(bgr);
        var s = bgr.Data;
        var d = new byte[bgr.Width * bgr.Height];
        for (int i = 0, j = 0; i < d.Length; i++, j += 3)
            d[i] = (byte)((s[j] * B2Y + s[j + 1] * G2Y + s[j + 2] * R2Y + (1 << (YuvShift - 1))) >> YuvShift);
        return new OcvImage(bgr.Width, bgr.Height, 1, d);
    }

    // ---------------------------------------------------------------- HSV
    private const int HsvShift = 12;
    private static readonly int[] SDivTable = BuildSDiv();
    private static readonly int[] HDivTable180 = BuildHDiv(180);

    private static int[] BuildSDiv()
    {
        var t = new int[256];
        for (int i = 1; i < 256; i++) t[i] = (int)Math.Round((255 << HsvShift) / (1.0 * i), MidpointRounding.ToEven);
        return t;
    }

    private static int[] BuildHDiv(int hrange)
    {
        var t = new int[256];
        for (int i = 1; i < 256; i++) t[i] = (int)Math.Round((hrange << HsvShift) / (6.0 * i), MidpointRounding.ToEven);
        return t;
    }

    /// <summary><c>cvtColor(bgr, COLOR_BGR2HSV)</c> for 8-bit images: H in 0..179, S and V in 0..255.</summary>
    public static OcvImage BgrToHsv(OcvImage bgr)
    {
        Require3(bgr);
        var s = bgr.Data;
        var d = new byte[s.Length];
        var sdiv = SDivTable;
        var hdiv = HDivTable180;
        const int hr = 180;
        for (int j = 0; j < s.Length; j += 3)
        {
            int b = s[j], g = s[j + 1], r = s[j + 2];
            int v = Math.Max(b, Math.Max(g, r));
            int vmin = Math.Min(b, Math.Min(g, r));
            int diff = v - vmin;
            int vr = v == r ? -1 : 0;
            int vg = v == g ? -1 : 0;
            int sat = (diff * sdiv[v] + (1 << (HsvShift - 1))) >> HsvShift;
            int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
            h = (h * hdiv[diff] + (1 << (HsvShift - 1))) >> HsvShift;
            h += h < 0 ? hr : 0;
            d[j] = (byte)h;
            d[j + 1] = (byte)sat;
            d[j + 2] = (byte)v;
        }
        return new OcvImage(bgr.Width, bgr.Height, 3, d);
    }

    // ---------------------------------------------------------------- Lab
    private const int LabShift = 12, GammaShift = 3, LabShift2 = LabShift + GammaShift;
    private const int LabCbrtTabSizeB = 256 * 3 / 2 * (1 << GammaShift);
    internal static ushort[] SRgbGammaTabB = BuildGammaTab();
    internal static ushort[] LabCbrtTabB = BuildCbrtTab();
    private static readonly int[] LabCoeffsBgr = BuildLabCoeffs();

    internal static ushort[] BuildGammaTab()
    {
        // OpenCV (softfloat): x = i/255; cvRound(255*8 * (x <= 0.04045 ? x/12.92 : ((x+0.055)/1.055)^2.4)), single precision.
        var t = new ushort[256];
        float thr = 809f / 20000f, shift = 11f / 200f, power = 12f / 5f, low = 323f / 25f;
        for (int i = 0; i < 256; i++)
        {
            float x = i / 255f;
            float g = x <= thr ? x / low : MathF.Pow((x + shift) / (1f + shift), power);
            t[i] = (ushort)RoundEven(255f * (1 << GammaShift) * g);
        }
        return t;
    }

    internal static ushort[] BuildCbrtTab()
    {
        // OpenCV builds this with its own softfloat cbrt. Evaluating in double and rounding once gives the same table
        // except at entries whose scaled value lies within float rounding of .5; those take OpenCV's values (found by
        // comparing the full 256^3 cube with OpenCV 4.6, see the colour-parity test).
        var t = new ushort[LabCbrtTabSizeB];
        for (int i = 0; i < t.Length; i++)
        {
            double x = i / (255.0 * (1 << GammaShift));
            double f = x < 216.0 / 24389.0 ? x * (841.0 / 108.0) + 16.0 / 116.0 : Math.Cbrt(x);
            t[i] = (ushort)Math.Round((1 << LabShift2) * f, MidpointRounding.ToEven);
        }
        t[49] = 9454;
        t[628] = 22126;
        return t;
    }

    private static int[] BuildLabCoeffs()
    {
        double[] m = { 0.412453, 0.357580, 0.180423, 0.212671, 0.715160, 0.072169, 0.019334, 0.119193, 0.950227 };
        double[] white = { 0.950456, 1.0, 1.088754 };
        const int blueIdx = 0; // BGR input
        var c = new int[9];
        double lshift = 1 << LabShift;
        for (int i = 0; i < 3; i++)
        {
            c[i * 3 + (blueIdx ^ 2)] = (int)Math.Round(lshift * m[i * 3] / white[i], MidpointRounding.ToEven);
            c[i * 3 + 1] = (int)Math.Round(lshift * m[i * 3 + 1] / white[i], MidpointRounding.ToEven);
            c[i * 3 + blueIdx] = (int)Math.Round(lshift * m[i * 3 + 2] / white[i], MidpointRounding.ToEven);
        }
        return c;
    }

    private static int RoundEven(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary><c>cvtColor(bgr, COLOR_BGR2Lab)</c> for 8-bit images.</summary>
    public static OcvImage BgrToLab(OcvImage bgr)
    {
        Require3(bgr);
        var s = bgr.Data;
        var d = new byte[s.Length];
        var tab = SRgbGammaTabB;
        var cbrt = LabCbrtTabB;
        var co = LabCoeffsBgr;
        int c0 = co[0], c1 = co[1], c2 = co[2], c3 = co[3], c4 = co[4], c5 = co[5], c6 = co[6], c7 = co[7], c8 = co[8];
        const int lscale = (116 * 255 + 50) / 100;
        const int lshift = -((16 * 255 * (1 << LabShift2) + 50) / 100);
        const int half = 1 << (LabShift - 1), half2 = 1 << (LabShift2 - 1);
        for (int j = 0; j < s.Length; j += 3)
        {
            int r0 = tab[s[j]], g0 = tab[s[j + 1]], b0 = tab[s[j + 2]];
            int fX = cbrt[(r0 * c0 + g0 * c1 + b0 * c2 + half) >> LabShift];
            int fY = cbrt[(r0 * c3 + g0 * c4 + b0 * c5 + half) >> LabShift];
            int fZ = cbrt[(r0 * c6 + g0 * c7 + b0 * c8 + half) >> LabShift];
            int L = (lscale * fY + lshift + half2) >> LabShift2;
            int a = (500 * (fX - fY) + 128 * (1 << LabShift2) + half2) >> LabShift2;
            int b = (200 * (fY - fZ) + 128 * (1 << LabShift2) + half2) >> LabShift2;
            d[j] = Sat(L);
            d[j + 1] = Sat(a);
            d[j + 2] = Sat(b);
        }
        return new OcvImage(bgr.Width, bgr.Height, 3, d);
    }

    private static byte Sat(int v) => (byte)(v < 0 ? 0 : v > 255 ? 255 : v);

    private static void Require3(OcvImage img)
    {
        if (img.Channels != 3) throw new ArgumentException($"expected a 3-channel BGR image, got {img.Channels} channels");
    }
}
