using System.Text.Json;
using Soco.Interop;

namespace Soco.Tests.Interop;

/// <summary>Our renaming tables against SoCo's own converters, run on every key of an R50 SoCo_FPN checkpoint.</summary>
public class SocoConvertersTests
{
    static readonly JsonElement Official = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("interop", "official_converters.json"))).RootElement;
    static readonly string[] Keys = Official.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray();

    static void Check(string table, Func<string, string?> ours)
    {
        var expected = Official.GetProperty(table).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString()).ToArray();
        Assert.Equal(Keys.Length, expected.Length);
        int kept = 0;
        for (int i = 0; i < Keys.Length; i++)
        {
            Assert.True(expected[i] == ours(Keys[i]), $"{table}: {Keys[i]} → official {expected[i] ?? "(dropped)"}, ours {ours(Keys[i]) ?? "(dropped)"}");
            if (expected[i] is not null) kept++;
        }
        Assert.True(kept > 300, $"{table} kept only {kept} keys");
    }

    [Fact]
    public void Detectron2C4MatchesTheOfficialConverter() => Check("detectron2_c4", SocoConverters.Detectron2Backbone);

    [Fact]
    public void Detectron2HeadMatchesTheOfficialConverter() => Check("detectron2_head", k => SocoConverters.Detectron2Head(k));

    [Fact]
    public void MmdetectionMatchesTheOfficialConverter() => Check("mmdetection", SocoConverters.Mmdetection);

    /// <summary>The converted names are exactly Detectron2's (a key list written from Detectron2's code, not from ours).</summary>
    [Fact]
    public void ConvertedNamesAreDetectron2s()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("interop", "detectron2_expected_keys.json"))).RootElement;
        var c4 = Keys.Select(SocoConverters.Detectron2Backbone).OfType<string>().ToHashSet();
        var fpn = Keys.Select(k => SocoConverters.Detectron2Head(k)).OfType<string>().ToHashSet();
        Assert.Equal(expected.GetProperty("R50-C4").EnumerateObject().Select(p => p.Name).ToHashSet(), c4);
        Assert.Equal(expected.GetProperty("R50-FPN-4conv1fc").EnumerateObject().Select(p => p.Name).ToHashSet(), fpn);
    }
}
