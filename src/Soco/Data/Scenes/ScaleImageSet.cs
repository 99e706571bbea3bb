using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SkiaSharp;
using Soco.Imaging;
using Soco.IO;

namespace Soco.Data.Scenes;

/// <summary>How the images of a scale set are made (docs/scale.md). Defaults: ImageNet-like sizes.</summary>
public sealed record ScaleImageOptions
{
    /// <summary>The longer side of each image is drawn uniformly from [MinSide, MaxSide] (ImageNet's train images are
    /// mostly 333–500 px on the longer side).</summary>
    public int MinSide { get; init; } = 333;
    public int MaxSide { get; init; } = 500;
    /// <summary>JPEG quality (SkiaSharp's libjpeg-turbo encoder).</summary>
    public int Quality { get; init; } = 90;

    public void Validate()
    {
        if (MinSide < 32 || MaxSide < MinSide || MaxSide > 4096)
            throw new ArgumentException($"image sides {MinSide}–{MaxSide}: need 32 ≤ min ≤ max ≤ 4096");
        if (Quality is < 1 or > 100) throw new ArgumentException($"JPEG quality {Quality} must be in 1–100");
    }
}

/// <summary>What <see cref="ScaleImageSet.Write"/> produced.</summary>
/// <param name="Folder">The image folder (<c>train/&lt;class&gt;/&lt;key&gt;.JPEG</c>).</param>
/// <param name="Zip"><c>train.zip</c> (same entries, stored); <see cref="Map"/> is <c>train_map.txt</c> beside it.</param>
/// <param name="Bytes">Total JPEG bytes.</param>
/// <param name="Reused">True when the folder already held this exact set (nothing written).</param>
public sealed record ScaleImageSetSummary(string Folder, string Zip, string Map, int Count, long Bytes, string Sha256, bool Reused);

/// <summary>
/// Deterministic synthetic image sets for the scale benchmark (bench/scale): N distinct JPEGs made from real photos by
/// a random crop (25–100 % of the area, aspect 3/4–4/3), a resize to an ImageNet-like size, a horizontal flip
/// (p = 0.5) and colour shifts (brightness, contrast, saturation, hue). Image i depends only on (seed, i), so the set of
/// N images is the first N of any larger set with the same seed. Written as an ImageNet-style folder
/// (<c>train/&lt;class&gt;/&lt;class&gt;_&lt;i&gt;.JPEG</c>, one class per source photo) and as SoCo's zip layout
/// (<c>train.zip</c> + <c>train_map.txt</c>, docs/soco-reference.md §3), both in index order.
/// </summary>
public static class ScaleImageSet
{
    public const string ManifestFile = "scaleset.json";
    public const string FolderName = "train";
    public const string ZipName = "train.zip";
    public const string MapName = "train_map.txt";
    // A fixed entry time: ZipArchive stamps entries with the current time otherwise, and the zip must be the same bytes
    // on every run.
    static readonly DateTimeOffset EntryTime = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Class folder name (an ImageNet-like wnid) of source photo <paramref name="photo"/>.</summary>
    public static string ClassName(int photo) => $"n{photo:D8}";

    /// <summary>Path of image <paramref name="index"/> inside the folder and the zip.</summary>
    public static string RelativePath(int index, int photo) => $"{ClassName(photo)}/{ClassName(photo)}_{index:D8}.JPEG";

    /// <summary>Image <paramref name="index"/>: its source photo and its JPEG bytes.</summary>
    public static (int Photo, byte[] Jpeg) Make(IReadOnlyList<RgbImage> photos, long seed, int index, ScaleImageOptions options)
    {
        if (photos.Count == 0) throw new ArgumentException("no source photos");
        var rnd = SampleRandom.For(seed, 7_000_001, index);
        int photo = rnd.NextInt(photos.Count);
        var src = photos[photo];
        double area = src.Width * (double)src.Height * rnd.Uniform(0.25, 1.0);
        double aspect = Math.Exp(rnd.Uniform(Math.Log(3.0 / 4), Math.Log(4.0 / 3)));
        double cw = Math.Min(src.Width, Math.Sqrt(area * aspect)), ch = Math.Min(src.Height, Math.Sqrt(area / aspect));
        double x0 = rnd.Uniform(0, src.Width - cw), y0 = rnd.Uniform(0, src.Height - ch);
        int longer = options.MinSide + rnd.NextInt(options.MaxSide - options.MinSide + 1);
        int w = cw >= ch ? longer : Math.Max(1, (int)Math.Round(longer * cw / ch));
        int h = cw >= ch ? Math.Max(1, (int)Math.Round(longer * ch / cw)) : longer;
        var image = PilResize.Bilinear(src, x0, y0, x0 + cw, y0 + ch, w, h);
        if (rnd.Bernoulli(0.5)) ColorOps.FlipHorizontal(image);
        ColorOps.AdjustBrightness(image, rnd.Uniform(0.8, 1.2));
        ColorOps.AdjustContrast(image, rnd.Uniform(0.8, 1.2));
        ColorOps.AdjustSaturation(image, rnd.Uniform(0.7, 1.3));
        ColorOps.AdjustHue(image, rnd.Uniform(-0.05, 0.05));
        using var bmp = Drawing.ToBitmap(image);
        using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, options.Quality)
            ?? throw new IOException($"could not encode image {index} as JPEG");
        return (photo, data.ToArray());
    }

    /// <summary>
    /// Writes (or reuses, when <see cref="ManifestFile"/> records the same request) <paramref name="count"/> images
    /// made from the photos in <paramref name="photosFolder"/>. The folder is written by <paramref name="workers"/>
    /// threads, then the zip is written from it in index order (streaming: memory does not grow with the count).
    /// </summary>
    public static ScaleImageSetSummary Write(string photosFolder, long seed, int count, ScaleImageOptions options, string outDir,
        int workers = 1, Action<int>? progress = null)
    {
        options.Validate();
        if (count < 1) throw new ArgumentException($"image count must be ≥ 1, got {count}");
        var photos = SceneSet.LoadBackgrounds(photosFolder);
        // The request names the photos by file name and size: another photo folder with other bytes is another set.
        var photoIds = Directory.EnumerateFiles(photosFolder).Order(StringComparer.Ordinal)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".jpg" or ".jpeg" or ".png") // the photos LoadBackgrounds reads
            .Select(f => $"{Path.GetFileName(f)}:{new FileInfo(f).Length}").ToList();
        string request = JsonSerializer.Serialize(new { seed, count, options.MinSide, options.MaxSide, options.Quality, photos = photoIds });
        string folder = Path.Combine(outDir, FolderName), zip = Path.Combine(outDir, ZipName), map = Path.Combine(outDir, MapName);
        string manifest = Path.Combine(outDir, ManifestFile);
        if (File.Exists(manifest) && JsonNode.Parse(File.ReadAllText(manifest)) is { } old && old["request"]?.GetValue<string>() == request)
            return new ScaleImageSetSummary(folder, zip, map, count, old["bytes"]!.GetValue<long>(), old["sha256"]!.GetValue<string>(), true);
        if (File.Exists(manifest)) File.Delete(manifest); // another request: the folder is rewritten below

        var photoOf = new int[count];
        int done = 0;
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) }, i =>
        {
            var (photo, jpeg) = Make(photos, seed, i, options);
            photoOf[i] = photo;
            string path = Path.Combine(folder, RelativePath(i, photo));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // Not AtomicFile: one fsync per image would dominate at 100k images; the manifest, written last and
            // atomically, is what marks the set complete.
            File.WriteAllBytes(path, jpeg);
            progress?.Invoke(Interlocked.Increment(ref done));
        });

        long bytes = 0;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AtomicFile.Write(zip, s =>
        {
            using var archive = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            for (int i = 0; i < count; i++)
            {
                string rel = RelativePath(i, photoOf[i]);
                byte[] jpeg = File.ReadAllBytes(Path.Combine(folder, rel));
                bytes += jpeg.Length;
                sha.AppendData(Encoding.UTF8.GetBytes(rel + "\n"));
                sha.AppendData(jpeg);
                // Stored, as JPEGs do not compress (and ImageNet's zips are made this way).
                var entry = archive.CreateEntry(rel, CompressionLevel.NoCompression);
                entry.LastWriteTime = EntryTime;
                using var es = entry.Open();
                es.Write(jpeg);
            }
        });
        AtomicFile.Write(map, s =>
        {
            using var w = new StreamWriter(s, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            for (int i = 0; i < count; i++) w.WriteLine($"{RelativePath(i, photoOf[i])}\t{photoOf[i]}");
        });
        string hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        var node = new JsonObject
        {
            ["request"] = request,
            ["seed"] = seed,
            ["count"] = count,
            ["photos"] = Path.GetFullPath(photosFolder),
            ["bytes"] = bytes,
            ["sha256"] = hash,
            ["layout"] = $"{FolderName}/<class>/<class>_<index>.JPEG (one class per source photo); {ZipName} (stored entries, same paths) + {MapName} (<path>\\t<class index>), index order",
        };
        AtomicFile.WriteAllText(manifest, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new ScaleImageSetSummary(folder, zip, map, count, bytes, hash, false);
    }
}
