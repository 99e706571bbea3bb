using Soco.Imaging;

namespace Soco.Tests.Imaging;

public class ExifOrientationTests
{
    public static TheoryData<int> Orientations() => new() { 2, 3, 4, 5, 6, 7, 8 };

    [Theory]
    [MemberData(nameof(Orientations))]
    public void IgnoredByDefaultAppliedOnRequestLikeExifTranspose(int o)
    {
        string name = $"exif{o}.jpg";
        var e = DecodeFixtures.Index.GetProperty(name);
        Assert.Equal(o, e.GetProperty("exif_orientation").GetInt32());
        string path = Path.Combine(DecodeFixtures.Dir, name);

        var plain = ImageDecoder.Decode(path);
        Assert.Equal((24, 16), (plain.Width, plain.Height));
        Assert.Equal(DecodeFixtures.Expected(e.GetProperty("expected").GetString()!), plain.Pixels);

        var upright = ImageDecoder.Decode(path, new DecodeOptions { ApplyExifOrientation = true });
        Assert.Equal(e.GetProperty("transposed_width").GetInt32(), upright.Width);
        Assert.Equal(e.GetProperty("transposed_height").GetInt32(), upright.Height);
        Assert.Equal(DecodeFixtures.Expected(e.GetProperty("transposed_expected").GetString()!), upright.Pixels);
    }

    [Fact]
    public void SamplePhotosWithOrientationOneAreUnchanged()
    {
        foreach (var p in DecodeFixtures.Samples.EnumerateObject())
        {
            if (p.Value.TryGetProperty("transposed_sha256", out var t))
            {
                var img = ImageDecoder.Decode(Path.Combine(DecodeFixtures.Photos, p.Name), new DecodeOptions { ApplyExifOrientation = true });
                Assert.Equal(t.GetString(), DecodeFixtures.Sha(img.Pixels));
            }
        }
        var dog = ImageDecoder.Decode(Path.Combine(DecodeFixtures.Photos, "dog.jpg"), new DecodeOptions { ApplyExifOrientation = true });
        Assert.Equal(DecodeFixtures.Samples.GetProperty("dog.jpg").GetProperty("sha256").GetString(), DecodeFixtures.Sha(dog.Pixels));
    }

    [Fact]
    public void ApplyOnAHandMadeImage()
    {
        // 3×2: pixel value = index
        var src = new RgbImage(3, 2, Enumerable.Range(0, 6).SelectMany(i => new[] { (byte)i, (byte)i, (byte)i }).ToArray());
        byte[] Vals(RgbImage im) => Enumerable.Range(0, im.Width * im.Height).Select(i => im.Pixels[i * 3]).ToArray();
        Assert.Equal(new byte[] { 2, 1, 0, 5, 4, 3 }, Vals(ExifOrientation.Apply(src, 2)));
        Assert.Equal(new byte[] { 5, 4, 3, 2, 1, 0 }, Vals(ExifOrientation.Apply(src, 3)));
        Assert.Equal(new byte[] { 3, 4, 5, 0, 1, 2 }, Vals(ExifOrientation.Apply(src, 4)));
        var r6 = ExifOrientation.Apply(src, 6); // 90° clockwise: 2×3
        Assert.Equal((2, 3), (r6.Width, r6.Height));
        Assert.Equal(new byte[] { 3, 0, 4, 1, 5, 2 }, Vals(r6));
        Assert.Equal(new byte[] { 2, 5, 1, 4, 0, 3 }, Vals(ExifOrientation.Apply(src, 8)));
        Assert.Same(src, ExifOrientation.Apply(src, 1));
    }
}
