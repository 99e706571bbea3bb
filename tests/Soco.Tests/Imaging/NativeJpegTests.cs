using SkiaSharp;
using Soco.Imaging;

namespace Soco.Tests.Imaging;

/// <summary>
/// A test of the native JPEG path. Runs where libsocojpeg.so loaded, where the tools to build it exist (then a missing
/// library is a build bug and fails) and wherever <c>SOCO_REQUIRE_REFERENCE=1</c> (CI installs gcc and libjpeg-dev);
/// otherwise reported as skipped with the reason — comparing the SkiaSharp fallback with itself would prove nothing.
/// </summary>
public sealed class NativeJpegFactAttribute : FactAttribute
{
    public NativeJpegFactAttribute() => Skip = NativeJpegRequirement.SkipReason;
}

/// <inheritdoc cref="NativeJpegFactAttribute"/>
public sealed class NativeJpegTheoryAttribute : TheoryAttribute
{
    public NativeJpegTheoryAttribute() => Skip = NativeJpegRequirement.SkipReason;
}

static class NativeJpegRequirement
{
    public static bool ToolsPresent => File.Exists("/usr/include/jpeglib.h") && (File.Exists("/usr/bin/cc") || File.Exists("/usr/bin/gcc"));

    public static string? SkipReason
    {
        get
        {
            if (!OperatingSystem.IsLinux()) return "the native JPEG path is built on Linux only";
            if (Environment.GetEnvironmentVariable("SOCO_JPEG_NATIVE") == "0") return "the native JPEG path is turned off (SOCO_JPEG_NATIVE=0)";
            if (NativeJpeg.Available || ToolsPresent || Environment.GetEnvironmentVariable("SOCO_REQUIRE_REFERENCE") == "1") return null;
            var why = "libsocojpeg.so was not built: no C compiler or no jpeglib.h (apt-get install gcc libjpeg-dev, then rebuild)";
            Console.Error.WriteLine("SKIPPED native JPEG tests: " + why);
            return why;
        }
    }
}

/// <summary>
/// The fast JPEG path (system libjpeg-turbo through libsocojpeg.so) against the SkiaSharp path it shortcuts: same
/// pixels for every JPEG we have and for generated ones (odd sizes, subsamplings, qualities, progressive), same
/// errors for damaged ones — and the native decoder must really have decoded the clean ones (it hands anything it does
/// not take cleanly to SkiaSharp, which would make a comparison silently compare SkiaSharp with itself).
/// </summary>
public class NativeJpegTests
{
    [NativeJpegFact]
    public void TheFastPathIsBuiltAndLoaded()
    {
        Assert.True(NativeJpeg.Available, "libsocojpeg.so should have been built and loaded: " +
            (NativeJpegRequirement.ToolsPresent ? "a C compiler and jpeglib.h are present" : "SOCO_REQUIRE_REFERENCE=1 and no C compiler or jpeglib.h (install gcc and libjpeg-dev)"));
    }

    /// <summary>Decodes with the native path alone (no fallback): null when it declined the file.</summary>
    static RgbImage? NativeOnly(byte[] data) => NativeJpeg.TryDecode(data, (_, _) => { });

    static RgbImage SkiaOnly(byte[] data) => ImageDecoder.Decode(data, "x.jpg", new DecodeOptions { ApplyExifOrientation = false }, false);

    /// <summary>Every sample photo is a plain baseline/progressive YCbCr JPEG: the native decoder must take each one itself
    /// and give SkiaSharp's pixels.</summary>
    [NativeJpegFact]
    public void TheNativeDecoderDecodesEverySamplePhotoItself()
    {
        Assert.True(NativeJpeg.Available, "libsocojpeg.so is not loaded");
        int n = 0;
        foreach (var f in Directory.GetFiles(TestPaths.Photos, "*.jpg").Order())
        {
            var data = File.ReadAllBytes(f);
            var native = NativeOnly(data);
            Assert.True(native is not null, $"{Path.GetFileName(f)}: the native decoder declined a plain JPEG");
            var skia = SkiaOnly(data);
            Assert.Equal((skia.Width, skia.Height), (native!.Width, native.Height));
            Assert.True(skia.Pixels.AsSpan().SequenceEqual(native.Pixels), $"{Path.GetFileName(f)}: native pixels differ from SkiaSharp's");
            n++;
        }
        Assert.True(n >= 10, $"only {n} sample JPEGs found");
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

    [NativeJpegTheory]
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

    [NativeJpegFact]
    public void GeneratedJpegsOfOddSizesMatch()
    {
        var r = new Random(5);
        int[][] sizes = [[1, 1], [2, 3], [17, 13], [333, 1], [1, 257], [64, 48], [255, 129], [31, 200]];
        int n = 0;
        foreach (var s in sizes)
            foreach (int q in new[] { 35, 90, 100 })
            {
                var data = Encode(s[0], s[1], q, n++, gray: n % 5 == 0);
                Assert.True(NativeOnly(data) is not null, $"{s[0]}x{s[1]} q{q}: the native decoder declined a clean JPEG");
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
