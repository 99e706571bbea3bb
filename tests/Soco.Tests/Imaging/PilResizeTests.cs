using System.IO.Compression;
using System.Text.Json;
using Soco.Imaging;

namespace Soco.Tests.Imaging;

public class PilResizeTests
{
    static byte[] Gunzip(string file)
    {
        using var fs = File.OpenRead(TestPaths.Fixture("resize", file));
        using var z = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        z.CopyTo(ms);
        return ms.ToArray();
    }

    public static TheoryData<int> Cases() => new() { 0, 1, 2, 3, 4, 5 };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPilBilinearBitExactly(int caseIndex)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("resize", "index.json")));
        var src = new RgbImage(120, 90, Gunzip("source.rgb.gz"));
        var c = doc.RootElement.GetProperty("cases")[caseIndex];
        int w = c.GetProperty("size")[0].GetInt32(), h = c.GetProperty("size")[1].GetInt32();
        RgbImage ours = c.GetProperty("box").ValueKind == JsonValueKind.Null
            ? PilResize.Bilinear(src, w, h)
            : PilResize.Bilinear(src, c.GetProperty("box")[0].GetDouble(), c.GetProperty("box")[1].GetDouble(),
                c.GetProperty("box")[2].GetDouble(), c.GetProperty("box")[3].GetDouble(), w, h);
        var expected = Gunzip(c.GetProperty("file").GetString()!);
        Assert.Equal(w, ours.Width);
        Assert.Equal(h, ours.Height);
        int differing = 0;
        for (int i = 0; i < expected.Length; i++) if (expected[i] != ours.Pixels[i]) differing++;
        Assert.Equal(0, differing);
    }

    [Fact]
    public void SameSizeIsACopy()
    {
        var src = new RgbImage(3, 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
        var r = PilResize.Bilinear(src, 3, 2);
        Assert.NotSame(src.Pixels, r.Pixels);
        Assert.Equal(src.Pixels, r.Pixels);
    }
}
