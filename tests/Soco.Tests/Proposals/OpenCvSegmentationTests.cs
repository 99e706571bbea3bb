using Soco.Proposals.OpenCv;

namespace Soco.Tests.Proposals;

public class OpenCvSegmentationTests
{
    public static IEnumerable<object[]> Images() =>
        OpenCvTestData.BoxFixtures.Keys.OrderBy(n => n, StringComparer.Ordinal).Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Images))]
    public void LabelsEqualOpenCvForHsvAndLabAtEveryFastK(string name)
    {
        var fx = OpenCvTestData.BoxFixtures[name];
        var bgr = OpenCvColor.FromRgb(OpenCvTestData.Decode(fx.Path));
        foreach (var (space, img) in new[] { ("hsv", OpenCvColor.BgrToHsv(bgr)), ("lab", OpenCvColor.BgrToLab(bgr)) })
        {
            var graph = GraphSegmentation.SortedGraph.Build(img, 0.8);
            foreach (int k in new[] { 150, 300, 450 })
            {
                var expected = OpenCvTestData.ReadLabels(Path.Combine(OpenCvTestData.FixtureDir, $"seg_{name}_{space}_k{k}.u16.gz"), out int w, out int h);
                Assert.Equal((img.Width, img.Height), (w, h));
                var ours = graph.Segment(k, 100, out int count);
                int mismatches = 0;
                for (int i = 0; i < expected.Length; i++) if (expected[i] != ours[i]) mismatches++;
                Assert.True(mismatches == 0, $"{name} {space} k={k}: {mismatches} of {expected.Length} labels differ");
                Assert.Equal(expected.Max() + 1, count);
            }
        }
    }

    [Fact]
    public void OneShotSegmentMatchesTheCachedGraph()
    {
        var fx = OpenCvTestData.BoxFixtures["chelsea"];
        var hsv = OpenCvColor.BgrToHsv(OpenCvColor.FromRgb(OpenCvTestData.Decode(fx.Path)));
        var expected = OpenCvTestData.ReadLabels(Path.Combine(OpenCvTestData.FixtureDir, "seg_chelsea_hsv_k300.u16.gz"), out _, out _);
        Assert.Equal(expected, GraphSegmentation.Segment(hsv, 0.8, 300, 100, out _));
    }

    [Fact]
    public void GaussianKernelMatchesOpenCv()
    {
        // cv2.getGaussianKernel(7, 0.8, ktype=cv2.CV_32F) on OpenCV 4.6
        float[] expected = { 0.0004407433734741062f, 0.02191031351685524f, 0.2283107191324234f, 0.49867644906044006f, 0.2283107191324234f, 0.02191031351685524f, 0.0004407433734741062f };
        Assert.Equal(expected, GraphSegmentation.GaussianKernel(7, 0.8));
    }

    private struct IntLess : ILess<int>
    {
        public bool Less(in int a, in int b) => a < b;
    }

    private struct ByKey : ILess<(int Key, int Tag)>
    {
        public bool Less(in (int Key, int Tag) a, in (int Key, int Tag) b) => a.Key < b.Key;
    }

    [Fact]
    public void LibStdSortSortsAndKeepsEveryElement()
    {
        var rng = new Random(7);
        foreach (int n in new[] { 0, 1, 2, 15, 16, 17, 100, 5000 })
        {
            var a = Enumerable.Range(0, n).Select(_ => rng.Next(50)).ToArray();
            var b = (int[])a.Clone();
            LibStdSort.Sort(a.AsSpan(), new IntLess());
            Array.Sort(b);
            Assert.Equal(b, a);
        }
        // Many ties: order by key, and the multiset of (key, tag) is preserved.
        var t = Enumerable.Range(0, 3000).Select(i => (rng.Next(3), i)).ToArray();
        var copy = t.ToHashSet();
        LibStdSort.Sort(t.AsSpan(), new ByKey());
        for (int i = 1; i < t.Length; i++) Assert.True(t[i - 1].Item1 <= t[i].Item1);
        Assert.True(copy.SetEquals(t));
    }
}
