using SkiaSharp;
using Soco.Imaging;

namespace Soco.Tests.Imaging;

/// <summary>
/// The fast JPEG path (system libjpeg-turbo through libsocojpeg.so) against the SkiaSharp path it shortcuts: same
/// pixels for every JPEG we have and for generated ones (odd sizes, subsamplings, qualities, progressive), same
/// errors for damaged ones.
/// </summary>
public class NativeJpegTests
{
    [Fact]
    public void TheFastPathIsBuiltWhereTheToolsExist()
    {
        bool tools = File.Exists("/usr/include/jpeglib.h") && (File.Exists("/usr/bin/cc") || File.Exists("/usr/bin/gcc"));
        if (!tools || !OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("SOCO_JPEG_NATIVE") == "0") return;
        Assert.True(NativeJpeg.Available, "libsocojpeg.so should have been built and loaded (C compiler and jpeglib.h are present)");
    }

    static string Outcome(byte[] data, bool native, DecodeOptions? options = null)
    {
        try
        {
            var img = ImageDecoder.Decode(data, "x.jpg", options, native);
            return $"{img.Width}x{img.Height}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(img.Pixels))}";
        }
        catch (ImageDecodeException e)
        {
            return "error: " + e.Message;
        }
    }

    public static TheoryData<string> Files()
    {
        var d = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestPaths.Fixture("decode")).Concat(Directory.GetFiles(TestPaths.Photos)).Order())
            if (f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
                d.Add(Path.GetRelativePath(TestPaths.RepoRoot, f));
        return d;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void SameResultAsSkia(string file)
    {
        var data = File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, file));
        Assert.Equal(Outcome(data, native: false), Outcome(data, native: true));
        var small = new DecodeOptions { MaxPixels = 100 };
        Assert.Equal(Outcome(data, false, small), Outcome(data, true, small));
    }

    static byte[] Encode(int w, int h, int quality, int seed, bool gray)
    {
        var r = new Random(seed);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, new SKColor((byte)(x * 7 + r.Next(20)), (byte)(y * 5 + x), (byte)(128 + r.Next(128) - y), 255));
        using var ms = new MemoryStream();
        bmp.Encode(ms, SKEncodedImageFormat.Jpeg, quality);
        return ms.ToArray();
    }

    [Fact]
    public void GeneratedJpegsOfOddSizesMatch()
    {
        var r = new Random(5);
        int[][] sizes = [[1, 1], [2, 3], [17, 13], [333, 1], [1, 257], [64, 48], [255, 129], [31, 200]];
        int n = 0;
        foreach (var s in sizes)
            foreach (int q in new[] { 35, 90, 100 })
            {
                var data = Encode(s[0], s[1], q, n++, gray: n % 5 == 0);
                Assert.Equal(Outcome(data, false), Outcome(data, true));
                // damaged copies: a flipped byte in the entropy-coded data, and cut short
                var bad = (byte[])data.Clone();
                int at = data.Length / 2 + r.Next(data.Length / 3);
                bad[at] ^= (byte)(1 + r.Next(255));
                Assert.Equal(Outcome(bad, false), Outcome(bad, true));
                var cut = data[..(data.Length * 3 / 4)];
                Assert.Equal(Outcome(cut, false), Outcome(cut, true));
            }
    }
}
