using Soco.Imaging;

namespace Soco.Tests.Imaging;

public class ImageDecoderErrorTests
{
    private static string F(string name) => Path.Combine(DecodeFixtures.Dir, name);

    private static ImageDecodeException Fails(string name, DecodeOptions? o = null)
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(F(name), o));
        Assert.Equal(F(name), e.Path);
        Assert.StartsWith(F(name) + ": ", e.Message);
        return e;
    }

    /// <summary>Every input PIL refuses, we refuse too.</summary>
    [Fact]
    public void EveryInputPilRefusesIsRefused()
    {
        foreach (var p in DecodeFixtures.Index.EnumerateObject())
            if (p.Value.TryGetProperty("pil_error", out _))
                Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(F(p.Name)));
    }

    [Fact]
    public void EmptyFile() => Assert.Equal("empty file (0 bytes)", Fails("empty.jpg").Reason);

    [Fact]
    public void TextFile() =>
        Assert.Equal("not an image (starts with text: \"<html><body>404 Not Found</body>…\")", Fails("text.jpg").Reason);

    [Fact]
    public void RandomBytes() => Assert.StartsWith("not an image (unrecognised format; first bytes ", Fails("random.jpg").Reason);

    [Theory]
    [InlineData("truncated.jpg", "truncated JPEG (data ends before the image is complete)")]
    [InlineData("no_eoi.jpg", "truncated JPEG (data ends before the image is complete)")]
    [InlineData("truncated.png", "truncated PNG (data ends before the image is complete)")]
    [InlineData("gif_short_data.gif", "truncated GIF (data ends before the image is complete)")]
    public void Truncated(string name, string reason) => Assert.Equal(reason, Fails(name).Reason);

    [Fact]
    public void HugeHeaderIsRefusedBeforeDecoding()
    {
        Assert.Equal("image is 20000×20000 = 400 MP, over the limit of 179 MP (--max-pixels)", Fails("huge_header.png").Reason);
        // a lower limit refuses an ordinary photo, from its header
        var r = Fails("baseline420.jpg", new DecodeOptions { MaxPixels = 1000 }).Reason;
        Assert.Equal("image is 64×48 = 0 MP (3,072 pixels), over the limit of 0 MP (1,000 pixels) (--max-pixels)", r);
    }

    [Fact]
    public void DefaultLimitIsPilsDecompressionBombLimit() =>
        Assert.Equal(178_956_970, DecodeOptions.Default.MaxPixels);

    [Fact]
    public void MinSide()
    {
        Assert.Equal(1, ImageDecoder.Decode(F("tiny1x1.png")).Width);
        Assert.Equal("image is 1×1: smaller than the minimum of 2 pixels per side (--min-side)",
            Fails("tiny1x1.png", new DecodeOptions { MinSide = 2 }).Reason);
        Assert.Equal("image is 64×48: smaller than the minimum of 50 pixels per side (--min-side)",
            Fails("rgb48.png", new DecodeOptions { MinSide = 50 }).Reason);
    }

    [Fact]
    public void MissingFile()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(F("no_such_file.jpg")));
        Assert.Equal("file not found", e.Reason);
    }

    [Fact]
    public void ReadInfoReadsOnlyTheHeader()
    {
        Assert.Equal(("PNG", 20000, 20000), ImageDecoder.ReadInfo(File.ReadAllBytes(F("huge_header.png")), "x"));
        Assert.Equal(("JPEG", 81, 63), ImageDecoder.ReadInfo(File.ReadAllBytes(F("progressive.jpg")), "x"));
        Assert.Equal("empty file (0 bytes)",
            Assert.Throws<ImageDecodeException>(() => ImageDecoder.ReadInfo([], "x")).Reason);
    }

    public static TheoryData<string> Truncatable()
    {
        var d = new TheoryData<string>();
        foreach (var p in DecodeFixtures.Index.EnumerateObject())
            if (p.Value.TryGetProperty("truncations", out _)) d.Add(p.Name);
        return d;
    }

    /// <summary>
    /// Cut copies of every good fixture: where PIL fails we fail with an ImageDecodeException (never a crash, never a
    /// half-grey image); where PIL still gives the whole image (a PNG without IEND, a GIF cut after frame 1) so do we.
    /// </summary>
    [Theory]
    [MemberData(nameof(Truncatable))]
    public void TruncatedCopiesBehaveLikePil(string name)
    {
        var e = DecodeFixtures.Index.GetProperty(name);
        var data = File.ReadAllBytes(F(name));
        var full = ImageDecoder.Decode(data, name);
        foreach (var t in e.GetProperty("truncations").EnumerateArray())
        {
            int cut = t[0].GetInt32();
            string pil = t[1].GetString()!;
            var part = data[..cut];
            if (pil == "error")
            {
                var ex = Record.Exception(() => ImageDecoder.Decode(part, name));
                Assert.True(ex is ImageDecodeException, $"{name} cut to {cut} bytes: PIL fails, we gave {(ex == null ? "an image" : ex.GetType().Name)}");
            }
            else
            {
                var img = ImageDecoder.Decode(part, name);
                Assert.Equal(full.Pixels, img.Pixels);
            }
        }
    }
}
