using SkiaSharp;
using Soco.Cli;
using Soco.Proposals;

namespace Soco.Tests.Cli;

/// <summary>The `soco proposals` commands as a user runs them: exit codes, files written, clear errors.</summary>
[Collection("cli")]
public class ProposalsCliTests
{
    [Fact]
    public void GenerateFilterExportImportShowInfoOnRealPhotos()
    {
        using var tmp = new TestPaths.TempDir();
        Directory.CreateDirectory(tmp["img"]);
        foreach (var n in new[] { "dog.jpg", "chelsea.png", "plant.jpg" }) File.Copy(TestPaths.Photo(n), Path.Combine(tmp["img"], n));
        Assert.Equal(0, SocoCli.Run(["proposals", "generate", "--images", tmp["img"], "--out", tmp["raw"], "--workers", "2"]));
        Assert.Equal(0, SocoCli.Run(["proposals", "filter", "--store", tmp["raw"], "--out", tmp["f"]]));
        Assert.Equal(0, SocoCli.Run(["proposals", "export", "--store", tmp["f"], "--out", tmp["p.json"]]));
        Assert.Equal(0, SocoCli.Run(["proposals", "import", "--from", tmp["p.json"], "--out", tmp["imported"]]));
        Assert.Equal(0, SocoCli.Run(["proposals", "info", "--store", tmp["raw"]]));
        var filtered = ProposalStore.Open(tmp["f"]).LoadIndex();
        var imported = ProposalStore.Open(tmp["imported"]).LoadIndex();
        Assert.Equal(filtered.Keys.Order(), imported.Keys.Order());
        foreach (var k in filtered.Keys) Assert.Equal(filtered[k].Rects, imported[k].Rects);
        Assert.All(filtered.Values, r => Assert.NotEmpty(r.Rects));
        Assert.Equal("ratio3size0308post", ProposalStore.Open(tmp["f"]).Info.Parameters["filter"]);

        Assert.Equal(0, SocoCli.Run(["proposals", "show", "--image", Path.Combine(tmp["img"], "dog.jpg"), "--store", tmp["raw"], "--out", tmp["dog.png"]]));
        using var png = SKBitmap.Decode(tmp["dog.png"]);
        Assert.Equal(768, png.Width);
        Assert.True(png.Height > 576);
        // Green (kept) pixels were drawn.
        int green = 0;
        for (int y = 0; y < png.Height; y += 2)
            for (int x = 0; x < png.Width; x += 2)
            {
                var c = png.GetPixel(x, y);
                if (c.Green > 200 && c.Red < 80 && c.Blue < 80) green++;
            }
        Assert.True(green > 50, $"only {green} green pixels");
    }

    /// <summary>Each user error names the file or value and the problem (exit 2 alone would also pass an internal
    /// InvalidOperationException or IOException, which SocoCli maps to 2 as well).</summary>
    [Fact]
    public void UserErrorsNameTheFileAndTheProblem()
    {
        using var tmp = new TestPaths.TempDir();
        string store = tmp["store"];
        File.WriteAllText(tmp["p.json"], """{"dog": [[1, 2, 30, 40]]}""");
        Assert.Equal(0, CliRunner.Run("proposals", "import", "--from", tmp["p.json"], "--out", store).Code);

        CliRunner.UserError(["proposals", "export", "--store", tmp["no-store"], "--out", tmp["x.json"]], tmp["no-store"], "proposal store not found");
        CliRunner.UserError(["proposals", "filter", "--store", store, "--out", tmp["f"], "--strategy", "ratio9size"], "ratio9size", "unknown filter strategy");
        CliRunner.UserError(["proposals", "generate", "--images", tmp["no-images"], "--out", tmp["g"]], tmp["no-images"], "images folder not found");
        CliRunner.UserError(["proposals", "generate", "--images", TestPaths.Photos, "--out", tmp["g"], "--shard", "3/2"], "3/2", "--shard must be i/n");
        CliRunner.UserError(["proposals", "import", "--from", tmp["missing.json"], "--out", tmp["i"]], tmp["missing.json"], "proposal file not found");
        File.WriteAllText(tmp["bad.json"], """{"dog": [[1, 2""");
        CliRunner.UserError(["proposals", "import", "--from", tmp["bad.json"], "--out", tmp["j"]], tmp["bad.json"], "truncated");
        Assert.False(Directory.Exists(tmp["g"]), "a generate run that could not start left a store behind");
    }

    [Fact]
    public void ShowGeneratesWhenNoStoreIsGiven()
    {
        using var tmp = new TestPaths.TempDir();
        Assert.Equal(0, SocoCli.Run(["proposals", "show", "--image", TestPaths.Photo("chelsea.png"), "--mode", "fast", "--out", tmp["c.png"]]));
        Assert.True(new FileInfo(tmp["c.png"]).Length > 1000);
    }
}
