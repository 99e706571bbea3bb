using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Soco.Imaging;
using Soco.Proposals.SocoSearch;

namespace Soco.Tests.Proposals;

/// <summary>Golden fixtures written by tools/soco_ss_fixtures.py (SoCo's own selective_search, skimage 0.19.3).</summary>
internal static class SocoSsFixtures
{
    /// <summary>Fixture names (from manifest.json); SOCO_SS_FIXTURES=dir points to another fixture folder.</summary>
    public static string[] Names => LoadNames();

    private static string[] LoadNames()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "manifest.json")));
        return doc.RootElement.GetProperty("images").EnumerateArray()
            .Select(e => Path.GetFileNameWithoutExtension(e.GetProperty("image").GetString()!)).ToArray();
    }

    public static string RepoRoot => TestPaths.RepoRoot;

    public static string Dir =>
        Environment.GetEnvironmentVariable("SOCO_SS_FIXTURES") is { Length: > 0 } d
            ? d : Path.Combine(RepoRoot, "tests", "fixtures", "soco_ss");

    public sealed record Doc(string Image, int Width, int Height, string RgbSha256, double Seconds, int NLabels,
        int[][] Regions);

    public static Doc Load(string name)
    {
        var json = File.ReadAllText(Path.Combine(Dir, name + ".json"));
        return JsonSerializer.Deserialize<Doc>(json, new JsonSerializerOptions
        {
            PropertyNameCaseInsensitive = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        })!;
    }

    public static (int W, int H, int Count, int[] Labels) LoadLabels(string name, bool fromRepo = false)
    {
        var dir = fromRepo ? Path.Combine(RepoRoot, "tests", "fixtures", "soco_ss") : Dir;
        using var fs = File.OpenRead(Path.Combine(dir, name + ".labels.gz"));
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var b = ms.ToArray();
        Assert.Equal("SSLB", System.Text.Encoding.ASCII.GetString(b, 0, 4));
        int w = BitConverter.ToInt32(b, 4), h = BitConverter.ToInt32(b, 8), count = BitConverter.ToInt32(b, 12);
        var labels = new int[w * h];
        for (int i = 0; i < labels.Length; i++) labels[i] = BitConverter.ToUInt16(b, 16 + 2 * i);
        return (w, h, count, labels);
    }

    private static readonly Dictionary<string, RgbImage> Cache = new();

    /// <summary>The photo decoded like PIL's <c>open(p).convert('RGB')</c> (SkiaSharp, libjpeg-turbo).</summary>
    public static RgbImage Image(string file)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(file, out var img)) return img;
            img = Decode(Path.Combine(RepoRoot, "samples", "photos", file));
            Cache[file] = img;
            return img;
        }
    }

    /// <summary>The project's decoder (PIL convert('RGB')-exact, as SoCo's script decodes); hashes below pin it.</summary>
    private static RgbImage Decode(string path) => ImageDecoder.Decode(path);

    public static string Sha256(RgbImage img) => Convert.ToHexStringLower(SHA256.HashData(img.Pixels));
}

public class SocoSelectiveSearchSegmentationTests
{
    public static IEnumerable<object[]> Images => SocoSsFixtures.Names.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Images))]
    public void DecodedPixelsMatchPil(string name)
    {
        var doc = SocoSsFixtures.Load(name);
        var img = SocoSsFixtures.Image(doc.Image);
        Assert.Equal((doc.Width, doc.Height), (img.Width, img.Height));
        Assert.Equal(doc.RgbSha256, SocoSsFixtures.Sha256(img));
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void LabelsEqualSkimage(string name)
    {
        var doc = SocoSsFixtures.Load(name);
        var img = SocoSsFixtures.Image(doc.Image);
        var (w, h, count, expected) = SocoSsFixtures.LoadLabels(name);
        var seg = SkimageFelzenszwalb.Segment(img, scale: 300, sigma: 0.9, minSize: 100);
        Assert.Equal((w, h), (seg.Width, seg.Height));
        int diff = 0;
        for (int i = 0; i < expected.Length; i++) if (expected[i] != seg.Labels[i]) diff++;
        Assert.Equal(0, diff);
        Assert.Equal(count, seg.Count);
    }

    [Theory]
    [InlineData("chelsea.png", 1, 0.8, 20)]
    [InlineData("messi5.jpg", 100, 0.5, 50)]
    [InlineData("coffee.png", 500, 1.3, 200)]
    public void LabelsEqualSkimageForOtherParameters(string file, double scale, double sigma, int minSize)
    {
        var img = SocoSsFixtures.Image(file);
        var stem = FormattableString.Invariant($"fh_{Path.GetFileNameWithoutExtension(file)}_{scale}_{sigma}_{minSize}");
        var (w, h, count, expected) = SocoSsFixtures.LoadLabels(stem, fromRepo: true);
        var seg = SkimageFelzenszwalb.Segment(img, scale, sigma, minSize);
        Assert.Equal((w, h), (seg.Width, seg.Height));
        int diff = 0;
        for (int i = 0; i < expected.Length; i++) if (expected[i] != seg.Labels[i]) diff++;
        Assert.Equal(0, diff);
        Assert.Equal(count, seg.Count);
    }

    [Theory]
    [InlineData("chelsea.png")]
    [InlineData("camera.png")]
    public void ExactNumpyOrderGivesSameLabelsAsAuto(string file)
    {
        var img = SocoSsFixtures.Image(file);
        var auto = SkimageFelzenszwalb.Segment(img, 300, 0.9, 100, EdgeSortMode.Auto);
        var exact = SkimageFelzenszwalb.Segment(img, 300, 0.9, 100, EdgeSortMode.NumpyExact);
        Assert.Equal(exact.Count, auto.Count);
        Assert.Equal(exact.Labels, auto.Labels);
    }

    [Fact]
    public void ArgsortReproducesNumpyPermutationWithTies()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(
            Path.Combine(SocoSsFixtures.RepoRoot, "tests", "fixtures", "soco_ss", "argsort.json")));
        foreach (var c in doc.RootElement.EnumerateArray())
        {
            var values = c.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var expected = c.GetProperty("argsort").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            Assert.Equal(expected, NumpyArgsort.Argsort(values));
        }
    }

    [Fact]
    public void GaussianKernelMatchesScipyForOtherSigmas()
    {
        // scipy _gaussian_kernel1d(0.8, 0, 3) centre..edge, normalised: sums to 1 and is decreasing.
        var k = ScipyGaussian.HalfKernel(0.8);
        Assert.Equal(4, k.Length);
        double total = k[0] + 2 * (k[1] + k[2] + k[3]);
        Assert.Equal(1.0, total, 12);
        Assert.True(k[0] > k[1] && k[1] > k[2] && k[2] > k[3]);
        Assert.Equal(0.4432691776743569, ScipyGaussian.HalfKernel(0.9)[0]);
    }

    [Fact]
    public void LbpCodesEqualSkimage()
    {
        byte[] b;
        using (var fs = File.OpenRead(Path.Combine(SocoSsFixtures.RepoRoot, "tests", "fixtures", "soco_ss", "lbp.gz")))
        using (var gz = new GZipStream(fs, CompressionMode.Decompress))
        using (var ms = new MemoryStream())
        {
            gz.CopyTo(ms);
            b = ms.ToArray();
        }
        Assert.Equal("LBP8", System.Text.Encoding.ASCII.GetString(b, 0, 4));
        int w = BitConverter.ToInt32(b, 4), h = BitConverter.ToInt32(b, 8);
        // the fixture is chelsea.png[100:250, 150:353]
        var full = SocoSsFixtures.Image("chelsea.png");
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            Array.Copy(full.Pixels, ((100 + y) * full.Width + 150) * 3, rgb, y * w * 3, w * 3);
        var codes = new byte[w * h];
        var padded = new double[(w + 2) * (h + 2)];
        var up = new double[h]; var down = new double[h]; var left = new double[w]; var right = new double[w];
        SkimageLbp.Fractions(h, up, down);
        SkimageLbp.Fractions(w, left, right);
        for (int c = 0; c < 3; c++)
        {
            SkimageLbp.Compute(rgb, w, h, c, codes, padded, up, down, left, right);
            Assert.Equal(b.AsSpan(12 + c * w * h, w * h).ToArray(), codes);
        }
    }

    [Fact]
    public void HistogramBinsFollowNumpy()
    {
        // numpy.histogram(v, 25, (0, 255)) / (v, 10, (0, 255)) bin of each integer 0..255 (edges k * 10.2, k * 25.5)
        for (int v = 0; v < 256; v++)
        {
            Assert.Equal(Math.Min(v * 25 / 255, 24), SocoSelectiveSearch.NumpyBin(v, 0, 255, 25));
            Assert.Equal(Math.Min(v * 10 / 255, 9), SocoSelectiveSearch.NumpyBin(v, 0, 255, 10));
        }
        Assert.Equal(0, SocoSelectiveSearch.NumpyBin(0.999, 0, 255, 25));
        Assert.Equal(-1, SocoSelectiveSearch.NumpyBin(255.5, 0, 255, 25));
        Assert.Equal(24, SocoSelectiveSearch.NumpyBin(1.0, 0, 1, 25));
    }

    [Fact]
    public void ReflectIsHalfSampleSymmetric()
    {
        // d c b a | a b c d | d c b a
        int[] got = Enumerable.Range(-4, 12).Select(i => ScipyGaussian.Reflect(i, 4)).ToArray();
        Assert.Equal(new[] { 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0 }, got);
    }
}
