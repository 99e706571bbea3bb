using Soco.Proposals;

namespace Soco.Tests.Proposals;

public class ProposalStoreTests
{
    static ProposalStoreInfo Info(string gen = "soco") => new()
    {
        Generator = gen,
        Parameters = new(StringComparer.Ordinal) { ["scale"] = "300" },
    };

    static ProposalRecord Rec(string key, int n) =>
        new(key, "/x/" + key + ".jpg", 640, 480, Enumerable.Range(0, n).Select(i => new ProposalRect(i, -i, 1000 + i, i * 7)).ToArray());

    [Fact]
    public void RoundTripsRecordsAndFailuresAcrossParts()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        using (var w = store.OpenWriter())
        {
            w.Add(Rec("a", 3));
            w.Add(ProposalRecord.Failure("b", "/x/b.jpg", "empty file (0 bytes)"));
            w.Flush();
            w.Add(Rec("c", 0));
            w.Add(Rec("d", 500));
        }
        var again = ProposalStore.Open(tmp["s"]);
        Assert.Equal(2, again.PartFiles().Length);
        var all = again.ReadAll().ToList();
        Assert.Equal(["a", "b", "c", "d"], all.Select(r => r.Key));
        Assert.Equal(Rec("a", 3).Rects, all[0].Rects);
        Assert.Equal(Rec("d", 500).Rects, all[3].Rects);
        Assert.Equal((640, 480), (all[3].Width, all[3].Height));
        Assert.True(all[1].IsFailure);
        Assert.Equal("empty file (0 bytes)", all[1].FailureReason);
        Assert.Equal(new[] { "a", "c", "d" }, again.LoadIndex().Keys.Order());
        Assert.Equal(4, again.ReadKeys().Count);
        Assert.Equal(3, again.ReadKeys(includeFailures: false).Count);
    }

    [Fact]
    public void DuplicateKeysAcrossPartsKeepTheFirst()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        using (var w = store.OpenWriter("a")) w.Add(Rec("k", 1));
        using (var w = store.OpenWriter("b")) w.Add(Rec("k", 2));
        Assert.Single(store.ReadAll());
        Assert.Single(store.ReadAll().Single().Rects);
    }

    [Fact]
    public void CountsFailuresAsReadAllKeepsThem()
    {
        // The count `proposals generate` prints at its end, streamed without the boxes: a key's record is its first
        // success, else its first failure (a failure redone by --retry-failed, or merged parts, is no failure).
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        Assert.Equal(0, store.CountFailures());
        using (var w = store.OpenWriter("a")) { w.Add(Rec("ok-then-failed", 3)); w.Add(ProposalRecord.Failure("failed-then-ok", "/x/f.jpg", "truncated")); }
        using (var w = store.OpenWriter("b")) { w.Add(Rec("failed-then-ok", 2)); w.Add(ProposalRecord.Failure("failed", "/x/g.jpg", "not an image")); w.Add(Rec("plain", 4)); }
        using (var w = store.OpenWriter("c")) { w.Add(ProposalRecord.Failure("ok-then-failed", "/x/h.jpg", "cannot read")); w.Add(ProposalRecord.Failure("failed", "/x/g2.jpg", "second")); }
        var all = store.ReadAll().ToDictionary(r => r.Key);
        Assert.Equal(["failed", "failed-then-ok", "ok-then-failed", "plain"], all.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, all["failed-then-ok"].Rects.Length);
        Assert.Equal(3, all["ok-then-failed"].Rects.Length);
        Assert.Equal("not an image", all["failed"].FailureReason);
        Assert.Equal(1, store.CountFailures());
        Assert.Equal(["failed-then-ok", "ok-then-failed", "plain"], store.ReadKeys(includeFailures: false).Order(StringComparer.Ordinal));
        Assert.Equal(4, store.ReadKeys().Count);
    }

    [Fact]
    public void ThePassesReadThePartsInTheOrderOfPartFiles()
    {
        // Parts of several runs and prefixes (a filter's, an import's, shards'): the compact part list the whole-store
        // passes use gives the same paths in the same (ordinal) order as PartFiles.
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        foreach (var prefix in new[] { "", "b", "B", "filtered", "import", "a-1", "a_1", "\u00e9", "z" })
            using (var w = store.OpenWriter(prefix))
                for (int i = 0; i < 3; i++)
                {
                    w.Add(Rec(prefix + i, 1));
                    w.Flush();
                }
        // Long names, enough of them to fill several of the list's 64 KB chunks.
        string first = store.PartFiles()[0];
        for (int i = 0; i < 1_400; i++)
            File.Copy(first, Path.Combine(Path.GetDirectoryName(first)!, $"part-{new string((char)('a' + i % 26), 40)}-{i * 7919 % 1400:D5}.bin"));
        // Files a part listing must pass over: a killed writer's temporary file, other names, a folder.
        string dir = Path.GetDirectoryName(first)!;
        foreach (var other in new[] { ".part-x.bin.1.abc.tmp", "part-y.bin.tmp", "x-part-1.bin", "part-z.BIN", "notes.txt" })
            File.WriteAllBytes(Path.Combine(dir, other), [1]);
        Directory.CreateDirectory(Path.Combine(dir, "part-folder.bin"));
        var list = store.Parts();
        Assert.Equal(store.PartFiles(), Enumerable.Range(0, list.Count).Select(i => list[i]));
        Assert.Equal(27 + 1_400, list.Count);
        Assert.Equal(0, ProposalStore.OpenOrCreate(tmp["empty"], Info()).Parts().Count);
    }

    [Fact]
    public void DuplicatesWithinAPartAndAcrossManyPartsKeepTheFirstSuccess()
    {
        // More keys than one sort block holds (the duplicate check spills and merges), repeats inside parts and across
        // them: ReadAll keeps what a dictionary model of the rule keeps, in part order.
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        var rnd = new Random(11);
        var model = new Dictionary<string, ProposalRecord>(StringComparer.Ordinal);
        using (var w = store.OpenWriter())
        {
            for (int i = 0; i < 90_000; i++)
            {
                // The location names the record's position: which of a key's records was kept, and in what order.
                string key = $"n{rnd.Next(50_000):D8}_{rnd.Next(3)}", at = $"r{i:D6}";
                var r = rnd.Next(8) == 0 ? ProposalRecord.Failure(key, at, "bad") : Rec(key, rnd.Next(1, 4)) with { Location = at };
                if (!model.TryGetValue(key, out var kept) || (kept.IsFailure && !r.IsFailure)) model[key] = r;
                w.Add(r);
                if (i % 9_000 == 8_999) w.Flush();
            }
        }
        Assert.True(ProposalStore.KeySortBytes < 90_000L * 16, "the keys must not fit one sort block");
        var all = store.ReadAll().ToList();
        Assert.Equal(model.Values.Select(r => r.Location).Order(StringComparer.Ordinal), all.Select(r => r.Location));
        foreach (var r in all)
        {
            var m = model[r.Key];
            Assert.Equal((m.Location, m.IsFailure, m.Rects.Length), (r.Location, r.IsFailure, r.Rects.Length));
        }
        Assert.Equal(model.Values.Count(r => r.IsFailure), store.CountFailures());
        Assert.Equal(model.Keys.Order(StringComparer.Ordinal), store.ReadKeys().Order(StringComparer.Ordinal));
        Assert.Equal(model.Where(kv => !kv.Value.IsFailure).Select(kv => kv.Key).Order(StringComparer.Ordinal),
            store.ReadKeys(includeFailures: false).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void RefusesAStoreMadeWithOtherSettings()
    {
        using var tmp = new TestPaths.TempDir();
        ProposalStore.OpenOrCreate(tmp["s"], Info("soco"));
        var e = Assert.Throws<ProposalStoreException>(() => ProposalStore.OpenOrCreate(tmp["s"], Info("fast")));
        Assert.Contains("another --out", e.Message);
    }

    [Fact]
    public void DamagedPartIsAClearErrorNamingTheFile()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        using (var w = store.OpenWriter()) w.Add(Rec("a", 50));
        string part = store.PartFiles().Single();
        var bytes = File.ReadAllBytes(part);
        File.WriteAllBytes(part, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<ProposalStoreException>(() => store.ReadAll().ToList());
        Assert.Contains(Path.GetFileName(part), e.Message);
        Assert.Contains("damaged", e.Message);
        e = Assert.Throws<ProposalStoreException>(() => store.CountFailures());
        Assert.Contains(Path.GetFileName(part), e.Message);
    }

    [Fact]
    public void TemporaryFilesOfAKilledWriterAreIgnoredAndCleaned()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        using (var w = store.OpenWriter()) w.Add(Rec("a", 2));
        string stale = Path.Combine(tmp["s"], "parts", ".part-x.bin.123.abc.tmp");
        File.WriteAllBytes(stale, [1, 2, 3]);
        Assert.Single(store.ReadAll());
        ProposalStore.OpenOrCreate(tmp["s"], Info());
        Assert.False(File.Exists(stale));
    }

    [Fact]
    public void AWriterStreamsItsPartToATemporaryFileThatAppearsWhole()
    {
        // A filter writes parts of 4,096 images: the writer must not hold a part's bytes in memory (they grew to a few
        // MB) but stream them to the part's temporary file, which becomes the part only at Flush.
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        string parts = Path.Combine(tmp["s"], "parts");
        var rnd = new Random(3);
        ProposalRecord Noisy(int i) => Rec($"k{i:D4}", 0) with
        {
            Rects = Enumerable.Range(0, 300).Select(_ => new ProposalRect(rnd.Next(100_000), rnd.Next(100_000), rnd.Next(100_000), rnd.Next(100_000))).ToArray(),
        };
        using (var w = store.OpenWriter())
        {
            for (int i = 0; i < 200; i++) w.Add(Noisy(i)); // ~1 MB of boxes that deflate cannot shrink much
            Assert.Empty(store.PartFiles());
            var pending = Assert.Single(Directory.GetFiles(parts));
            Assert.True(Soco.IO.AtomicFile.IsTemp(pending), pending);
            Assert.True(new FileInfo(pending).Length > 256 * 1024, $"only {new FileInfo(pending).Length} bytes written before the flush");
            w.Flush();
            Assert.Single(store.PartFiles());
            Assert.DoesNotContain(Directory.GetFiles(parts), Soco.IO.AtomicFile.IsTemp);
            w.Add(Noisy(200));
        }
        Assert.Equal(2, store.PartFiles().Length);
        Assert.DoesNotContain(Directory.GetFiles(parts), Soco.IO.AtomicFile.IsTemp);
        var all = store.ReadAll().ToList();
        Assert.Equal(201, all.Count);
        Assert.All(all, r => Assert.Equal(300, r.Rects.Length));
    }

    [Fact]
    public void AWriterThatFailsDropsItsPendingPartAndWritesNoMore()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        string parts = Path.Combine(tmp["s"], "parts");
        using (var w = store.OpenWriter())
        {
            w.Add(Rec("a", 3));
            w.Flush();
            int opened = 0;
            Soco.IO.AtomicFile.WrapForTesting = (path, s) => ++opened == 1 ? new FullDiskStream(s, 16) : s;
            try
            {
                var e = Assert.ThrowsAny<IOException>(() =>
                {
                    for (int i = 0; i < 100; i++) w.Add(Rec($"b{i}", 2000)); // the full disk is met while adding
                    w.Flush();
                });
                Assert.Contains("no space left", e.Message, StringComparison.OrdinalIgnoreCase);
                Assert.Contains("/parts/part-", e.Message);
            }
            finally
            {
                Soco.IO.AtomicFile.WrapForTesting = null;
            }
            Assert.DoesNotContain(Directory.GetFiles(parts), Soco.IO.AtomicFile.IsTemp);
            Assert.Throws<ObjectDisposedException>(() => w.Add(Rec("c", 1)));
        } // Dispose after the failure: nothing more written, no error of its own
        Assert.Equal(["a"], store.ReadAll().Select(r => r.Key));
    }

    [Fact]
    public void NotAStoreGivesAClearMessage()
    {
        using var tmp = new TestPaths.TempDir();
        var e = Assert.Throws<ProposalStoreException>(() => ProposalStore.Open(tmp.Path));
        Assert.Contains("not a proposal store", e.Message);
        e = Assert.Throws<ProposalStoreException>(() => ProposalStore.Open(tmp["missing"]));
        Assert.Contains("not found", e.Message);
        File.WriteAllText(tmp["store.json"], "{ nope");
        e = Assert.Throws<ProposalStoreException>(() => ProposalStore.Open(tmp.Path));
        Assert.Contains("malformed", e.Message);
    }

    [Fact]
    public void IsCompact()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["s"], Info());
        var rng = new Random(1);
        using (var w = store.OpenWriter())
            for (int i = 0; i < 200; i++)
                w.Add(new ProposalRecord($"n01440764_{i}", $"train/n01440764/n01440764_{i}.JPEG", 500, 375,
                    Enumerable.Range(0, 300).Select(_ => new ProposalRect(rng.Next(500), rng.Next(375), rng.Next(500), rng.Next(375))).ToArray()));
        long bytes = store.PartFiles().Sum(f => new FileInfo(f).Length);
        // 60,000 rects: well under 16 bytes a rect (the raw int32 size), nothing like a label map per image.
        Assert.True(bytes < 60_000 * 8, $"store takes {bytes} bytes");
    }
}
