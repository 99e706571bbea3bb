using System.Text.Json;
using Soco.Data.Scenes;

namespace Soco.Tests.Cli;

/// <summary>
/// `soco bench transfer --quick` (bench/transfer/run) end to end on a tiny plan: scenes, proposals, the four arms'
/// pretraining, fine-tuning and evaluation, then the JSON, the table and the chart. Checks the pipeline, not the ranking.
/// Needs Fashion-MNIST (apt-get install dataset-fashion-mnist).
/// </summary>
public sealed class TransferBenchTests
{
    [Fact]
    public void QuickRunGivesEveryArmATableRowJsonAndChart()
    {
        Assert.True(Directory.Exists(FashionMnist.DefaultFolder), $"{FashionMnist.DefaultFolder} is missing: {FashionMnist.InstallHint}");
        using var dir = new TestPaths.TempDir();
        string[] args = ["bench", "transfer", "--quick", "--seeds", "1", "--scale", "0.5", "--out", dir.Path];
        var (code, output) = CliRunner.Run(args);
        Assert.True(code == 0, output);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "results.json")));
        var root = doc.RootElement;
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["byol", "none", "soco", "supervised"], runs.Select(r => r.GetProperty("arm").GetString()!).Order(StringComparer.Ordinal));
        foreach (var r in runs)
        {
            foreach (var m in new[] { "AP", "AP50", "AP75", "APs" })
                Assert.InRange(r.GetProperty(m).GetDouble(), -1, 1);   // a fraction, or −1 when nothing counts (COCOeval)
            Assert.True(r.GetProperty("finetune_s").GetDouble() > 0);
            // The exact commands of each stage are recorded with the numbers.
            var cmds = r.GetProperty("commands").EnumerateArray().Select(c => c.GetString()!).ToList();
            Assert.Contains(cmds, c => c.StartsWith("soco finetune", StringComparison.Ordinal));
            Assert.Contains(cmds, c => c.StartsWith("soco evaluate", StringComparison.Ordinal));
        }
        Assert.Contains(runs.Single(r => r.GetProperty("arm").GetString() == "soco").GetProperty("commands").EnumerateArray(),
            c => c.GetString()!.Contains("--proposals", StringComparison.Ordinal));
        Assert.Contains(runs.Single(r => r.GetProperty("arm").GetString() == "byol").GetProperty("commands").EnumerateArray(),
            c => c.GetString()!.Contains("model=byol", StringComparison.Ordinal));
        // The default task is class-agnostic: every run fine-tunes and is scored on the scenes' items in one category.
        Assert.All(runs, r => Assert.Contains(r.GetProperty("commands").EnumerateArray(),
            c => c.GetString()!.StartsWith("soco finetune", StringComparison.Ordinal) && c.GetString()!.Contains("instances_items.json", StringComparison.Ordinal)));
        foreach (var split in new[] { "finetune", "eval" })
        {
            using var items = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "scenes", split, "instances_items.json")));
            using var ten = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "scenes", split, "instances.json")));
            Assert.Equal(1, items.RootElement.GetProperty("categories").GetArrayLength());
            var anns = items.RootElement.GetProperty("annotations").EnumerateArray().ToList();
            Assert.All(anns, a => Assert.Equal(1, a.GetProperty("category_id").GetInt32()));
            Assert.Equal(ten.RootElement.GetProperty("annotations").EnumerateArray().Select(a => a.GetProperty("bbox").ToString()),
                anns.Select(a => a.GetProperty("bbox").ToString()));
        }
        var summary = root.GetProperty("summary");
        Assert.Equal(1, summary.GetProperty("soco").GetProperty("seeds").GetInt32());
        Assert.Equal(runs.Single(r => r.GetProperty("arm").GetString() == "none").GetProperty("AP").GetDouble() * 100,
            summary.GetProperty("none").GetProperty("AP").GetProperty("mean").GetDouble(), 9);

        var table = File.ReadAllLines(Path.Combine(dir.Path, "results.md"));
        Assert.StartsWith("| arm | seeds | AP | AP50 | AP75 | APs |", table[0]);
        Assert.Equal(4, table.Count(l => l.StartsWith("| none ", StringComparison.Ordinal) || l.StartsWith("| supervised ", StringComparison.Ordinal)
            || l.StartsWith("| byol ", StringComparison.Ordinal) || l.StartsWith("| soco ", StringComparison.Ordinal)));
        var png = File.ReadAllBytes(Path.Combine(dir.Path, "results.png"));
        Assert.True(png.Length > 1000 && png[0] == 0x89 && png[1] == (byte)'P', "results.png is not a PNG");

        // A rerun reuses every finished pipeline (nothing is trained again).
        var (code2, output2) = CliRunner.Run(args);
        Assert.True(code2 == 0, output2);
        Assert.DoesNotContain("$ soco finetune", output2);
        Assert.DoesNotContain("$ soco pretrain", output2);
    }
}
