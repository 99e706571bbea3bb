using Soco.Imaging;
using Xunit.Abstractions;

namespace Soco.Tests.Imaging;

/// <summary>Pixel parity with PIL 9.4's Image.open(p).convert('RGB') (fixtures from tools/pil_decode_fixtures.py).</summary>
public class ImageDecoderParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> GoodFixtures()
    {
        var d = new TheoryData<string>();
        foreach (var p in DecodeFixtures.Index.EnumerateObject())
            if (p.Value.TryGetProperty("expected", out _)) d.Add(p.Name);
        return d;
    }

    public static TheoryData<string> SamplePhotos()
    {
        var d = new TheoryData<string>();
        foreach (var p in DecodeFixtures.Samples.EnumerateObject()) d.Add(p.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(GoodFixtures))]
    public void GeneratedFixtureMatchesPil(string name)
    {
        var e = DecodeFixtures.Index.GetProperty(name);
        var img = ImageDecoder.Decode(Path.Combine(DecodeFixtures.Dir, name));
        Assert.Equal(e.GetProperty("width").GetInt32(), img.Width);
        Assert.Equal(e.GetProperty("height").GetInt32(), img.Height);
        var expected = DecodeFixtures.Expected(e.GetProperty("expected").GetString()!);
        int max = DecodeFixtures.MaxAbsDiff(expected, img.Pixels);
        output.WriteLine($"{name}: max abs diff {max}, {DecodeFixtures.CountDiff(expected, img.Pixels)} of {expected.Length} bytes differ");
        Assert.True(max == 0, $"{name}: max abs diff {max} (every format must match PIL exactly)");
    }

    [Theory]
    [MemberData(nameof(SamplePhotos))]
    public void SamplePhotoMatchesPil(string name)
    {
        var e = DecodeFixtures.Samples.GetProperty(name);
        var img = ImageDecoder.Decode(Path.Combine(DecodeFixtures.Photos, name));
        Assert.Equal(e.GetProperty("width").GetInt32(), img.Width);
        Assert.Equal(e.GetProperty("height").GetInt32(), img.Height);
        Assert.Equal(e.GetProperty("sha256").GetString(), DecodeFixtures.Sha(img.Pixels));
    }
}
