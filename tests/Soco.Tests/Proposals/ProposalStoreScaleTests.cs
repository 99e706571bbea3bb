using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>
/// The proposal store at scale (docs/scale.md). `soco proposals export`: the export that sorts in bounded runs spilled
/// to disk and merges them gives the same bytes as the one-run export, with the same rules — keys in ordinal order,
/// the first record read wins when a key is in several parts, a key whose first record is a failure is left out — and
/// leaves no run files. The compact index training holds gives the same records as the plain one.
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
        var failedFirst = new HashSet<string>();
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
                    if (!expected.ContainsKey(key) && !failedFirst.Contains(key))
                    {
                        if (r.IsFailure) failedFirst.Add(key);
                        else expected[key] = r.Rects;
                    }
                    w.Add(r);
                }
                w.Flush();
            }
        }
        Assert.Equal(6, store.PartFiles().Length);
        Assert.NotEmpty(failedFirst);

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
}
