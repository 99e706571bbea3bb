using System.Security.Cryptography;
using System.Text.Json;
using Soco.Proposals.OpenCv;

namespace Soco.Tests.Proposals;

public class OpenCvColourTests
{
    private static JsonElement Hashes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(OpenCvTestData.FixtureDir, "colour.json")));
        return doc.RootElement.Clone();
    }

    private static string Sha(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    [Fact]
    public void FullCubeMatchesOpenCvForHsvLabAndGray()
    {
        // index = (r*256 + g)*256 + b, channels B, G, R: every 8-bit colour once.
        var cube = new byte[256 * 256 * 256 * 3];
        for (int r = 0, i = 0; r < 256; r++)
            for (int g = 0; g < 256; g++)
                for (int b = 0; b < 256; b++, i += 3)
                {
                    cube[i] = (byte)b;
                    cube[i + 1] = (byte)g;
                    cube[i + 2] = (byte)r;
                }
        var img = new OcvImage(4096, 4096, 3, cube);
        var h = Hashes().GetProperty("cube");
        Assert.Equal(h.GetProperty("hsv").GetString(), Sha(OpenCvColor.BgrToHsv(img).Data));
        Assert.Equal(h.GetProperty("lab").GetString(), Sha(OpenCvColor.BgrToLab(img).Data));
        Assert.Equal(h.GetProperty("gray").GetString(), Sha(OpenCvColor.BgrToGray(img).Data));
    }

    [Fact]
    public void DecodedFixtureImagesConvertLikeOpenCv()
    {
        // Also checks that SkiaSharp decodes the fixture photos exactly as cv2.imread does.
        foreach (var img in Hashes().GetProperty("images").EnumerateObject())
        {
            var fx = OpenCvTestData.BoxFixtures[img.Name];
            var bgr = OpenCvColor.FromRgb(OpenCvTestData.Decode(fx.Path));
            Assert.True(img.Value.GetProperty("hsv").GetString() == Sha(OpenCvColor.BgrToHsv(bgr).Data), $"{img.Name} hsv");
            Assert.True(img.Value.GetProperty("lab").GetString() == Sha(OpenCvColor.BgrToLab(bgr).Data), $"{img.Name} lab");
            Assert.True(img.Value.GetProperty("gray").GetString() == Sha(OpenCvColor.BgrToGray(bgr).Data), $"{img.Name} gray");
        }
    }
}
