using Soco.Proposals.OpenCv;

namespace Soco.Tests.Proposals;

/// <summary>
/// The speed-ups of the OpenCV port against its step-for-step reference paths: the lazily evaluated std::sort replica
/// against the full one, and the radix-sorted undirected-edge segmentation against OpenCV's directed edges in
/// std::sort order (including images built to have many ties).
/// </summary>
public class OpenCvFastPathTests
{
    [Fact]
    public void LazySortGivesTheFullSortsOrderForEveryKey()
    {
        var rng = new Random(11);
        foreach (int n in new[] { 1, 5, 16, 17, 40, 1000, 20000 })
            foreach (int distinct in new[] { 2, 7, 100, 5000 })
            {
                var a = new ulong[n];
                for (int i = 0; i < n; i++) a[i] = ((ulong)(uint)rng.Next(distinct) << 32) | (uint)i;
                AssertLazyMatches(a, rng);
            }
        // Inputs that exhaust the depth limit (heap sort): median-of-3 killers are hard to build for this variant, but
        // sorted, reversed and organ-pipe inputs with few keys exercise long partitions.
        foreach (int n in new[] { 3000, 4097 })
        {
            var sorted = Enumerable.Range(0, n).Select(i => ((ulong)(uint)(i / 3) << 32) | (uint)i).ToArray();
            AssertLazyMatches(sorted, rng);
            AssertLazyMatches(sorted.Reverse().ToArray(), rng);
            AssertLazyMatches(Enumerable.Range(0, n).Select(i => ((ulong)(uint)Math.Min(i, n - i) << 32) | (uint)i).ToArray(), rng);
        }
    }

    private static void AssertLazyMatches(ulong[] input, Random rng)
    {
        var full = (ulong[])input.Clone();
        LibStdSort.SortByHigh32(full);
        var keys = full.Select(v => (uint)(v >> 32)).Distinct().OrderBy(_ => rng.Next()).ToArray();
        var lazy = new LibStdSort.LazyByHigh32((ulong[])input.Clone());
        foreach (uint key in keys)
        {
            var expected = full.Where(v => (uint)(v >> 32) == key).ToArray();
            Assert.Equal(expected, lazy.Get(key));
        }
        Assert.Empty(lazy.Get(uint.MaxValue - 1));
    }

    public static IEnumerable<object[]> Images() =>
        OpenCvTestData.BoxFixtures.Keys.OrderBy(n => n, StringComparer.Ordinal).Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Images))]
    public void UndirectedSegmentationEqualsTheReferenceOnPhotos(string name)
    {
        var bgr = OpenCvColor.FromRgb(OpenCvTestData.Decode(OpenCvTestData.BoxFixtures[name].Path));
        var gray = OpenCvColor.BgrToGray(bgr);
        foreach (var img in new[] { OpenCvColor.BgrToHsv(bgr), OpenCvColor.BgrToLab(bgr), gray, bgr.Channel(0) })
        {
            var g = GraphSegmentation.SortedGraph.Build(img, 0.8);
            foreach (int k in new[] { 150, 450, 750 })
                foreach (int minSize in new[] { 100, 400 })
                    Assert.Equal(g.Segment(k, minSize, out _, forceExact: true), g.Segment(k, minSize, out _));
            var ks = new float[] { 150, 300, 450, 600, 750 };
            var many = g.SegmentMany(ks, 100, out var counts);
            for (int i = 0; i < ks.Length; i++)
            {
                Assert.Equal(g.Segment(ks[i], 100, out int c, forceExact: true), many[i]);
                Assert.Equal(c, counts[i]);
            }
        }
    }

    [Fact]
    public void UndirectedSegmentationEqualsTheReferenceOnImagesFullOfTies()
    {
        var rng = new Random(5);
        int conflicts = 0;
        for (int t = 0; t < 24; t++)
        {
            int w = 40 + rng.Next(60), h = 30 + rng.Next(60), cn = t % 3 == 0 ? 1 : 3, cell = 1 + rng.Next(6), levels = 2 + rng.Next(4);
            var d = new byte[w * h * cn];
            var palette = Enumerable.Range(0, levels * cn).Select(_ => (byte)(rng.Next(4) * 60)).ToArray();
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int c = ((x / cell) * 7 + (y / cell) * 3 + rng.Next(t % 2 == 0 ? 1 : 2)) % levels;
                    for (int ch = 0; ch < cn; ch++) d[(y * w + x) * cn + ch] = palette[c * cn + ch];
                }
            var img = new OcvImage(w, h, cn, d);
            foreach (double sigma in new[] { 0.8, 0.3 })
            {
                var g = GraphSegmentation.SortedGraph.Build(img, sigma);
                foreach (float k in new[] { 0f, 20f, 150f, 600f })
                    foreach (int minSize in new[] { 0, 5, 30, 100, 100000 })
                        Assert.Equal(g.Segment(k, minSize, out _, forceExact: true), g.Segment(k, minSize, out _));
                var ks = new float[] { 0f, 20f, 150f, -1f };
                var many = g.SegmentMany(ks, 30, out _);
                for (int i = 0; i < ks.Length; i++) Assert.Equal(g.Segment(ks[i], 30, out _, forceExact: true), many[i]);
                conflicts += g.ConflictBlocks;
            }
        }
        Assert.True(conflicts > 0, "the synthetic images should exercise the std::sort-order path");
    }
}
