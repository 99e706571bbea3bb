using System.IO.Compression;
using Soco.Imaging;
using Soco.Tests.Imaging;
using Soco.Proposals;

namespace Soco.Tests.Data;

/// <summary>
/// The compact image list (<see cref="ImageTable"/>, docs/scale.md "The compact image list"): the entries it makes
/// have the values the per-image <see cref="ImageEntry"/> objects had, in the same order; key lookups find the first
/// image of a key; sources hold one and check ownership through it; bad input gives the same messages; the proposal
/// index's table form has the contents, lookups and order of its string form.
/// </summary>
public class ImageTableTests
{
    // Paths that exercise the key rule (KeyOf: file name up to its first '.'), multi-byte UTF-8 and '\' in a name.
    static readonly (string Path, int Class, string? Tail)[] Rows =
    [
        ("n01/n01_00000001.JPEG", 0, null),
        ("n01/sub/a.b.c.jpg", 1, null),
        ("top.png", 7, "top.png"),                  // a tail equal to the path: stored as none
        ("n02/éléphant_ü.jpg", 2, "train/n02/éléphant_ü.jpg"),
        ("日本/写真.webp", 3, null),
        ("odd\\name.jpg", -1, null),                // '\' separates for the key, as KeyOf does
        ("n03/noextension", 4, "/abs/n03/noextension"),
        ("n03/.hidden.jpg", 5, null),               // empty key (sources reject it; the table stores it as given)
    ];

    static ImageTable Build(string prefix, IEnumerable<(string Path, int Class, string? Tail)> rows)
    {
        var b = new ImageTable.Builder(prefix);
        foreach (var (p, c, t) in rows) b.Add(p, c, t);
        return b.Build();
    }

    [Fact]
    public void EntriesRoundTripWithThePerImageObjectsValuesInOrder()
    {
        var table = Build("/data/train.zip@/", Rows);
        Assert.Equal(Rows.Length, table.Count);
        for (int i = 0; i < Rows.Length; i++)
        {
            var (p, c, t) = Rows[i];
            var e = table[i];
            var old = new ImageEntry(i, ImageSources.KeyOf(p), p, "/data/train.zip@/" + (t ?? p), c);
            Assert.Equal((old.Index, old.Key, old.RelativePath, old.Location, old.ClassIndex), (e.Index, e.Key, e.RelativePath, e.Location, e.ClassIndex));
            Assert.Equal(old.Key, table.KeyAt(i));
            Assert.True(table.Owns(e));
            Assert.False(table.Owns(old)); // equal values, not made by the table
        }
        Assert.Equal(Enumerable.Range(0, Rows.Length), table.Select(e => e.Index)); // the enumerator: same order
        Assert.Equal(["n01_00000001", "a", "top", "éléphant_ü", "写真", "name", "noextension", ""], table.Select(e => e.Key));
        Assert.Throws<ArgumentOutOfRangeException>(() => table[Rows.Length]);
        Assert.Throws<ArgumentOutOfRangeException>(() => table[-1]);
    }

    [Fact]
    public void WithoutClassesEveryClassIsMinusOne()
    {
        var table = Build("", Rows.Select(r => (r.Path, -1, r.Tail)));
        Assert.All(table, e => Assert.Equal(-1, e.ClassIndex));
        Assert.Equal("/abs/n03/noextension", table[6].Location); // the prefix is empty: the tail is the whole location
        Assert.Equal("top.png", table[2].Location);
    }

    [Fact]
    public void KeyLookupsFindTheFirstImageOfEveryKeyAmongManyAndNothingElse()
    {
        // 20,000 ImageNet-style paths (hash collisions and long probe runs happen at this size) plus a duplicate key
        // and keys that are prefixes of others.
        var rows = Enumerable.Range(0, 20_000).Select(i => ($"n{i % 1000:D8}/n{i % 1000:D8}_{i}.JPEG", i % 1000, (string?)null)).ToList();
        rows.Add(("other/n00000007_7.png", 7, null)); // the key of image 7 again: image 7 keeps it
        rows.Add(("x/n00000007_7.jpg.bak", 7, null)); // again
        rows.Add(("x/n0000000.jpg", 0, null));        // a prefix of other keys
        var table = Build("p/", rows);
        for (int i = 0; i < 20_000; i++) Assert.Equal(i, table.IndexOf($"n{i % 1000:D8}_{i}"));
        Assert.Equal(7, table.IndexOf("n00000007_7"));
        Assert.Equal(20_002, table.IndexOf("n0000000"));
        Assert.Equal(-1, table.IndexOf("n00000007_"));
        Assert.Equal(-1, table.IndexOf("n00000007_7.JPEG")); // a path is no key
        Assert.Equal(-1, table.IndexOf(""));
        Assert.Equal(-1, table.IndexOf("\ud800")); // not valid UTF-16: no key of any table
        Assert.Equal(-1, Build("", [("a/b.jpg", -1, null)]).IndexOf("B"));   // ordinal, as the key dictionaries were
        // What the list holds per image for these names: the path bytes and a few ints, not two strings and an object
        // (~264 bytes per image before, docs/scale.md).
        Assert.True(table.HeldBytes / (double)table.Count < 70, $"{table.HeldBytes / (double)table.Count:F1} bytes per image");
    }

    [Fact]
    public void SourcesHoldATableAndCheckOwnershipThroughIt()
    {
        using var t = new TempDir();
        t.CopyPhoto("dog.jpg", "b/dog.jpg");
        t.CopyPhoto("eagle.jpg", "a/eagle.JPEG");
        string zip = t.Sub("train.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            z.CreateEntryFromFile(t.Sub("b", "dog.jpg"), "train/n01/dog.jpg");
            z.CreateEntryFromFile(t.Sub("a", "eagle.JPEG"), "train/n00/eagle.JPEG");
        }
        File.WriteAllText(t.Sub("train_map.txt"), "n01/dog.jpg\t1\nn00/eagle.JPEG\t0\n");
        File.WriteAllText(t.Sub("list.txt"), "b/dog.jpg\n" + t.Sub("a", "eagle.JPEG") + "\n");

        using var folder = new FolderImageSource(t.Path);
        using var zipped = new ZipImageSource(zip, t.Sub("train_map.txt"));
        using var listed = new ListFileImageSource(t.Sub("list.txt"));
        foreach (var src in new IImageSource[] { folder, zipped, listed })
        {
            var table = Assert.IsType<ImageTable>(src.Entries);
            Assert.Equal(File.ReadAllBytes(Path.Combine(DecodeFixtures.Photos, "dog.jpg")), src.ReadBytes(src.Entries.Single(e => e.Key == "dog")));
            var copy = table[0] with { }; // same values, same table: still its own
            Assert.Equal(src.ReadBytes(table[0]), src.ReadBytes(copy));
            Assert.Throws<ArgumentException>(() => src.ReadBytes(table[0] with { Index = 1 })); // image 0's entry under image 1's index
            var stranger = new ImageEntry(0, table[0].Key, table[0].RelativePath, table[0].Location, table[0].ClassIndex);
            Assert.Contains("does not belong to", Assert.Throws<ArgumentException>(() => src.ReadBytes(stranger)).Message);
        }
        Assert.Throws<ArgumentException>(() => folder.ReadBytes(zipped.Entries[0])); // another source's entry, same index
        Assert.Equal(t.Sub("a", "eagle.JPEG"), folder.Entries[0].Location);
        Assert.Equal([$"{zip}@/train/n01/dog.jpg", $"{zip}@/train/n00/eagle.JPEG"], zipped.Entries.Select(e => e.Location));
        Assert.Equal(["n01/dog.jpg", "n00/eagle.JPEG"], zipped.Entries.Select(e => e.RelativePath));
        Assert.Equal([1, 0], zipped.Entries.Select(e => e.ClassIndex));
        Assert.Equal([t.Sub("b", "dog.jpg"), t.Sub("a", "eagle.JPEG")], listed.Entries.Select(e => e.Location));
    }

    [Theory]
    [InlineData("a/x.jpg|b/x.png|c/y.jpg|d/y.v2.jpg|e/z.jpg")] // two duplicate keys
    [InlineData("a/x.jpg|b/.x.jpg|c/.y.png")]                  // empty keys
    public void BadInputMessagesAreTheOnesThePerImageListGave(string joined)
    {
        string[] paths = joined.Split('|');
        // The sources validate the table exactly as they validated the array of entry objects.
        var table = Build("/root/", paths.Select(p => (p, -1, (string?)null)));
        var objects = paths.Select((p, i) => new ImageEntry(i, ImageSources.KeyOf(p), p, "/root/" + p)).ToArray();
        string before = Assert.Throws<ImageSourceException>(() => ImageSources.Validate(objects, "folder /root")).Message;
        string now = Assert.Throws<ImageSourceException>(() => ImageSources.Validate(table, "folder /root")).Message;
        Assert.Equal(before, now);
    }

    [Fact]
    public void DuplicateKeysInAZipMapStillNameBothPaths()
    {
        using var t = new TempDir();
        string zip = t.Sub("train.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            z.CreateEntryFromFile(Path.Combine(DecodeFixtures.Photos, "dog.jpg"), "n01/dog.jpg");
            z.CreateEntryFromFile(Path.Combine(DecodeFixtures.Photos, "dog.jpg"), "n02/dog.jpg");
        }
        File.WriteAllText(t.Sub("train_map.txt"), "n01/dog.jpg\t1\nn02/dog.jpg\t2\n");
        var e = Assert.Throws<ImageSourceException>(() => new ZipImageSource(zip, t.Sub("train_map.txt")));
        Assert.Equal($"1 duplicate image key(s) in zip {zip} with map {t.Sub("train_map.txt")}: 'dog' (n01/dog.jpg, n02/dog.jpg). " +
                     "Keys (the file name up to its first '.') must be unique: proposals are looked up by key.", e.Message);
    }

    [Fact]
    public void TheProposalIndexTableFormMatchesItsStringForm()
    {
        var table = Build("", Enumerable.Range(0, 50).Select(i => ($"n{i % 3}/img_{i}.jpg", i % 3, (string?)null)));
        var rnd = new Random(5);
        var records = new List<ProposalRecord>();
        foreach (int i in new[] { 7, 3, 49, 3, 12, 0, 30 }) // out of order, image 3 twice (the first wins)
            records.Add(new ProposalRecord($"img_{i}", "", 40 + i, 30, Enumerable.Range(0, rnd.Next(0, 6)).Select(k => new ProposalRect(k, i, 5, 6)).ToArray()));
        records.Add(new ProposalRecord("not_an_image", "", 10, 10, [new ProposalRect(0, 0, 4, 4)]));
        records.Add(ProposalRecord.Failure("img_5", "", "unreadable"));
        records.Add(new ProposalRecord("img_20", "", 9, 9, [new ProposalRect(1, 1, 2, 2)]));

        var byString = new ProposalIndex(records, table.Select(e => e.Key));
        var byTable = new ProposalIndex(records, table);
        Assert.Equal(byString.Count, byTable.Count);
        Assert.Equal(byString.RectCount, byTable.RectCount);
        Assert.Equal(byString.Keys, byTable.Keys); // the records' order
        Assert.Equal(["img_7", "img_3", "img_49", "img_12", "img_0", "img_30", "not_an_image", "img_20"], byTable.Keys);
        foreach (var key in table.Select(e => e.Key).Append("not_an_image").Append("img_50"))
        {
            Assert.Equal(byString.ContainsKey(key), byTable.ContainsKey(key));
            Assert.Equal(byString.TryGetValue(key, out var a), byTable.TryGetValue(key, out var b));
            if (a is null) continue;
            Assert.Equal((a.Key, a.Width, a.Height), (b!.Key, b.Width, b.Height));
            Assert.Equal(a.Rects, b.Rects);
        }
        Assert.Equal(records[1].Rects, byTable["img_3"].Rects); // the first record of a key
        Assert.False(byTable.ContainsKey("img_5"));              // a failure is not held
        Assert.Equal(byString.Select(kv => (kv.Key, kv.Value.Rects.Length)), byTable.Select(kv => (kv.Key, kv.Value.Rects.Length)));
    }
}
