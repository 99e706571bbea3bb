using System.Text.Json;
using Soco.Proposals;

namespace Soco.Tests.Proposals;

public class ProposalFilterTests
{
    /// <summary>Every strategy, on 60 seeded rect lists, against SoCo's own filters.py (tools/soco_filter_fixtures.py).</summary>
    [Fact]
    public void MatchesOfficialFiltersOnEveryCase()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("filters", "official_filters.json")));
        int checkedLists = 0, nonEmpty = 0;
        foreach (var c in doc.RootElement.EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32();
            var rects = c.GetProperty("rects").EnumerateArray().Select(ToRect).ToArray();
            foreach (var e in c.GetProperty("expected").EnumerateObject())
            {
                var expected = e.Value.EnumerateArray().Select(ToRect).ToArray();
                var ours = ProposalFilter.Parse(e.Name).Apply(rects, w, h);
                Assert.True(expected.SequenceEqual(ours), $"strategy {e.Name} on case {checkedLists}: expected {expected.Length} rects, got {ours.Length}");
                checkedLists++;
                if (expected.Length > 0) nonEmpty++;
            }
        }
        Assert.True(checkedLists >= 800);
        Assert.True(nonEmpty > checkedLists / 4, "fixture should exercise kept rects, not only empty results");
    }

    static ProposalRect ToRect(JsonElement e) => new(e[0].GetInt32(), e[1].GetInt32(), e[2].GetInt32(), e[3].GetInt32());

    [Fact]
    public void ReleasedStrategyHasTheOfficialBounds()
    {
        var f = ProposalFilter.Released;
        Assert.Equal(3.0, f.Ratio);
        Assert.Equal(0.3, f.MinSizeRatio);
        Assert.Equal(0.8, f.MaxSizeRatio);
        Assert.True(f.Post);
    }

    [Fact]
    public void PostRefillsWithRatio3ThenNone()
    {
        // 100x100 image: a 40x40 box is 0.4 of the side (kept), so use boxes that fail the size rule.
        var tooBigSquare = new ProposalRect(0, 0, 95, 95);   // size 0.95 > 0.8, ratio 1
        var tooBigThin = new ProposalRect(0, 0, 99, 32);     // ratio 3.09 > 3
        var f = ProposalFilter.Parse("ratio3size0308post");
        Assert.Equal([tooBigSquare], f.Apply([tooBigSquare, tooBigThin], 100, 100));
        Assert.Equal([tooBigThin], f.Apply([tooBigThin], 100, 100));
        Assert.Empty(f.Apply([new ProposalRect(0, 0, 31, 90)], 100, 100));
        Assert.Empty(ProposalFilter.Parse("ratio3size0308").Apply([tooBigSquare], 100, 100));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ratio")]
    [InlineData("size3")]
    [InlineData("ratio3size030")]
    [InlineData("RATIO3")]
    [InlineData("ratio3post2")]
    public void UnknownStrategiesAreRejectedWithTheAcceptedForms(string s)
    {
        var e = Assert.Throws<ArgumentException>(() => ProposalFilter.Parse(s));
        Assert.Contains("ratioRsizeAABB", e.Message);
    }

    [Fact]
    public void SizeRulesNeedTheImageSize()
    {
        var e = Assert.Throws<ArgumentException>(() => ProposalFilter.Released.Apply([new ProposalRect(0, 0, 40, 40)], 0, 0));
        Assert.Contains("image size", e.Message);
        Assert.Single(ProposalFilter.Parse("ratio3").Apply([new ProposalRect(0, 0, 40, 40)], 0, 0));
    }
}
