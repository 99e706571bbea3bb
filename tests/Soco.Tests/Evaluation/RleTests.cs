using System.Text.Json;
using Soco.Structures;

namespace Soco.Tests.Evaluation;

/// <summary>
/// <see cref="Rle"/> against pycocotools' mask module (tools/pycocotools_rle_fixtures.py: built from cocoapi's source,
/// run on the masks, polygons, boxes and RLEs committed with its answers in tests/fixtures/coco/rle_golden.json):
/// counts strings, areas, boxes, merges and IoU matrices (crowd and size mismatch included), and round trips.
/// </summary>
public class RleTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("coco", "rle_golden.json"))).RootElement;

    static IEnumerable<JsonElement> Cases(string name) => Golden.GetProperty(name).EnumerateArray();

    static byte[] Bits(string bits) => bits.Select(c => (byte)(c - '0')).ToArray();

    static void AssertBox(JsonElement expected, Rle r, string what)
    {
        var b = expected.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        Assert.True(b.SequenceEqual([r.Box.X, r.Box.Y, r.Box.Width, r.Box.Height]),
            $"{what}: box ours [{r.Box.X}, {r.Box.Y}, {r.Box.Width}, {r.Box.Height}], pycocotools [{string.Join(", ", b)}]");
    }

    static Rle Str(JsonElement e, int h, int w) => Rle.FromCountsString(e.GetString()!, h, w);

    [Fact]
    public void EncodeGivesPycocotoolsCountsAreaAndBox()
    {
        int n = 0;
        foreach (var c in Cases("masks"))
        {
            int h = c.GetProperty("h").GetInt32(), w = c.GetProperty("w").GetInt32();
            string what = $"mask {c.GetProperty("note").GetString()} ({h}x{w})";
            var bits = Bits(c.GetProperty("bits").GetString()!);
            var r = Rle.Encode(bits, h, w);
            Assert.True(c.GetProperty("counts").GetString() == r.ToCountsString(), $"{what}: counts string");
            Assert.Equal(c.GetProperty("area").GetInt64(), r.Area);
            AssertBox(c.GetProperty("bbox"), r, what);
            // Decode gives the mask back, and reading the string gives the same runs.
            Assert.Equal(bits, r.Decode());
            Assert.Equal(r, Rle.FromCountsString(r.ToCountsString(), h, w));
            // The column-major entry point reads the same mask transposed in memory.
            var colMajor = new byte[h * w];
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) colMajor[x * h + y] = bits[y * w + x];
            Assert.Equal(r, Rle.EncodeColumnMajor(colMajor, h, w));
            n++;
        }
        Assert.True(n >= 40);
    }

    [Fact]
    public void NonBinaryMaskValuesCountAsForeground()
    {
        var r = Rle.Encode([0, 255, 7, 1, 0, 0], 2, 3);
        Assert.Equal(Rle.Encode([0, 1, 1, 1, 0, 0], 2, 3), r);
        Assert.Equal(3, r.Area);
    }

    [Fact]
    public void PolygonsGivePycocotoolsMasks()
    {
        foreach (var c in Cases("polygons"))
        {
            int h = c.GetProperty("h").GetInt32(), w = c.GetProperty("w").GetInt32();
            string what = $"polygon {c.GetProperty("note").GetString()} ({h}x{w})";
            var polys = c.GetProperty("polys").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            var each = c.GetProperty("each").EnumerateArray().Select(e => e.GetString()).ToArray();
            for (int i = 0; i < polys.Length; i++)
                Assert.True(each[i] == Rle.FromPolygon(polys[i], h, w).ToCountsString(), $"{what}: polygon #{i}");
            var r = Rle.FromPolygons(polys, h, w);
            Assert.True(c.GetProperty("counts").GetString() == r.ToCountsString(), $"{what}: union");
            Assert.Equal(c.GetProperty("area").GetInt64(), r.Area);
            AssertBox(c.GetProperty("bbox"), r, what);
            Assert.Equal(r, Rle.Encode(r.Decode(), h, w));
        }
    }

    [Fact]
    public void BoxesGivePycocotoolsMasks()
    {
        foreach (var c in Cases("boxes"))
        {
            int h = c.GetProperty("h").GetInt32(), w = c.GetProperty("w").GetInt32();
            var b = c.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var r = Rle.FromBox(b[0], b[1], b[2], b[3], h, w);
            string what = $"box [{string.Join(", ", b)}] on {h}x{w}";
            Assert.True(c.GetProperty("counts").GetString() == r.ToCountsString(), what);
            Assert.Equal(c.GetProperty("area").GetInt64(), r.Area);
            AssertBox(c.GetProperty("bbox"), r, what);
        }
    }

    [Fact]
    public void UncompressedCountsGivePycocotoolsStrings()
    {
        foreach (var c in Cases("uncompressed"))
        {
            int h = c.GetProperty("h").GetInt32(), w = c.GetProperty("w").GetInt32();
            var counts = c.GetProperty("counts_list").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var r = Rle.FromCounts(counts, h, w);
            Assert.Equal(c.GetProperty("counts").GetString(), r.ToCountsString());
            Assert.Equal(counts.Select(x => (uint)x), r.Counts.ToArray());
            Assert.Equal(c.GetProperty("area").GetInt64(), r.Area);
            AssertBox(c.GetProperty("bbox"), r, $"counts [{string.Join(", ", counts)}]");
            // Zero-length runs survive the string both ways, as in the C code.
            Assert.Equal(r, Rle.FromCountsString(r.ToCountsString(), h, w));
        }
    }

    [Fact]
    public void MergeGivesPycocotoolsUnionAndIntersection()
    {
        foreach (var c in Cases("merges"))
        {
            int h = c.GetProperty("h").GetInt32(), w = c.GetProperty("w").GetInt32();
            var rles = c.GetProperty("rles").EnumerateArray().Select(e => Str(e, h, w)).ToArray();
            var union = Rle.Merge(rles);
            var inter = Rle.Merge(rles, intersect: true);
            Assert.Equal(c.GetProperty("union").GetString(), union.ToCountsString());
            Assert.Equal(c.GetProperty("intersection").GetString(), inter.ToCountsString());
            // And pixel for pixel what a union / intersection is.
            var masks = rles.Select(r => r.Decode()).ToArray();
            var u = new byte[h * w];
            var i = new byte[h * w];
            for (int p = 0; p < h * w; p++)
            {
                u[p] = (byte)(masks.Any(m => m[p] != 0) ? 1 : 0);
                i[p] = (byte)(masks.All(m => m[p] != 0) ? 1 : 0);
            }
            Assert.Equal(u, union.Decode());
            Assert.Equal(i, inter.Decode());
        }
    }

    [Fact]
    public void IouMatrixEqualsPycocotoolsWithCrowdAndSizeMismatch()
    {
        int crowdSeen = 0, minusOne = 0;
        foreach (var c in Cases("ious"))
        {
            Rle R(JsonElement e) => Rle.FromCountsString(e.GetProperty("counts").GetString()!, e.GetProperty("h").GetInt32(), e.GetProperty("w").GetInt32());
            var dt = c.GetProperty("dt").EnumerateArray().Select(R).ToArray();
            var gt = c.GetProperty("gt").EnumerateArray().Select(R).ToArray();
            var crowd = c.GetProperty("iscrowd").EnumerateArray().Select(v => v.GetInt32() == 1).ToArray();
            var expected = c.GetProperty("iou").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            var ours = Rle.Iou(dt, gt, crowd);
            for (int d = 0; d < dt.Length; d++)
                for (int g = 0; g < gt.Length; g++)
                {
                    // Bit-identical: same integer counts, one division.
                    Assert.True(expected[d][g] == ours[d, g], $"iou[{d},{g}] ours {ours[d, g]:R}, pycocotools {expected[d][g]:R}");
                    if (crowd[g] && ours[d, g] > 0) crowdSeen++;
                    if (ours[d, g] == -1) minusOne++;
                }
        }
        Assert.True(crowdSeen > 0 && minusOne > 0);
    }

    [Fact]
    public void CrowdIouIsIntersectionOverDetectionArea()
    {
        // A 4x4 detection inside a 10x10 crowd region: 16 / 16 = 1 against the crowd, 16 / 100 as an ordinary object.
        var crowd = Rle.FromBox(0, 0, 10, 10, 12, 12);
        var det = Rle.FromBox(2, 2, 4, 4, 12, 12);
        Assert.Equal(1.0, Rle.Iou(det, crowd, true));
        Assert.Equal(0.16, Rle.Iou(det, crowd, false), 12);
        // Half outside the crowd region: 8 of its 16 pixels are inside.
        Assert.Equal(0.5, Rle.Iou(Rle.FromBox(8, 2, 4, 4, 12, 12), crowd, true));
        // No overlap and an empty detection give 0.
        Assert.Equal(0.0, Rle.Iou(Rle.FromBox(10, 10, 2, 2, 12, 12), Rle.FromBox(0, 0, 4, 4, 12, 12), false));
        Assert.Equal(0.0, Rle.Iou(Rle.Empty(12, 12), crowd, true));
    }

    [Fact]
    public void BadCountsStringsAndCountsAreRefusedWithTheReason()
    {
        Assert.Contains("'!'", Assert.Throws<ArgumentException>(() => Rle.FromCountsString("0!1", 2, 2)).Message);
        // 'P' = 32 + 0 + 48: a continuation bit with nothing after it.
        Assert.Contains("ends inside a count", Assert.Throws<ArgumentException>(() => Rle.FromCountsString("P", 2, 2)).Message);
        Assert.Contains("add up to 3", Assert.Throws<ArgumentException>(() => Rle.FromCountsString("012", 2, 2)).Message);
        Assert.Contains("add up to 5", Assert.Throws<ArgumentException>(() => Rle.FromCounts([1, 4], 2, 2)).Message);
        Assert.Contains("count #1", Assert.Throws<ArgumentException>(() => Rle.FromCounts([4, -1], 2, 2)).Message);
        Assert.False(Rle.TryFromCountsString("o", 2, 2, out _, out string? err));
        Assert.NotNull(err);
        Assert.Throws<ArgumentException>(() => Rle.Merge([Rle.Empty(2, 2), Rle.Empty(2, 3)]));
        Assert.Throws<ArgumentException>(() => Rle.FromPolygon([0, 0, double.NaN, 1, 2, 2], 4, 4));
    }

    [Fact]
    public void RandomMasksRoundTrip()
    {
        var rng = new Random(1234);
        for (int n = 0; n < 200; n++)
        {
            int h = rng.Next(0, 40), w = rng.Next(0, 40);
            var m = new byte[h * w];
            double p = rng.NextDouble();
            for (int i = 0; i < m.Length; i++) m[i] = (byte)(rng.NextDouble() < p ? 1 : 0);
            var r = Rle.Encode(m, h, w);
            Assert.Equal(m, r.Decode());
            Assert.Equal(m.Count(v => v != 0), r.Area);
            var back = Rle.FromCountsString(r.ToCountsString(), h, w);
            Assert.Equal(r, back);
            Assert.Equal(r.Box, back.Box);
            Assert.Equal(1.0 * (r.Area > 0 ? 1 : 0), Rle.Iou(r, back, false));
        }
    }
}
