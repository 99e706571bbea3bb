using Soco.Proposals;

namespace Soco.Tests.Proposals;

public class ProposalJsonTests
{
    [Fact]
    public void ImportThenExportGivesTheSameDocument()
    {
        using var tmp = new TestPaths.TempDir();
        const string json = "{\"n01_1\":[[1,2,33,44],[0,0,5,6]],\"n01_2\":[],\"a\":[[10,20,30,40]]}";
        File.WriteAllText(tmp["in.json"], json);
        var result = ProposalJson.Import(tmp["in.json"], tmp["store"]);
        Assert.Equal(3, result.Images);
        Assert.Equal(3, result.Boxes);
        Assert.Equal(0, result.DroppedBoxes);
        var store = ProposalStore.Open(tmp["store"]);
        Assert.Equal(new ProposalRect(1, 2, 33, 44), store.LoadIndex()["n01_1"].Rects[0]);
        ProposalJson.Export(store, tmp["out.json"]);
        // keys come out in ordinal order
        Assert.Equal("{\"a\":[[10,20,30,40]],\"n01_1\":[[1,2,33,44],[0,0,5,6]],\"n01_2\":[]}", File.ReadAllText(tmp["out.json"]));
    }

    [Fact]
    public void LargeFilesStreamAcrossBufferBoundaries()
    {
        using var tmp = new TestPaths.TempDir();
        using (var w = new StreamWriter(tmp["big.json"]))
        {
            w.Write('{');
            for (int i = 0; i < 30000; i++)
            {
                if (i > 0) w.Write(", ");
                w.Write($"\"img_{i}\": [[{i}, 1, 40, 50], [2, {i % 7}, 64, 64]]");
            }
            w.Write('}');
        }
        Assert.True(new FileInfo(tmp["big.json"]).Length > 1 << 20);
        var r = ProposalJson.Import(tmp["big.json"], tmp["store"], flushEvery: 5000);
        Assert.Equal(30000, r.Images);
        var index = ProposalStore.Open(tmp["store"]).LoadIndex();
        Assert.Equal(new ProposalRect(29999, 1, 40, 50), index["img_29999"].Rects[0]);
    }

    [Theory]
    [InlineData("[1, 2]", "not a SoCo proposal file")]
    [InlineData("{\"a\": [[1,2,3,4]]", "truncated")]
    [InlineData("{\"a\": [[1,2,3,4]", "truncated")]
    [InlineData("{\"a\": 5}", "list of boxes")]
    [InlineData("{\"a\": [[1,\"x\",3,4]]}", "number inside a box")]
    [InlineData("{\"a\": [[1,2,3,4]]} {}", "after the top-level object")]
    [InlineData("{\"a\": [[1,2,3,4]],,}", "not valid JSON")]
    [InlineData("", "truncated")]
    public void MalformedFilesNameTheFileAndTheProblem(string content, string expected)
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["bad.json"], content);
        var e = Assert.Throws<FormatException>(() => ProposalJson.Import(tmp["bad.json"], tmp["store"]));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void BadBoxesAreDroppedWithAWarningAndTheImageStays()
    {
        using var tmp = new TestPaths.TempDir();
        File.WriteAllText(tmp["in.json"], "{\"a\": [[1,2,3,4],[1,2,-3,4],[1,2,3],[1.5,2,3,4]], \"b\": [[0,0,40,40]]}");
        var r = ProposalJson.Import(tmp["in.json"], tmp["store"]);
        Assert.Equal(2, r.Images);
        Assert.Equal(3, r.DroppedBoxes);
        Assert.Equal(3, r.Warnings.Count);
        Assert.Contains(r.Warnings, w => w.Contains("'a'") && w.Contains("negative"));
        Assert.Single(ProposalStore.Open(tmp["store"]).LoadIndex()["a"].Rects);
    }
}
