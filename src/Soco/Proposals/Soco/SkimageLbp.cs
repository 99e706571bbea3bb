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
            for (int x = 0; x < width; x++)
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
