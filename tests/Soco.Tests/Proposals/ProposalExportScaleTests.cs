using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>
/// `soco proposals export` at scale (docs/scale.md): the export that sorts in bounded runs spilled to disk and merges
/// them gives the same bytes as the one-run export, with the same rules — keys in ordinal order, the first record read
/// wins when a key is in several parts, a key whose first record is a failure is left out — and leaves no run files.
/// </summary>
public sealed class ProposalExportScaleTests
{
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
        int spilled = ProposalJson.Export(store, tmp["spilled.json"], runRects: 7); // a run every few records
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
        var e = Assert.Throws<ProposalStoreException>(() => ProposalJson.Export(store, tmp["out.json"], runRects: 5));
        Assert.Contains(Path.GetFileName(victim), e.Message);
        Assert.Contains("damaged proposal part", e.Message);
        Assert.False(File.Exists(tmp["out.json"]));
        Assert.Equal(["store"], Directory.EnumerateFileSystemEntries(tmp.Path).Select(Path.GetFileName));
    }
}
