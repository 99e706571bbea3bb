using Soco.Imaging;
using Soco.Proposals.SocoSearch;

namespace Soco.Tests.Proposals;

/// <summary>
/// The Auto edge order (keys made of the float64 weight's truncated bits, exact weights only where the truncated ones
/// tie) must give the labels of NumPy's exact argsort order on images built to stress it: large flat areas (runs of
/// zero weights), repeated patterns (exact ties of non-zero weights) and noise (near ties), at several scales.
/// </summary>
public class SocoFelzenszwalbKeyOrderTests
{
    private static RgbImage Patterned(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int p = (y * w + x) * 3;
                if (x < w / 3)
                {
                    // flat block: zero weights away from its border
                    px[p] = 200; px[p + 1] = 40; px[p + 2] = 90;
                }
                else if (x < 2 * w / 3)
                {
                    // stripes of period 4 and a ramp: the same differences repeat (exact ties)
                    byte v = (byte)((x % 4) * 37 + y);
                    px[p] = v; px[p + 1] = (byte)(255 - v); px[p + 2] = (byte)(v / 2);
                }
                else
                {
                    // noise: almost every weight distinct, many close
                    px[p] = (byte)rng.Next(256); px[p + 1] = (byte)rng.Next(120, 136); px[p + 2] = (byte)rng.Next(256);
                }
            }
        return new RgbImage(w, h, px);
    }

    [Theory]
    [InlineData(300.0, 0.9, 100, 1)]
    [InlineData(300.0, 0.0, 100, 2)] // no smoothing: the raw differences, far more exact ties
    [InlineData(50.0, 0.5, 20, 3)]
    [InlineData(1000.0, 0.9, 10, 4)]
    public void AutoOrderGivesTheExactOrdersLabels(double scale, double sigma, int minSize, int seed)
    {
        var img = Patterned(97, 61, seed);
        var auto = SkimageFelzenszwalb.Segment(img, scale, sigma, minSize, EdgeSortMode.Auto);
        var exact = SkimageFelzenszwalb.Segment(img, scale, sigma, minSize, EdgeSortMode.NumpyExact);
        Assert.Equal(exact.Count, auto.Count);
        Assert.Equal(exact.Labels, auto.Labels);
        Assert.True(exact.Count > 3, $"only {exact.Count} segments: the image does not exercise the passes");
    }

    [Fact]
    public void AFlatImageIsOneSegment()
    {
        // every weight is exactly 0: the keys' zero run
        var img = new RgbImage(40, 30);
        Array.Fill(img.Pixels, (byte)77);
        var auto = SkimageFelzenszwalb.Segment(img, 300, 0.9, 100, EdgeSortMode.Auto);
        Assert.Equal(1, auto.Count);
        Assert.All(auto.Labels, l => Assert.Equal(0, l));
    }
}
