using Soco.Imaging;
using Soco.Tests.Imaging.Reference;

namespace Soco.Tests.Imaging;

/// <summary>
/// The optimised colour operations against the plain scalar ones they replaced (themselves bit-exact against PIL's
/// fixtures): every RGB colour for hue, random images of odd sizes and random factors for the others.
/// </summary>
public class ColorOpsFastPathTests
{
    static RgbImage AllColours()
    {
        var img = new RgbImage(4096, 4096);
        for (int i = 0; i < 1 << 24; i++)
        {
            img.Pixels[3 * i] = (byte)(i >> 16);
            img.Pixels[3 * i + 1] = (byte)(i >> 8);
            img.Pixels[3 * i + 2] = (byte)i;
        }
        return img;
    }

    static RgbImage Copy(RgbImage i) => new(i.Width, i.Height, (byte[])i.Pixels.Clone());

    static void AssertSame(RgbImage expected, RgbImage actual, string what)
    {
        int first = -1;
        for (int i = 0; i < expected.Pixels.Length && first < 0; i++) if (expected.Pixels[i] != actual.Pixels[i]) first = i;
        Assert.True(first < 0, first < 0 ? "" : $"{what}: byte {first} (pixel {first / 3}) is {actual.Pixels[first]}, expected {expected.Pixels[first]}");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(-0.1)]
    [InlineData(0.5)]
    [InlineData(-0.037)]
    public void HueMatchesTheReferenceOnEveryColour(double factor)
    {
        var all = AllColours();
        var expected = Copy(all);
        ColorOpsReference.AdjustHue(expected, factor);
        ColorOps.AdjustHue(all, factor);
        AssertSame(expected, all, $"hue {factor}");
    }

    [Fact]
    public void HsvToRgbQuotientsHaveTheIntegerAndFloatFormsTheSimdPathUses()
    {
        // HsvToRgb: i = ⌊(float)h·6.0/255.0⌋, f = (float)((float)h·6.0/255.0 − i), fs = (float)(s/255.0)
        for (int h = 0; h < 256; h++)
        {
            double x = (float)h * 6.0 / 255.0;
            int i = (int)Math.Floor(x);
            float f = (float)(x - (float)i);
            int n = 6 * h;
            Assert.Equal(i, (n * 0x8081) >> 23);
            Assert.Equal(f, (float)(n - 255 * i) / 255f);
            Assert.Equal((float)(h / 255.0), (float)h / 255f);
        }
    }

    static RgbImage RandomImage(Random r, int w, int h)
    {
        var img = new RgbImage(w, h);
        // a mix of smooth areas, noise and flat grey runs (the cases that take other branches)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3;
                switch ((x / 7 + y / 5) % 3)
                {
                    case 0: img.Pixels[o] = (byte)(x * 3 + y); img.Pixels[o + 1] = (byte)(x + 2 * y); img.Pixels[o + 2] = (byte)(128 + x - y); break;
                    case 1: img.Pixels[o] = (byte)r.Next(256); img.Pixels[o + 1] = (byte)r.Next(256); img.Pixels[o + 2] = (byte)r.Next(256); break;
                    default: img.Pixels[o] = img.Pixels[o + 1] = img.Pixels[o + 2] = (byte)r.Next(256); break;
                }
            }
        return img;
    }

    public static TheoryData<int, int> Sizes() => new() { { 224, 224 }, { 112, 112 }, { 1, 1 }, { 2, 7 }, { 7, 2 }, { 33, 17 }, { 5, 300 }, { 301, 3 }, { 64, 65 } };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void OtherOpsMatchTheReference(int w, int h)
    {
        var r = new Random(w * 1000 + h);
        for (int t = 0; t < 12; t++)
        {
            var src = RandomImage(r, w, h);
            double factor = t switch { 0 => 0.0, 1 => 1.0, 2 => 1.4, 3 => 0.6, _ => r.NextDouble() * 2 };
            void Check(string name, Action<RgbImage> ours, Action<RgbImage> reference)
            {
                var a = Copy(src);
                var e = Copy(src);
                ours(a);
                reference(e);
                AssertSame(e, a, $"{name} {factor} on {w}×{h}");
            }
            Check("brightness", i => ColorOps.AdjustBrightness(i, factor), i => ColorOpsReference.AdjustBrightness(i, factor));
            Check("contrast", i => ColorOps.AdjustContrast(i, factor), i => ColorOpsReference.AdjustContrast(i, factor));
            Check("saturation", i => ColorOps.AdjustSaturation(i, factor), i => ColorOpsReference.AdjustSaturation(i, factor));
            Check("hue", i => ColorOps.AdjustHue(i, factor / 4 - 0.25), i => ColorOpsReference.AdjustHue(i, factor / 4 - 0.25));
            Check("grayscale", ColorOps.Grayscale, ColorOpsReference.Grayscale);
            Check("solarize", i => ColorOps.Solarize(i), i => ColorOpsReference.Solarize(i));
            Check("flip", ColorOps.FlipHorizontal, ColorOpsReference.FlipHorizontal);
            double sigma = 0.1 + 1.9 * (t / 11.0);
            Check("blur", i => ColorOps.GaussianBlur(i, sigma), i => ColorOpsReference.GaussianBlur(i, sigma));
            Check("box blur r=5.3", i => ColorOps.BoxBlur(i, 5.3f, 3), i => ColorOpsReference.BoxBlur(i, 5.3f, 3));
            var ta = new float[3 * w * h + 5];
            var te = new float[3 * w * h + 5];
            ColorOps.ToNormalizedTensor(src, ta, 5);
            ColorOpsReference.ToNormalizedTensor(src, te, 5);
            Assert.Equal(te, ta);
        }
    }
}
