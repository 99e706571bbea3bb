using System.Runtime.Intrinsics;

namespace Soco.Proposals.SocoSearch;

/// <summary>
/// <c>skimage.feature.local_binary_pattern(channel, P=8, R=1.0, method='default')</c> of scikit-image 0.19 for one
/// image channel whose values are the integers 0…255 (SoCo passes the float image in 0…255), bit-exact:
/// sample offsets <c>np.round(∓sin, 5)</c>, <c>np.round(cos, 5)</c> (so ±0.70711 on the diagonals), bilinear
/// interpolation with constant 0 outside the image (<c>_shared/interpolation.pxd</c>), bit i set when
/// <c>texture[i] − centre ≥ 0</c>.
/// </summary>
internal static class SkimageLbp
{
    private const double D = 0.70711; // np.round(sin(pi/4), 5)

    /// <summary>LBP codes (0…255) of channel <paramref name="channel"/> of an interleaved RGB image.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Compute(byte[] rgb, int width, int height, int channel, byte[] codes, double[] padded,
        double[] drUp, double[] drDown, double[] dcLeft, double[] dcRight)
    {
        int pw = width + 2;
        // zero border = skimage's mode 'C' with cval 0
        Array.Clear(padded, 0, pw * (height + 2));
        for (int y = 0; y < height; y++)
        {
            int src = y * width * 3 + channel, dst = (y + 1) * pw + 1;
            for (int x = 0; x < width; x++) padded[dst + x] = rgb[src + 3 * x];
        }
        for (int y = 0; y < height; y++)
        {
            // rows r - D (neighbours 1, 3) span [r-1, r]; rows r + D (5, 7) span [r, r+1]
            double du = drUp[y], omu = 1 - du, dd = drDown[y], omd = 1 - dd;
            int rowC = (y + 1) * pw + 1, rowU = rowC - pw, rowD = rowC + pw;
            int outRow = y * width;
            int x0 = 0;
            if (Vector256.IsHardwareAccelerated && width >= 4)
            {
                x0 = width & ~3;
                RowVector(padded, codes, rowC, rowU, rowD, outRow, x0, du, omu, dd, omd, dcLeft, dcRight);
            }
            for (int x = x0; x < width; x++)
            {
                int c0 = rowC + x;
                double centre = padded[c0];
                int code = 0;
                // i = 0: (r, c+1)
                if (padded[c0 + 1] >= centre) code |= 1;
                // i = 1: (r - D, c + D): minr = r-1, maxr = r, minc = c, maxc = c+1
                double dc = dcRight[x], omc = 1 - dc;
                double top = omc * padded[rowU + x] + dc * padded[rowU + x + 1];
                double bottom = omc * padded[c0] + dc * padded[c0 + 1];
                if (omu * top + du * bottom >= centre) code |= 2;
                // i = 2: (r-1, c)
                if (padded[rowU + x] >= centre) code |= 4;
                // i = 3: (r - D, c - D): minc = c-1, maxc = c
                double dl = dcLeft[x], oml = 1 - dl;
                top = oml * padded[rowU + x - 1] + dl * padded[rowU + x];
                bottom = oml * padded[c0 - 1] + dl * padded[c0];
                if (omu * top + du * bottom >= centre) code |= 8;
                // i = 4: (r, c-1)
                if (padded[c0 - 1] >= centre) code |= 16;
                // i = 5: (r + D, c - D): minr = r, maxr = r+1
                top = oml * padded[c0 - 1] + dl * padded[c0];
                bottom = oml * padded[rowD + x - 1] + dl * padded[rowD + x];
                if (omd * top + dd * bottom >= centre) code |= 32;
                // i = 6: (r+1, c)
                if (padded[rowD + x] >= centre) code |= 64;
                // i = 7: (r + D, c + D)
                top = omc * padded[c0] + dc * padded[c0 + 1];
                bottom = omc * padded[rowD + x] + dc * padded[rowD + x + 1];
                if (omd * top + dd * bottom >= centre) code |= 128;
                codes[outRow + x] = (byte)code;
            }
        }
    }

    // The same arithmetic, four pixels at a time (lane-wise IEEE double operations, no fused multiply-add).
    private static void RowVector(double[] padded, byte[] codes, int rowC, int rowU, int rowD, int outRow, int end,
        double du0, double omu0, double dd0, double omd0, double[] dcLeft, double[] dcRight)
    {
        var du = Vector256.Create(du0);
        var omu = Vector256.Create(omu0);
        var dd = Vector256.Create(dd0);
        var omd = Vector256.Create(omd0);
        var one = Vector256.Create(1.0);
        ReadOnlySpan<double> P = padded;
        for (int x = 0; x < end; x += 4)
        {
            int c0 = rowC + x, u0 = rowU + x, d0 = rowD + x;
            var centre = Vector256.Create(P.Slice(c0, 4));
            var cR = Vector256.Create(P.Slice(c0 + 1, 4));
            var cL = Vector256.Create(P.Slice(c0 - 1, 4));
            var uC = Vector256.Create(P.Slice(u0, 4));
            var uR = Vector256.Create(P.Slice(u0 + 1, 4));
            var uL = Vector256.Create(P.Slice(u0 - 1, 4));
            var dC = Vector256.Create(P.Slice(d0, 4));
            var dR = Vector256.Create(P.Slice(d0 + 1, 4));
            var dL = Vector256.Create(P.Slice(d0 - 1, 4));
            var dc = Vector256.Create(dcRight.AsSpan(x, 4));
            var omc = one - dc;
            var dl = Vector256.Create(dcLeft.AsSpan(x, 4));
            var oml = one - dl;

            var code = Vector256.GreaterThanOrEqual(cR, centre).AsInt64() & Vector256.Create(1L);
            var top = omc * uC + dc * uR;
            var bottom = omc * centre + dc * cR;
            code |= Vector256.GreaterThanOrEqual(omu * top + du * bottom, centre).AsInt64() & Vector256.Create(2L);
            code |= Vector256.GreaterThanOrEqual(uC, centre).AsInt64() & Vector256.Create(4L);
            top = oml * uL + dl * uC;
            bottom = oml * cL + dl * centre;
            code |= Vector256.GreaterThanOrEqual(omu * top + du * bottom, centre).AsInt64() & Vector256.Create(8L);
            code |= Vector256.GreaterThanOrEqual(cL, centre).AsInt64() & Vector256.Create(16L);
            top = oml * cL + dl * centre;
            bottom = oml * dL + dl * dC;
            code |= Vector256.GreaterThanOrEqual(omd * top + dd * bottom, centre).AsInt64() & Vector256.Create(32L);
            code |= Vector256.GreaterThanOrEqual(dC, centre).AsInt64() & Vector256.Create(64L);
            top = omc * centre + dc * cR;
            bottom = omc * dC + dc * dR;
            code |= Vector256.GreaterThanOrEqual(omd * top + dd * bottom, centre).AsInt64() & Vector256.Create(128L);

            int o = outRow + x;
            codes[o] = (byte)code.GetElement(0);
            codes[o + 1] = (byte)code.GetElement(1);
            codes[o + 2] = (byte)code.GetElement(2);
            codes[o + 3] = (byte)code.GetElement(3);
        }
    }

    /// <summary>Fractional parts <c>(i + off) − floor(i + off)</c> exactly as the Cython computes them.</summary>
    public static void Fractions(int n, double[] minus, double[] plus)
    {
        for (int i = 0; i < n; i++)
        {
            double a = i + -D;
            minus[i] = a - (long)Math.Floor(a);
            double b = i + D;
            plus[i] = b - (long)Math.Floor(b);
        }
    }
}
