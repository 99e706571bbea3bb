using System.IO.Compression;
using System.Text.Json;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>Fixture access for the OpenCV selective-search parity tests (tests/fixtures/opencv, tools/opencv_fixtures.py).</summary>
internal static class OpenCvTestData
{
    public static string RepoRoot => TestPaths.RepoRoot;

    public static string FixtureDir => TestPaths.Fixture("opencv");

    /// <summary>The project's decoder (PIL convert('RGB')-exact; for these photos the same pixels as cv2.imread, in RGB order).</summary>
    public static RgbImage Decode(string path) => ImageDecoder.Decode(path);

    public static int[] ReadLabels(string path, out int width, out int height)
    {
        using var fs = File.OpenRead(path);
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        var b = ms.ToArray();
        width = BitConverter.ToInt32(b, 0);
        height = BitConverter.ToInt32(b, 4);
        var labels = new int[width * height];
        for (int i = 0; i < labels.Length; i++) labels[i] = BitConverter.ToUInt16(b, 8 + 2 * i);
        return labels;
    }

    public sealed record BoxFixture(string Name, string Path, HashSet<ProposalRect>? Fast, HashSet<ProposalRect>? Quality);

    private static readonly Lazy<Dictionary<string, BoxFixture>> Boxes = new(LoadBoxes);

    public static IReadOnlyDictionary<string, BoxFixture> BoxFixtures => Boxes.Value;

    private static Dictionary<string, BoxFixture> LoadBoxes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(FixtureDir, "boxes.json")));
        var result = new Dictionary<string, BoxFixture>();
        foreach (var img in doc.RootElement.GetProperty("images").EnumerateObject())
        {
            HashSet<ProposalRect>? Read(string key) =>
                img.Value.TryGetProperty(key, out var arr)
                    ? arr.EnumerateArray().Select(b => new ProposalRect(b[0].GetInt32(), b[1].GetInt32(), b[2].GetInt32(), b[3].GetInt32())).ToHashSet()
                    : null;
            result[img.Name] = new BoxFixture(img.Name, System.IO.Path.Combine(RepoRoot, img.Value.GetProperty("path").GetString()!), Read("fast"), Read("quality"));
        }
        return result;
    }

    public static double Iou(ProposalRect a, ProposalRect b)
    {
        int x1 = Math.Max(a.X, b.X), y1 = Math.Max(a.Y, b.Y);
        int x2 = Math.Min(a.X + a.W, b.X + b.W), y2 = Math.Min(a.Y + a.H, b.Y + b.H);
        if (x2 <= x1 || y2 <= y1) return 0;
        double inter = (double)(x2 - x1) * (y2 - y1);
        return inter / ((double)a.W * a.H + (double)b.W * b.H - inter);
    }

    /// <summary>Fraction of <paramref name="reference"/> boxes with some box of <paramref name="ours"/> at IoU ≥ threshold.</summary>
    public static double Recall(IReadOnlyCollection<ProposalRect> reference, IReadOnlyCollection<ProposalRect> ours, double threshold)
    {
        var exact = ours as HashSet<ProposalRect> ?? ours.ToHashSet();
        var list = ours.ToArray();
        int hit = 0;
        foreach (var r in reference)
        {
            if (exact.Contains(r)) { hit++; continue; }
            foreach (var o in list)
                if (Iou(r, o) >= threshold) { hit++; break; }
        }
        return reference.Count == 0 ? 1 : hit / (double)reference.Count;
    }

    public static double Jaccard(IReadOnlySet<ProposalRect> a, IReadOnlySet<ProposalRect> b)
    {
        int inter = a.Count(b.Contains);
        int union = a.Count + b.Count - inter;
        return union == 0 ? 1 : inter / (double)union;
    }
}
