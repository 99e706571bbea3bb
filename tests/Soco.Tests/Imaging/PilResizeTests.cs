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

    /// <summary>Every case for ours (<see cref="PilResize"/>, SIMD paths included) and for the scalar oracle the
    /// fast-path tests compare it with (<see cref="Reference.PilResizeReference"/>): both must be PIL's bytes.</summary>
    public static TheoryData<int, bool> Cases()
    {
        var d = new TheoryData<int, bool>();
        for (int i = 0; i < 6; i++) { d.Add(i, false); d.Add(i, true); }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPilBilinearBitExactly(int caseIndex, bool scalarReference)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("resize", "index.json")));
        var src = new RgbImage(120, 90, Gunzip("source.rgb.gz"));
        var c = doc.RootElement.GetProperty("cases")[caseIndex];
        int w = c.GetProperty("size")[0].GetInt32(), h = c.GetProperty("size")[1].GetInt32();
        var box = c.GetProperty("box");
        RgbImage ours = (box.ValueKind == JsonValueKind.Null, scalarReference) switch
        {
            (true, false) => PilResize.Bilinear(src, w, h),
            (true, true) => Reference.PilResizeReference.Bilinear(src, w, h),
            (false, false) => PilResize.Bilinear(src, box[0].GetDouble(), box[1].GetDouble(), box[2].GetDouble(), box[3].GetDouble(), w, h),
            (false, true) => Reference.PilResizeReference.Bilinear(src, box[0].GetDouble(), box[1].GetDouble(), box[2].GetDouble(), box[3].GetDouble(), w, h),
        };
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
