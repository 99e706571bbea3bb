using System.Text.Json;
using Soco.Data;

namespace Soco.Tests.Data;

/// <summary>
/// The repeat-factor sampler: its factors equal Detectron2's own <c>repeat_factors_from_category_frequency</c> on a fixed
/// category histogram (tests/fixtures/lvis/repeat_factors.json, tools/repeat_factor_fixtures.py), each epoch repeats an
/// image trunc(r) or trunc(r) + 1 times with the expected count r, and an epoch depends on (seed, epoch) only.
/// </summary>
public class RepeatFactorSamplerTests
{
    static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("lvis", "repeat_factors.json"))).RootElement;

    static (List<IReadOnlyCollection<long>> Images, List<int> Group) Histogram()
    {
        var images = new List<IReadOnlyCollection<long>>();
        var group = new List<int>();
        int g = 0;
        foreach (var e in Fixture.GetProperty("groups").EnumerateArray())
        {
            var cats = e[0].EnumerateArray().Select(c => c.GetInt64()).ToArray();
            for (int k = 0; k < e[1].GetInt32(); k++) { images.Add(cats); group.Add(g); }
            g++;
        }
        return (images, group);
    }

    [Fact]
    public void FactorsEqualDetectron2OnAFixedHistogram()
    {
        var (images, group) = Histogram();
        foreach (var c in Fixture.GetProperty("cases").EnumerateArray())
        {
            double t = c.GetProperty("threshold").GetDouble();
            bool sqrt = c.GetProperty("sqrt").GetBoolean();
            var expected = c.GetProperty("group_factors").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
            var (factors, _) = RepeatFactorSampler.FromCategoryFrequency(images, t, sqrt);
            for (int i = 0; i < factors.Length; i++)
                Assert.True(expected[group[i]] == factors[i], $"t={t} sqrt={sqrt} image {i}: ours {factors[i]:R}, Detectron2 {expected[group[i]]:R}");
            Assert.Equal(c.GetProperty("expected_epoch_length").GetDouble(), factors.Sum(f => (double)f), 6);
        }
    }

    [Fact]
    public void CategoryFactorsFollowTheFormula()
    {
        // r(c) = max(1, sqrt(t / f(c))), f(c) = images containing c / images (docs/lvis.md §Repeat-factor sampling):
        // category 8 is in 2 of the 5,455 images, category 4 in 3, category 1 in 5,302.
        var (images, _) = Histogram();
        Assert.Equal(5455, images.Count);
        var (_, rc) = RepeatFactorSampler.FromCategoryFrequency(images, 0.001);
        Assert.Equal(Math.Sqrt(0.001 / (2.0 / 5455)), rc[8], 14);
        Assert.Equal(Math.Sqrt(0.001 / (3.0 / 5455)), rc[4], 14);
        Assert.Equal(1.0, rc[1]);
        Assert.False(rc.ContainsKey(42));
    }

    static RepeatFactorSampler Small(long seed = 7)
    {
        // 40 images: factors 1, 1.25, 2.5 and 3.75 (10 each).
        var f = Enumerable.Range(0, 40).Select(i => new[] { 1f, 1.25f, 2.5f, 3.75f }[i / 10]).ToArray();
        return new RepeatFactorSampler(f, seed);
    }

    [Fact]
    public void EachEpochRepeatsAnImageTruncOrTruncPlusOneTimesAndOnAverageItsFactor()
    {
        var s = Small();
        var total = new double[40];
        const int epochs = 400;
        for (int e = 0; e < epochs; e++)
        {
            var counts = new int[40];
            foreach (int i in s.EpochIndices(e)) counts[i]++;
            for (int i = 0; i < 40; i++)
            {
                float r = s.RepeatFactors[i];
                Assert.InRange(counts[i], (int)MathF.Truncate(r), (int)MathF.Truncate(r) + (r % 1 == 0 ? 0 : 1));
                total[i] += counts[i];
            }
        }
        // Expected repeats per image = trunc(r) + frac(r) = r. Per group of 10 images over 400 epochs the mean's
        // standard deviation is sqrt(frac (1 − frac) / 4000) ≤ 0.008; the fixed seed makes the check exact.
        for (int g = 0; g < 4; g++)
        {
            double mean = total.Skip(10 * g).Take(10).Average() / epochs;
            Assert.True(Math.Abs(mean - s.RepeatFactors[10 * g]) < 0.04, $"group {g}: mean repeats {mean}, factor {s.RepeatFactors[10 * g]}");
        }
    }

    [Fact]
    public void AnEpochDependsOnSeedAndEpochOnly()
    {
        var a = Small();
        var b = Small();
        // b is asked for epoch 3 first: the order of requests does not matter.
        Assert.Equal(b.EpochIndices(3), a.EpochIndices(3));
        Assert.Equal(a.EpochIndices(0), b.EpochIndices(0));
        Assert.NotEqual(a.EpochIndices(0), a.EpochIndices(1));
        Assert.NotEqual(a.EpochIndices(0), Small(seed: 8).EpochIndices(0));
        // Shuffled: not the ascending list Detectron2 builds before its randperm.
        var e0 = a.EpochIndices(0);
        Assert.NotEqual(e0.Order(), e0);
    }

    [Fact]
    public void PositionsRunThroughTheEpochsInOrderAndCanBeAskedInAnyOrder()
    {
        var s = Small();
        var stream = Enumerable.Range(0, 4).SelectMany(e => s.EpochIndices(e).Select((i, slot) => (Epoch: (long)e, Slot: slot, Index: i))).ToArray();
        // A fresh sampler asked from the end backwards (a resumed run asks for a late position first).
        var fresh = Small();
        for (int p = stream.Length - 1; p >= 0; p--) Assert.Equal(stream[p], fresh.At(p));
        for (int p = 0; p < stream.Length; p++) Assert.Equal(stream[p], s.At(p));
    }

    [Fact]
    public void BadFactorsAndThresholdsAreRefused()
    {
        Assert.Contains("at least 1", Assert.Throws<ArgumentException>(() => new RepeatFactorSampler([1f, 0.5f], 0)).Message);
        Assert.Contains("positive", Assert.Throws<ArgumentException>(() => RepeatFactorSampler.FromCategoryFrequency([new long[] { 1 }], 0)).Message);
    }
}
