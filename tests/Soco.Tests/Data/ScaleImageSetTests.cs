using System.Security.Cryptography;
using Soco.Data.Scenes;
using Soco.Imaging;
using Soco.Tests.Cli;

namespace Soco.Tests.Data;

/// <summary>
/// `soco data synth` (bench/scale's image sets): the same seed gives the same bytes (folder, zip, map), image i is the
/// same whatever N (a small set is a prefix of a larger one), the images are distinct JPEGs of the asked sizes, and
/// the zip + map is read by the ImageNet zip source in index order with the class of each image.
/// </summary>
public sealed class ScaleImageSetTests
{
    static readonly ScaleImageOptions Small = new() { MinSide = 48, MaxSide = 80 };

    /// <summary>Three sample photos in a folder of their own (decoding all 22 would dominate the test).</summary>
    static string Photos(TestPaths.TempDir dir)
    {
        string folder = dir["photos"];
        Directory.CreateDirectory(folder);
        foreach (var name in new[] { "dog.jpg", "chelsea.png", "orange.jpg" })
            File.Copy(TestPaths.Photo(name), Path.Combine(folder, name));
        return folder;
    }

    static Dictionary<string, string> Hashes(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != ScaleImageSet.ManifestFile)
            .ToDictionary(f => Path.GetRelativePath(root, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void Same_seed_gives_the_same_bytes_and_a_smaller_set_is_a_prefix()
    {
        using var dir = new TestPaths.TempDir();
        string photos = Photos(dir);
        var a = ScaleImageSet.Write(photos, seed: 5, count: 12, Small, dir["a"], workers: 2);
        var b = ScaleImageSet.Write(photos, seed: 5, count: 12, Small, dir["b"], workers: 1);
        Assert.False(a.Reused);
        var ha = Hashes(dir["a"]);
        Assert.Equal(12 + 2, ha.Count); // images, train.zip, train_map.txt
        Assert.Equal(ha, Hashes(dir["b"]));
        Assert.Equal(a.Sha256, b.Sha256);

        // Another seed: other images.
        ScaleImageSet.Write(photos, seed: 6, count: 12, Small, dir["c"], workers: 2);
        var hc = Hashes(dir["c"]);
        Assert.NotEqual(ha[ScaleImageSet.ZipName], hc[ScaleImageSet.ZipName]);

        // The first 5 images of the 12-image set are the 5-image set.
        ScaleImageSet.Write(photos, seed: 5, count: 5, Small, dir["d"], workers: 2);
        var hd = Hashes(dir["d"]);
        foreach (var (rel, h) in hd.Where(kv => kv.Key.StartsWith(ScaleImageSet.FolderName + "/", StringComparison.Ordinal)))
            Assert.Equal(ha[rel], h);
        Assert.Equal(File.ReadLines(Path.Combine(dir["a"], ScaleImageSet.MapName)).Take(5), File.ReadLines(Path.Combine(dir["d"], ScaleImageSet.MapName)));

        // A second call with the same request reuses the folder; another request rewrites it.
        Assert.True(ScaleImageSet.Write(photos, seed: 5, count: 12, Small, dir["a"], workers: 2).Reused);
        var again = ScaleImageSet.Write(photos, seed: 5, count: 12, Small with { Quality = 80 }, dir["a"], workers: 2);
        Assert.False(again.Reused);
        Assert.NotEqual(a.Sha256, again.Sha256);
    }

    [Fact]
    public void The_zip_and_map_read_as_an_imagenet_source_of_distinct_jpegs()
    {
        using var dir = new TestPaths.TempDir();
        string photos = Photos(dir);
        string output = CliRunner.Ok("data", "synth", "--photos", photos, "--count", "16", "--seed", "1", "--min-side", "48", "--max-side", "80",
            "--out", dir["set"]);
        Assert.Contains("16 images", output);

        using var zip = ImageSources.Open(Path.Combine(dir["set"], ScaleImageSet.ZipName)); // picks train_map.txt beside it
        using var folder = ImageSources.Open(Path.Combine(dir["set"], ScaleImageSet.FolderName));
        Assert.Equal(16, zip.Entries.Count);
        Assert.Equal(16, folder.Entries.Count);
        var hashes = new HashSet<string>();
        for (int i = 0; i < 16; i++)
        {
            var e = zip.Entries[i];
            Assert.EndsWith($"_{i:D8}.JPEG", e.RelativePath); // map order = index order
            Assert.InRange(e.ClassIndex, 0, 2);
            Assert.Equal(ScaleImageSet.ClassName(e.ClassIndex), e.RelativePath.Split('/')[0]);
            byte[] bytes = zip.ReadBytes(e);
            Assert.True(JpegStructure.IsJpeg(bytes));
            Assert.True(hashes.Add(Convert.ToHexString(SHA256.HashData(bytes))), $"image {i} repeats an earlier one");
            var img = ImageDecoder.Decode(bytes, e.Location);
            Assert.InRange(Math.Max(img.Width, img.Height), 48, 80);
            // The folder holds the same bytes under the same path.
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir["set"], ScaleImageSet.FolderName, e.RelativePath)));
        }
        // Every source photo is used (3 classes over 16 images, drawn uniformly).
        Assert.Equal(3, zip.Entries.Select(e => e.ClassIndex).Distinct().Count());
    }

    [Fact]
    public void Bad_arguments_are_refused_with_the_problem_named()
    {
        using var dir = new TestPaths.TempDir();
        CliRunner.UserError(["data", "synth", "--photos", TestPaths.Photos, "--count", "0", "--out", dir["x"]], "--count must be ≥ 1");
        CliRunner.UserError(["data", "synth", "--photos", TestPaths.Photos, "--count", "3", "--min-side", "90", "--max-side", "80", "--out", dir["x"]],
            "image sides 90–80");
    }
}
