using Soco.Imaging;
using Soco.Tests.Imaging.Reference;

namespace Soco.Tests.Imaging;

/// <summary>
/// The SIMD resize against the plain scalar one it replaced (itself bit-exact against PIL's fixtures), on random
/// images, sizes and boxes: down- and upscaling, fractional boxes, boxes touching the last row / column, tiny images.
/// </summary>
public class PilResizeFastPathTests
{
    static RgbImage Random(Random r, int w, int h, bool smooth)
    {
        var img = new RgbImage(w, h);
        if (!smooth) r.NextBytes(img.Pixels);
        else
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                        img.Pixels[(y * w + x) * 3 + c] = (byte)((x * (c + 1) + y * 3 + r.Next(8)) & 255);
        return img;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void MatchesTheScalarReferenceOnRandomCases(int seed)
    {
        var r = new Random(seed);
        for (int t = 0; t < 150; t++)
        {
            int w = r.Next(1, t < 20 ? 9 : 400), h = r.Next(1, t < 20 ? 9 : 300);
            var src = Random(r, w, h, t % 2 == 0);
            int ow = r.Next(1, t % 5 == 0 ? 2 * w + 3 : 240), oh = r.Next(1, t % 5 == 0 ? 2 * h + 3 : 240);
            double x0 = 0, y0 = 0, x1 = w, y1 = h;
            switch (t % 4)
            {
                case 1: // integer crop box, often touching the right / bottom edge
                    x0 = r.Next(0, w); y0 = r.Next(0, h);
                    x1 = r.Next(2) == 0 ? w : r.Next((int)x0 + 1, w + 1);
                    y1 = r.Next(2) == 0 ? h : r.Next((int)y0 + 1, h + 1);
                    break;
                case 2: // fractional box
                    x0 = r.NextDouble() * w / 2; y0 = r.NextDouble() * h / 2;
                    x1 = x0 + (w - x0) * (0.2 + 0.8 * r.NextDouble()); y1 = y0 + (h - y0) * (0.2 + 0.8 * r.NextDouble());
                    break;
                case 3: // one dimension unchanged (a single pass)
                    if (r.Next(2) == 0) ow = w; else oh = h;
                    break;
            }
            var expected = PilResizeReference.Bilinear(src, x0, y0, x1, y1, ow, oh);
            var ours = PilResize.Bilinear(src, x0, y0, x1, y1, ow, oh);
            Assert.Equal(expected.Width, ours.Width);
            Assert.Equal(expected.Height, ours.Height);
            Assert.True(expected.Pixels.AsSpan().SequenceEqual(ours.Pixels),
                $"case {t}: {w}×{h} box ({x0}, {y0}, {x1}, {y1}) → {ow}×{oh} differs");
        }
    }

    [Fact]
    public void RepeatedCallsOnOneThreadDoNotShareOutputs()
    {
        var r = new Random(7);
        var src = Random(r, 300, 200, false);
        var a = PilResize.Bilinear(src, 10, 10, 250, 190, 224, 224);
        var keep = (byte[])a.Pixels.Clone();
        var b = PilResize.Bilinear(src, 0, 0, 300, 200, 112, 112);
        Assert.NotSame(a.Pixels, b.Pixels);
        Assert.Equal(keep, a.Pixels);
    }
}
