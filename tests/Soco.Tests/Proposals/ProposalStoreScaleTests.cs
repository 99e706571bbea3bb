using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>
/// The proposal store at scale (docs/scale.md). `soco proposals export`: the export that sorts in bounded runs spilled
/// to disk and merges them gives the same bytes as the one-run export, with the same rules — keys in ordinal order,
/// a key's record is its first success in read order, a key with only failures is left out — and leaves no run files. The compact index training holds gives the same records as the plain one.
/// </summary>
public sealed class ProposalStoreScaleTests
{
    [Fact]
    public void The_compact_index_holds_the_same_records_as_the_plain_one()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["store"], new ProposalStoreInfo { Generator = "soco" });
        var rnd = new Random(7);
        using (var w = store.OpenWriter())
        {
            for (int i = 0; i < 3000; i++)
            {
                string key = $"k{rnd.Next(2500)}";
                // Sizes that fill the 65,536-rect blocks unevenly, and one record larger than a block.
                int n = i == 1500 ? 70_000 : rnd.Next(0, 60);
                w.Add(rnd.Next(20) == 0
                    ? ProposalRecord.Failure(key, "x", "broken")
                    : new ProposalRecord(key, "x", 200 + i, 100 + i, Enumerable.Range(0, n).Select(j => new ProposalRect(j, i, j % 7, i % 5)).ToArray()));
                if (i % 400 == 399) w.Flush();
            }
        }
        var plain = store.LoadIndex();
        var compact = store.LoadCompactIndex();
        Assert.Equal(plain.Count, compact.Count);
        Assert.Equal(plain.Keys.Order(StringComparer.Ordinal), compact.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(plain.Values, r => r.Rects.Length == 70_000);
        foreach (var (key, r) in plain)
        {
            Assert.True(compact.TryGetValue(key, out var c));
            Assert.Equal((r.Width, r.Height), (c.Width, c.Height));
            Assert.Equal(r.Rects, c.Rects);
        }
        Assert.False(compact.TryGetValue("absent", out _));
        Assert.Equal(plain.Values.Sum(r => (long)r.Rects.Length), compact.RectCount);
    }

    [Fact]
    public void Spilled_runs_give_the_same_file_as_one_run()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["store"], new ProposalStoreInfo { Generator = "soco" });
        var rnd = new Random(3);
        var expected = new SortedDictionary<string, ProposalRect[]>(StringComparer.Ordinal);
        var failed = new HashSet<string>();
        using (var w = store.OpenWriter())
        {
            for (int part = 0; part < 6; part++)
            {
                for (int i = 0; i < 50; i++)
                {
                    // Keys repeat across parts (about one in four), out of order within a part.
                    string key = $"img_{rnd.Next(0, 240):D4}";
                    ProposalRecord r = rnd.Next(10) == 0
                        ? ProposalRecord.Failure(key, key + ".jpg", "broken")
                        : new ProposalRecord(key, key + ".jpg", 100, 80,
                            Enumerable.Range(0, rnd.Next(0, 5)).Select(_ => new ProposalRect(rnd.Next(50), rnd.Next(40), rnd.Next(50), rnd.Next(40))).ToArray());
                    if (r.IsFailure) failed.Add(key);
                    else expected.TryAdd(key, r.Rects);
                    w.Add(r);
                }
                w.Flush();
            }
        }
        Assert.Equal(6, store.PartFiles().Length);
        Assert.NotEmpty(failed.Except(expected.Keys));     // keys with failures only
        Assert.NotEmpty(failed.Intersect(expected.Keys));  // keys with a failure and a success

        int whole = ProposalJson.Export(store, tmp["whole.json"]);
        int spilled = ProposalJson.Export(store, tmp["spilled.json"], runBytes: 600); // a run every few records
        Assert.Equal(expected.Count, whole);
        Assert.Equal(whole, spilled);
        Assert.Equal(File.ReadAllBytes(tmp["whole.json"]), File.ReadAllBytes(tmp["spilled.json"]));
        string want = "{" + string.Join(",", expected.Select(kv => $"\"{kv.Key}\":[" + string.Join(",", kv.Value.Select(b => $"[{b.X},{b.Y},{b.W},{b.H}]")) + "]")) + "}";
        Assert.Equal(want, File.ReadAllText(tmp["whole.json"]));
        // Only the two exports and the store are left: no spilled runs.
        Assert.Equal(["spilled.json", "store", "whole.json"], Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_damaged_part_stops_a_spilled_export_naming_the_part()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["store"], new ProposalStoreInfo { Generator = "soco" });
        using (var w = store.OpenWriter())
        {
            for (int part = 0; part < 3; part++)
            {
                for (int i = 0; i < 20; i++) w.Add(new ProposalRecord($"k{part}_{i}", "x", 10, 10, [new ProposalRect(1, 1, 2, 2)]));
                w.Flush();
            }
        }
        string victim = store.PartFiles()[1];
        var bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<ProposalStoreException>(() => ProposalJson.Export(store, tmp["out.json"], runBytes: 400));
        Assert.Contains(Path.GetFileName(victim), e.Message);
        Assert.Contains("damaged proposal part", e.Message);
        Assert.False(File.Exists(tmp["out.json"]));
        Assert.Equal(["store"], Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Many_runs_merge_in_passes_into_the_order_of_one_sort()
    {
        // 3,000 records in runs of ~15: more runs than one merge takes (64), so runs are merged in levels; equal keys
        // and failures inside runs and across them; one record larger than a run and than the 64 KB write buffer.
        using var tmp = new TestPaths.TempDir();
        var rnd = new Random(5);
        var added = new List<(string Key, bool Failure, long Tag, ProposalRect[] Rects)>();
        for (int i = 0; i < 3_000; i++)
            added.Add(($"k{rnd.Next(400)}", rnd.Next(4) == 0, i,
                Enumerable.Range(0, i == 1_234 ? 30_000 : rnd.Next(3)).Select(j => new ProposalRect(i, -j, j, 7)).ToArray()));
        var expected = added.OrderBy(a => a.Key, StringComparer.Ordinal).ThenBy(a => a.Failure).ThenBy(a => a.Tag).ToList();
        using var sort = new ProposalSort(tmp["runs"], runBytes: 300);
        foreach (var a in added) sort.Add(System.Text.Encoding.UTF8.GetBytes(a.Key), a.Failure, a.Tag, a.Failure ? [] : a.Rects);
        var got = new List<(string, bool, long, ProposalRect[])>();
        foreach (var r in sort.Sorted()) got.Add((System.Text.Encoding.UTF8.GetString(r.Key), r.IsFailure, r.Tag, r.Rects.ToArray()));
        Assert.True(sort.RunsWritten > 64, $"{sort.RunsWritten} runs");
        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++)
        {
            Assert.Equal((expected[i].Key, expected[i].Failure, expected[i].Tag), (got[i].Item1, got[i].Item2, got[i].Item3));
            Assert.Equal(expected[i].Failure ? [] : expected[i].Rects, got[i].Item4);
        }
        sort.Dispose();
        Assert.Empty(Directory.EnumerateFiles(tmp["runs"]));
    }

    [Fact]
    public void Utf8_keys_sort_as_ordinal_strings()
    {
        // Byte order of UTF-8 is code-point order; string.CompareOrdinal is UTF-16 order: they differ between characters
        // above U+FFFF and those in U+E000..U+FFFF, which the export's sort must order as the strings.
        var chars = new[] { "a", "z", "\u00e9", "\u00ff", "\u0800", "\ud7ff", "\ue000", "\uffee", "\uffff", char.ConvertFromUtf32(0x1F600), char.ConvertFromUtf32(0x10000), char.ConvertFromUtf32(0x10FFFF), "_", "0" };
        var rnd = new Random(9);
        var keys = Enumerable.Range(0, 400).Select(_ => string.Concat(Enumerable.Range(0, rnd.Next(0, 4)).Select(_ => chars[rnd.Next(chars.Length)]))).ToList();
        foreach (var a in keys)
            foreach (var b in keys.Take(60))
                Assert.Equal(Math.Sign(string.CompareOrdinal(a, b)),
                    Math.Sign(Soco.IO.Utf8Ordinal.Compare(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b))));
    }

    [Fact]
    public void A_damaged_part_stops_a_filter_naming_the_part_and_leaves_nothing()
    {
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["store"], new ProposalStoreInfo { Generator = "soco" });
        for (int part = 0; part < 3; part++)
            using (var w = store.OpenWriter($"p{part}"))
                for (int i = 0; i < 20; i++) w.Add(new ProposalRecord($"k{part}_{i}", "x", 100, 100, [new ProposalRect(1, 1, 50, 50)]));
        string victim = store.PartFiles()[2];
        var bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(bytes.Length - 6)]);
        int keyFolders = Directory.GetDirectories(Path.GetTempPath(), "soco-keys-*").Length;
        var e = Assert.Throws<ProposalStoreException>(() => ProposalFiltering.Run(store, tmp["filtered"], ProposalFilter.Released));
        Assert.Contains(Path.GetFileName(victim), e.Message);
        Assert.Contains("damaged proposal part", e.Message);
        Assert.Equal(["store"], Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName));
        Assert.True(Directory.GetDirectories(Path.GetTempPath(), "soco-keys-*").Length <= keyFolders);
    }

    [Fact]
    public void Filter_keeps_each_images_record_as_ReadAll_does()
    {
        // A store with repeated keys across parts, a failure redone as a success and a success followed by a failure:
        // the filtered store holds, per image, the filter of the record ReadAll keeps, and no failure.
        using var tmp = new TestPaths.TempDir();
        var store = ProposalStore.OpenOrCreate(tmp["raw"], new ProposalStoreInfo { Generator = "soco" });
        var rnd = new Random(21);
        ProposalRecord Make(string key) => new(key, key + ".jpg", 500, 375,
            Enumerable.Range(0, rnd.Next(0, 40)).Select(_ => new ProposalRect(rnd.Next(400), rnd.Next(300), rnd.Next(0, 300), rnd.Next(0, 300))).ToArray());
        for (int part = 0; part < 5; part++)
            using (var w = store.OpenWriter($"p{part}"))
                for (int i = 0; i < 200; i++)
                {
                    string key = $"img{rnd.Next(600):D4}";
                    w.Add(rnd.Next(6) == 0 ? ProposalRecord.Failure(key, key + ".jpg", "broken") : Make(key));
                }
        var kept = store.ReadAll().ToList();
        var summary = ProposalFiltering.Run(store, tmp["filtered"], ProposalFilter.Released);
        var filtered = ProposalStore.Open(tmp["filtered"]).ReadAll().ToList();
        var successes = kept.Where(r => !r.IsFailure).ToList();
        Assert.Equal(successes.Select(r => r.Key), filtered.Select(r => r.Key));
        for (int i = 0; i < successes.Count; i++)
        {
            Assert.Equal(ProposalFilter.Released.Apply(successes[i].Rects, 500, 375), filtered[i].Rects);
            Assert.Equal((successes[i].Location, 500, 375), (filtered[i].Location, filtered[i].Width, filtered[i].Height));
        }
        Assert.Equal((successes.Count, kept.Count(r => r.IsFailure)), (summary.Images, summary.Failures));
        Assert.Equal(successes.Sum(r => (long)r.Rects.Length), summary.BoxesIn);
        Assert.Equal(filtered.Sum(r => (long)r.Rects.Length), summary.BoxesOut);
    }
}
