using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Soco.Data;
using Soco.Imaging;
using Soco.Tests.Imaging;

namespace Soco.Tests.Data;

public class FolderImageSourceTests
{
    [Fact]
    public void SortedOrdinalRecursiveSkipsHiddenAndNonImages()
    {
        using var t = new TempDir();
        t.CopyPhoto("dog.jpg", "b/dog.jpg");
        t.CopyPhoto("eagle.jpg", "a/eagle.JPEG");
        t.CopyPhoto("camera.png", "Z.png");
        t.CopyPhoto("coffee.png", "a/sub/coffee.v2.png");
        t.CopyPhoto("dog.jpg", "a/._dog.jpg");      // macOS resource fork
        t.CopyPhoto("dog.jpg", ".hidden/dog2.jpg");
        File.WriteAllText(t.Sub("a", "notes.txt"), "x");

        using var src = new FolderImageSource(t.Path);
        Assert.Equal(new[] { "Z.png", "a/eagle.JPEG", "a/sub/coffee.v2.png", "b/dog.jpg" }, src.Entries.Select(e => e.RelativePath));
        Assert.Equal(new[] { "Z", "eagle", "coffee", "dog" }, src.Entries.Select(e => e.Key));
        Assert.Equal(Enumerable.Range(0, 4), src.Entries.Select(e => e.Index));
        Assert.All(src.Entries, e => Assert.Equal(-1, e.ClassIndex));
        Assert.Equal(t.Sub("b", "dog.jpg"), src.Entries[3].Location);
        Assert.Equal(File.ReadAllBytes(Path.Combine(DecodeFixtures.Photos, "dog.jpg")), src.ReadBytes(src.Entries[3]));
        var img = src.Decode(src.Entries[0]);
        Assert.Equal((512, 512), (img.Width, img.Height));
        Assert.Contains("4 images", src.Description);

        using var flat = new FolderImageSource(t.Path, recursive: false);
        Assert.Equal(new[] { "Z.png" }, flat.Entries.Select(e => e.RelativePath));
    }

    [Fact]
    public void Errors()
    {
        using var t = new TempDir();
        var missing = t.Sub("nope");
        Assert.Equal($"images folder not found: {missing}", Assert.Throws<ImageSourceException>(() => new FolderImageSource(missing)).Message);
        Assert.StartsWith("no images in folder", Assert.Throws<ImageSourceException>(() => new FolderImageSource(t.Path)).Message);

        t.CopyPhoto("dog.jpg", "a/dog.jpg");
        t.CopyPhoto("dog.jpg", "b/dog.jpg");
        t.CopyPhoto("camera.png", "c/dog.png");
        t.CopyPhoto("eagle.jpg", "c/eagle.jpg");
        var e = Assert.Throws<ImageSourceException>(() => new FolderImageSource(t.Path));
        Assert.Contains("2 duplicate image key(s)", e.Message);
        Assert.Contains("'dog' (a/dog.jpg, b/dog.jpg)", e.Message);
        Assert.Contains("'dog' (a/dog.jpg, c/dog.png)", e.Message);
    }

    [Fact]
    public void ForeignEntryAndVanishedFile()
    {
        using var t = new TempDir();
        var f = t.CopyPhoto("dog.jpg", "dog.jpg");
        using var src = new FolderImageSource(t.Path);
        Assert.Throws<ArgumentException>(() => src.ReadBytes(new ImageEntry(0, "dog", "dog.jpg", f)));
        File.Delete(f);
        var e = Assert.Throws<ImageDecodeException>(() => src.ReadBytes(src.Entries[0]));
        Assert.Equal("file not found", e.Reason);
    }
}

public class ZipImageSourceTests
{
    private static readonly string[] Photos = ["dog.jpg", "eagle.jpg", "camera.png", "coffee.png", "rocket.jpg"];

    private static byte[] Photo(string name) => File.ReadAllBytes(Path.Combine(DecodeFixtures.Photos, name));

    /// <summary>train.zip with n0000000i/&lt;photo&gt; entries (mixed stored / deflated), optional prefix.</summary>
    private static string MakeZip(TempDir t, string name = "train.zip", string prefix = "")
    {
        string zip = t.Sub(name);
        using var z = ZipFile.Open(zip, ZipArchiveMode.Create);
        for (int i = 0; i < Photos.Length; i++)
        {
            var e = z.CreateEntry($"{prefix}n0{i}/{Photos[i]}", i % 2 == 0 ? CompressionLevel.NoCompression : CompressionLevel.Optimal);
            using var s = e.Open();
            s.Write(Photo(Photos[i]));
        }
        z.CreateEntry($"{prefix}n00/"); // a folder entry
        return zip;
    }

    private static string MakeMap(TempDir t, string name = "train_map.txt", string prefix = "", string sep = "\t")
    {
        // map order differs from zip order on purpose: entries must follow the map
        var lines = Enumerable.Range(0, Photos.Length).Reverse().Select(i => $"{prefix}n0{i}/{Photos[i]}{sep}{i * 10}");
        string map = t.Sub(name);
        File.WriteAllText(map, string.Join("\n", lines) + "\n\n");
        return map;
    }

    private static void AssertMapOrder(IImageSource src)
    {
        Assert.Equal(Enumerable.Range(0, Photos.Length).Reverse().Select(i => Path.GetFileNameWithoutExtension(Photos[i])), src.Entries.Select(e => e.Key));
        Assert.Equal(Enumerable.Range(0, Photos.Length).Reverse().Select(i => i * 10), src.Entries.Select(e => e.ClassIndex));
        foreach (var e in src.Entries) Assert.Equal(Photo(e.RelativePath.Split('/')[^1]), src.ReadBytes(e));
    }

    [Fact]
    public void ZipWithMapFollowsTheMapAndReadsStoredAndDeflated()
    {
        using var t = new TempDir();
        string zip = MakeZip(t);
        using var src = new ZipImageSource(zip, MakeMap(t));
        AssertMapOrder(src);
        Assert.Equal($"{zip}@/n04/rocket.jpg", src.Entries[0].Location);
        Assert.Equal("n04/rocket.jpg", src.Entries[0].RelativePath);
        var img = src.Decode(src.Entries[0]);
        Assert.Equal(DecodeFixtures.Samples.GetProperty("rocket.jpg").GetProperty("sha256").GetString(), DecodeFixtures.Sha(img.Pixels));
    }

    [Fact]
    public void MapWithSpacesInsteadOfTab()
    {
        using var t = new TempDir();
        using var src = new ZipImageSource(MakeZip(t), MakeMap(t, sep: "   "));
        AssertMapOrder(src);
    }

    [Theory]
    [InlineData("train/", "")]   // zip -r train.zip train/ ; map without the folder
    [InlineData("", "train/")]   // map says train/..., zip has none
    public void ToleratesOneConsistentPrefix(string zipPrefix, string mapPrefix)
    {
        using var t = new TempDir();
        using var src = new ZipImageSource(MakeZip(t, prefix: zipPrefix), MakeMap(t, prefix: mapPrefix));
        AssertMapOrder(src);
        Assert.EndsWith($".zip@/{zipPrefix}n04/rocket.jpg", src.Entries[0].Location);
    }

    [Fact]
    public void ZipWithoutMapTakesSortedImageEntries()
    {
        using var t = new TempDir();
        string zip = MakeZip(t);
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Update))
        {
            z.CreateEntry("__MACOSX/n00/._dog.jpg").Open().Dispose();
            z.CreateEntry("readme.txt").Open().Dispose();
            using var s = z.CreateEntry("a.png").Open();
            s.Write(Photo("camera.png"));
        }
        using var src = new ZipImageSource(zip);
        Assert.Equal(new[] { "a.png", "n00/dog.jpg", "n01/eagle.jpg", "n02/camera.png", "n03/coffee.png", "n04/rocket.jpg" },
            src.Entries.Select(e => e.RelativePath));
    }

    [Fact]
    public void Zip64()
    {
        using var t = new TempDir();
        string zip = t.Sub("big.zip");
        Zip64Writer.Write(zip, Photos.Select((p, i) => ($"n0{i}/{p}", Photo(p))));
        using (var check = ZipFile.OpenRead(zip)) Assert.Equal(Photos.Length, check.Entries.Count); // the writer is valid
        using var src = new ZipImageSource(zip);
        Assert.Equal(Photos.Length, src.Entries.Count);
        foreach (var e in src.Entries) Assert.Equal(Photo(e.RelativePath.Split('/')[^1]), src.ReadBytes(e));
    }

    [Fact]
    public void ReadsFromSeveralThreadsAtOnce()
    {
        using var t = new TempDir();
        using var src = new ZipImageSource(MakeZip(t), MakeMap(t));
        var expected = src.Entries.Select(e => Photo(e.RelativePath.Split('/')[^1])).ToArray();
        int bad = 0;
        var threads = Enumerable.Range(0, 2).Select(k => new Thread(() =>
        {
            for (int round = 0; round < 20; round++)
            {
                for (int i = 0; i < src.Entries.Count; i++)
                {
                    int j = (i + k * 2 + round) % src.Entries.Count;
                    if (!src.ReadBytes(src.Entries[j]).AsSpan().SequenceEqual(expected[j])) Interlocked.Increment(ref bad);
                }
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());
        Assert.Equal(0, bad);
        // decoding in parallel too: every result is the photo's known pixels (samples.json, from PIL)
        var hashes = new string[10];
        Parallel.For(0, 10, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => hashes[i] = DecodeFixtures.Sha(src.Decode(src.Entries[i % src.Entries.Count]).Pixels));
        for (int i = 0; i < 10; i++)
        {
            var name = src.Entries[i % src.Entries.Count].RelativePath.Split('/')[^1];
            Assert.Equal(DecodeFixtures.Samples.GetProperty(name).GetProperty("sha256").GetString(), hashes[i]);
        }
    }

    [Fact]
    public void MapErrors()
    {
        using var t = new TempDir();
        string zip = MakeZip(t);
        string map = t.Sub("m.txt");

        File.WriteAllText(map, "n00/dog.jpg\t0\nn01/eagle.jpg\t1\nn02/camera.png\n");
        var e = Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map));
        Assert.Equal($"map file {map}, line 3: expected '<path in zip><TAB><class index>', got 'n02/camera.png'", e.Message);

        File.WriteAllText(map, "n00/dog.jpg\tzero\n");
        Assert.Contains("line 1:", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map)).Message);

        File.WriteAllText(map, "n00/dog.jpg\t0\nn09/missing.jpg\t1\n");
        e = Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map));
        Assert.Equal($"1 of 2 image(s) of map file {map} not found in zip {zip}: line 2: n09/missing.jpg", e.Message);

        File.WriteAllText(map, "n00/dog.jpg\t0\nn00/dog.jpg\t0\n");
        Assert.Contains("duplicate image key(s)", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map)).Message);

        File.WriteAllText(map, "\n");
        Assert.StartsWith("no images in map file", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map)).Message);

        Assert.StartsWith("images zip not found: ", Assert.Throws<ImageSourceException>(() => new ZipImageSource(t.Sub("x.zip"))).Message);
        Assert.StartsWith("zip map file not found: ", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, t.Sub("none.txt"))).Message);
        File.WriteAllText(t.Sub("fake.zip"), "not a zip at all");
        Assert.Contains("not a zip file", Assert.Throws<ImageSourceException>(() => new ZipImageSource(t.Sub("fake.zip"))).Message);
    }

    [Theory]
    [InlineData("\n", "utf-8")]
    [InlineData("\r\n", "utf-8-bom")]
    [InlineData("\r", "utf-8")]
    [InlineData("\r\n", "utf-16")]
    public void MapLinesAreReadAsFileReadLinesReadsThem(string newline, string encoding)
    {
        // The map is read as bytes, a line at a time; its lines must be those File.ReadLines gives: any line end, a
        // byte order mark skipped (UTF-16 decoded), blank lines skipped, no end on the last line, "./", "/" and '\' fixed.
        using var t = new TempDir();
        string zip = MakeZip(t);
        var lines = Enumerable.Range(0, Photos.Length).Reverse()
            .Select(i => (i % 3 == 0 ? "./" : i % 3 == 1 ? "/" : "") + $"n0{i}\\{Photos[i]}\t{i * 10}").ToList();
        lines.Insert(2, "   ");
        string text = string.Join(newline, lines); // no line end after the last line
        string map = t.Sub("m.txt");
        File.WriteAllBytes(map, encoding switch
        {
            "utf-8" => Encoding.UTF8.GetBytes(text),
            "utf-8-bom" => [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text)],
            _ => [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)],
        });
        using var src = new ZipImageSource(zip, map);
        AssertMapOrder(src);

        // A "\r\n" split by the first 64 KiB read (the '\r' its last byte) is one line end: the bad line is line 3.
        File.WriteAllText(map, new string(' ', 65_535) + "\r\nn00/dog.jpg\t0\nbad\n");
        Assert.Contains("line 3: expected", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map)).Message);

        // A line longer than the read buffer, and the line numbers after it.
        File.WriteAllText(map, $"n00/dog.jpg\t0\n{new string('x', 200_000)}.jpg\t1\r\nn01/eagle.jpg\t1\r\nn09/missing.jpg\t2\n");
        var e = Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, map));
        Assert.Contains("2 of 4 image(s)", e.Message);
        Assert.Contains("line 2: xxx", e.Message);
        Assert.Contains("; line 4: n09/missing.jpg", e.Message);
    }

    [Fact]
    public void AZipWhoseNamesFillSeveralOfTheIndexsBlocks()
    {
        // 20,000 names of ~70 bytes: the directory's names span two of its 1 MiB blocks.
        using var t = new TempDir();
        string zip = t.Sub("train.zip");
        var names = Enumerable.Range(0, 20_000).Select(i => $"n{i % 100:D8}/{new string('x', 40)}_{i:D8}.JPEG").ToArray();
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
            foreach (var (name, i) in names.Select((n, i) => (n, i)))
            {
                using var s = z.CreateEntry(name, CompressionLevel.NoCompression).Open();
                if (i % 997 == 0) s.Write(Photo("dog.jpg"));
            }
        string map = t.Sub("train_map.txt");
        File.WriteAllLines(map, Enumerable.Reverse(names).Select((n, k) => $"{n}\t{k % 1000}"));
        using var src = new ZipImageSource(zip, map);
        Assert.Equal(Enumerable.Reverse(names), src.Entries.Select(e => e.RelativePath));
        for (int i = 0; i < names.Length; i += 997)
            Assert.Equal(Photo("dog.jpg"), src.ReadBytes(src.Entries[names.Length - 1 - i]));
        Assert.Empty(src.ReadBytes(src.Entries[0]));
        Assert.Equal($"{zip}@/{names[^1]}", src.Entries[0].Location);
    }

    [Fact]
    public void EntryNamesAreLookedUpAsTheirDecodedForms()
    {
        // The central directory is indexed as UTF-8 bytes: a non-ASCII name, a name written with '\', a name that is
        // not valid UTF-8 (decoded with U+FFFD, as Python and .NET decode it), a name twice (the first entry wins) and
        // folders must be found, read and left out as the per-entry strings did.
        using var t = new TempDir();
        string zip = t.Sub("train.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            void Put(string name, string photo)
            {
                using var s = z.CreateEntry(name).Open();
                s.Write(Photo(photo));
            }
            Put("n01/caf\u00e9 \u00fcber.jpg", "dog.jpg");
            Put("n02\\back.jpg", "eagle.jpg");
            Put("n03/twice.png", "camera.png");
            Put("n03/twice.png", "coffee.png");
            Put("n04/bad\u00ff.jpg", "rocket.jpg");
            z.CreateEntry("n05/");
        }
        // Make the last name's "\u00ff" (UTF-8 C3 BF) two invalid bytes (FF FF) in both of its headers.
        var bytes = File.ReadAllBytes(zip);
        var from = System.Text.Encoding.UTF8.GetBytes("bad\u00ff.jpg");
        byte[] to = [.. from[..3], 0xFF, 0xFF, .. from[5..]];
        for (int at; (at = bytes.AsSpan().IndexOf(from)) >= 0;) to.CopyTo(bytes.AsSpan(at));
        File.WriteAllBytes(zip, bytes);
        string map = t.Sub("train_map.txt");
        File.WriteAllText(map, "n03/twice.png\t3\nn02/back.jpg\t2\nn04/bad\ufffd\ufffd.jpg\t4\nn01/caf\u00e9 \u00fcber.jpg\t1\n");
        using (var src = new ZipImageSource(zip, map))
        {
            Assert.Equal(["n03/twice.png", "n02/back.jpg", "n04/bad\ufffd\ufffd.jpg", "n01/caf\u00e9 \u00fcber.jpg"], src.Entries.Select(e => e.RelativePath));
            Assert.Equal([3, 2, 4, 1], src.Entries.Select(e => e.ClassIndex));
            Assert.Equal(Photo("camera.png"), src.ReadBytes(src.Entries[0])); // the first of the two
            Assert.Equal(Photo("eagle.jpg"), src.ReadBytes(src.Entries[1]));
            Assert.Equal(Photo("rocket.jpg"), src.ReadBytes(src.Entries[2]));
            Assert.Equal(Photo("dog.jpg"), src.ReadBytes(src.Entries[3]));
            Assert.Equal($"{zip}@/n01/caf\u00e9 \u00fcber.jpg", src.Entries[3].Location);
        }
        File.Delete(map);
        // No map: every image entry, so the name there twice is a duplicate key.
        Assert.Contains("duplicate image key(s)", Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip)).Message);
    }

    [Fact]
    public void CorruptEntryIsAPerImageError()
    {
        using var t = new TempDir();
        string zip = MakeZip(t);
        using (var src0 = new ZipImageSource(zip)) { }
        // flip one byte inside the stored dog.jpg (first entry; stored, so its bytes appear verbatim)
        var bytes = File.ReadAllBytes(zip);
        var dog = Photo("dog.jpg");
        int at = bytes.AsSpan().IndexOf(dog.AsSpan(1000, 64)) + 10;
        bytes[at] ^= 0xFF;
        File.WriteAllBytes(zip, bytes);
        using var src = new ZipImageSource(zip);
        var e = Assert.Throws<ImageDecodeException>(() => src.ReadBytes(src.Entries.Single(x => x.Key == "dog")));
        Assert.Equal("corrupt zip entry (CRC mismatch)", e.Reason);
        Assert.EndsWith("@/n00/dog.jpg", e.Path);
        src.ReadBytes(src.Entries.Single(x => x.Key == "eagle"));
    }
}

public class ListFileImageSourceTests
{
    [Fact]
    public void ListOrderCommentsRelativeAndAbsolute()
    {
        using var t = new TempDir();
        t.CopyPhoto("dog.jpg", "imgs/dog.jpg");
        t.CopyPhoto("camera.png", "imgs/cam.png");
        string abs = t.CopyPhoto("eagle.jpg", "elsewhere/eagle.jpg");
        string list = t.Sub("list.txt");
        File.WriteAllText(list, $"# my images\nimgs/dog.jpg\n\n  imgs/cam.png  \r\n{abs}\n");
        using var src = new ListFileImageSource(list);
        Assert.Equal(new[] { "dog", "cam", "eagle" }, src.Entries.Select(e => e.Key));
        Assert.Equal(t.Sub("imgs", "cam.png"), src.Entries[1].Location);
        Assert.Equal(abs, src.Entries[2].Location);
        Assert.Equal(File.ReadAllBytes(abs), src.ReadBytes(src.Entries[2]));
    }

    [Fact]
    public void Errors()
    {
        using var t = new TempDir();
        string list = t.Sub("list.txt");
        Assert.StartsWith("image list file not found: ", Assert.Throws<ImageSourceException>(() => new ListFileImageSource(list)).Message);
        File.WriteAllText(list, "# nothing\n\n");
        Assert.StartsWith("no images in list file", Assert.Throws<ImageSourceException>(() => new ListFileImageSource(list)).Message);
        t.CopyPhoto("dog.jpg", "dog.jpg");
        File.WriteAllText(list, "dog.jpg\nmissing.jpg\n");
        var e = Assert.Throws<ImageSourceException>(() => new ListFileImageSource(list));
        Assert.Equal($"1 image(s) listed in {list} not found: line 2: {t.Sub("missing.jpg")}", e.Message);
    }
}

public class ImageSourcesOpenTests
{
    [Fact]
    public void PicksTheRightSource()
    {
        using var t = new TempDir();
        t.CopyPhoto("dog.jpg", "folder/dog.jpg");
        using (var f = ImageSources.Open(t.Sub("folder"))) Assert.IsType<FolderImageSource>(f);

        string zip = t.Sub("train.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            z.CreateEntryFromFile(t.Sub("folder", "dog.jpg"), "n0/dog.jpg");
            z.CreateEntryFromFile(Path.Combine(DecodeFixtures.Photos, "eagle.jpg"), "n1/eagle.jpg");
        }
        using (var z = ImageSources.Open(zip)) // no train_map.txt: all entries
        {
            var zs = Assert.IsType<ZipImageSource>(z);
            Assert.Null(zs.MapPath);
            Assert.Equal(2, z.Entries.Count);
        }
        File.WriteAllText(t.Sub("train_map.txt"), "n1/eagle.jpg\t7\n");
        using (var z = ImageSources.Open(zip))
        {
            Assert.Equal(t.Sub("train_map.txt"), ((ZipImageSource)z).MapPath);
            Assert.Equal(7, Assert.Single(z.Entries).ClassIndex);
        }
        File.WriteAllText(t.Sub("other.txt"), "n0/dog.jpg 3\n");
        using (var z = ImageSources.Open(zip + ":other.txt"))
            Assert.Equal(("dog", 3), (Assert.Single(z.Entries).Key, z.Entries[0].ClassIndex));

        File.WriteAllText(t.Sub("list.lst"), "folder/dog.jpg\n");
        using (var l = ImageSources.Open(t.Sub("list.lst"))) Assert.IsType<ListFileImageSource>(l);

        Assert.Equal($"images folder not found: {t.Sub("nothing")}",
            Assert.Throws<ImageSourceException>(() => ImageSources.Open(t.Sub("nothing"))).Message);
        Assert.Contains("cannot tell what kind of image source",
            Assert.Throws<ImageSourceException>(() => ImageSources.Open(t.Sub("folder", "dog.jpg"))).Message);
    }

    [Theory]
    [InlineData("n01440764/n01440764_10026.JPEG", "n01440764_10026")]
    [InlineData("a/b.c.d.png", "b")]
    [InlineData("noext", "noext")]
    [InlineData("dir.x/file", "file")]
    public void KeyIsBasenameUpToFirstDot(string path, string key) => Assert.Equal(key, ImageSources.KeyOf(path));
}
/// <summary>A temp folder removed on dispose, and helpers to fill it with the sample photos.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "soco-src-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Copies samples/photos/<paramref name="photo"/> to <paramref name="rel"/> under this folder.</summary>
    public string CopyPhoto(string photo, string rel)
    {
        string dst = Sub(rel.Split('/'));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(dst)!);
        File.Copy(System.IO.Path.Combine(DecodeFixtures.Photos, photo), dst);
        return dst;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}

/// <summary>Writes a zip in zip64 form (zip64 extra fields, zip64 end records), stored entries: like a >4 GB ImageNet zip.</summary>
internal static class Zip64Writer
{
    public static void Write(string path, IEnumerable<(string Name, byte[] Data)> entries)
    {
        using var fs = File.Create(path);
        var central = new MemoryStream();
        long count = 0;
        foreach (var (name, data) in entries)
        {
            long offset = fs.Position;
            var nm = Encoding.UTF8.GetBytes(name);
            uint crc = Crc(data);
            // local header with zip64 extra (usize, csize)
            var lh = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(lh, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(lh.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(lh.AsSpan(6), 0x800);
            BinaryPrimitives.WriteUInt32LittleEndian(lh.AsSpan(14), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(lh.AsSpan(18), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32LittleEndian(lh.AsSpan(22), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt16LittleEndian(lh.AsSpan(26), (ushort)nm.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(lh.AsSpan(28), 20);
            fs.Write(lh);
            fs.Write(nm);
            var lx = new byte[20];
            BinaryPrimitives.WriteUInt16LittleEndian(lx, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(lx.AsSpan(2), 16);
            BinaryPrimitives.WriteUInt64LittleEndian(lx.AsSpan(4), (ulong)data.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(lx.AsSpan(12), (ulong)data.Length);
            fs.Write(lx);
            fs.Write(data);
            // central record with zip64 extra (usize, csize, offset)
            var ch = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(ch, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(ch.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(ch.AsSpan(6), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(ch.AsSpan(8), 0x800);
            BinaryPrimitives.WriteUInt32LittleEndian(ch.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(ch.AsSpan(20), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32LittleEndian(ch.AsSpan(24), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt16LittleEndian(ch.AsSpan(28), (ushort)nm.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(ch.AsSpan(30), 28);
            BinaryPrimitives.WriteUInt32LittleEndian(ch.AsSpan(42), 0xFFFFFFFF);
            central.Write(ch);
            central.Write(nm);
            var cx = new byte[28];
            BinaryPrimitives.WriteUInt16LittleEndian(cx, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(cx.AsSpan(2), 24);
            BinaryPrimitives.WriteUInt64LittleEndian(cx.AsSpan(4), (ulong)data.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(cx.AsSpan(12), (ulong)data.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(cx.AsSpan(20), (ulong)offset);
            central.Write(cx);
            count++;
        }
        long cdOffset = fs.Position;
        central.Position = 0;
        central.CopyTo(fs);
        long z64 = fs.Position;
        var r = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(r, 0x06064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(12), 45);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(14), 45);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), (ulong)count);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(32), (ulong)count);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(40), (ulong)central.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(48), (ulong)cdOffset);
        fs.Write(r);
        var loc = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(loc, 0x07064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(loc.AsSpan(8), (ulong)z64);
        BinaryPrimitives.WriteUInt32LittleEndian(loc.AsSpan(16), 1);
        fs.Write(loc);
        var e = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(8), 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(10), 0xFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(12), 0xFFFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(16), 0xFFFFFFFF);
        fs.Write(e);
    }

    private static uint Crc(byte[] d)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in d)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
