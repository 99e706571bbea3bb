// Profiling / regression harness for src/Soco/Proposals/OpenCv (the OpenCV selective-search port).
//   golden <out.txt> <images...>   : writes a digest of every output (Fast/Quality/Single boxes in order, FH labels)
//   time <reps> <images...>        : per-stage and whole-Fast timings, one thread, best of reps (after a warm-up)
//   soco <reps> <images...>        : SoCo's selective search (--mode soco), whole image, best of reps
// Times are this thread's CPU time, so that other processes on a shared machine count less than in wall time.
//   seg <reps> <images...>         : FH segmentation of the HSV and Lab images, three k separately vs together (min ms)
// Images are decoded with Soco.Imaging.ImageDecoder (SkiaSharp), as the CLI does.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Soco.Imaging;
using Soco.Proposals;
using Soco.Proposals.OpenCv;
using SS = Soco.Proposals.OpenCv.SelectiveSearchSegmentation;

static string Hash(ReadOnlySpan<byte> b) => Convert.ToHexString(SHA256.HashData(b))[..16];
static string HashBoxes(ProposalRect[] r)
{
    var sb = new StringBuilder();
    foreach (var x in r) sb.Append(x.X).Append(',').Append(x.Y).Append(',').Append(x.W).Append(',').Append(x.H).Append(';');
    return Hash(Encoding.ASCII.GetBytes(sb.ToString()));
}
static byte[] Interleave(byte[] planar /* now interleaved too: strips the m*10 */, int n)
{
    int nm = planar.Length / n;
    var r = new byte[planar.Length];
    for (int m = 0; m < nm; m++)
        for (int p = 0; p < n; p++) r[p * nm + m] = (byte)(planar[p * nm + m] - m * 10);
    return r;
}
static string HashInts(int[] a) => Hash(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));

var mode = args[0];
if (mode == "golden-soco")
{
    // The soco lines of "golden" only.
    var lines = new List<string>();
    foreach (var path in args.Skip(2))
    {
        var rgb = ImageDecoder.Decode(path);
        var socoBoxes = new Soco.Proposals.SocoSearch.SocoSelectiveSearch().Generate(rgb, out var socoSeg);
        lines.Add($"{Path.GetFileNameWithoutExtension(path)} soco {socoBoxes.Length} {HashBoxes(socoBoxes)} {socoSeg.Count} {HashInts(socoSeg.Labels)}");
    }
    File.WriteAllLines(args[1], lines);
    Console.Error.WriteLine($"exact-order fallbacks: {Soco.Proposals.SocoSearch.SkimageFelzenszwalb.ExactSortFallbacks}");
    return;
}
if (mode == "golden")
{
    var lines = new List<string>();
    foreach (var path in args.Skip(2))
    {
        var name = Path.GetFileNameWithoutExtension(path);
        var rgb = ImageDecoder.Decode(path);
        var bgr = OpenCvColor.FromRgb(rgb);
        foreach (var preset in new[] { SelectiveSearchPreset.Fast, SelectiveSearchPreset.Quality, SelectiveSearchPreset.Single })
        {
            var boxes = new SS(preset).Process(bgr);
            lines.Add($"{name} {preset} {boxes.Length} {HashBoxes(boxes)}");
            Console.WriteLine(lines[^1]);
        }
        var socoBoxes = new Soco.Proposals.SocoSearch.SocoSelectiveSearch().Generate(rgb, out var socoSeg);
        lines.Add($"{name} soco {socoBoxes.Length} {HashBoxes(socoBoxes)} {socoSeg.Count} {HashInts(socoSeg.Labels)}");
        Console.WriteLine(lines[^1]);
        var gray = OpenCvColor.BgrToGray(bgr);
        var imgs = new (string, OcvImage)[] { ("hsv", OpenCvColor.BgrToHsv(bgr)), ("lab", OpenCvColor.BgrToLab(bgr)), ("gray", gray), ("b", bgr.Channel(0)), ("rgi", OcvImage.Merge(bgr.Channel(2), bgr.Channel(1), gray)) };
        foreach (var (sp, img) in imgs)
        {
            lines.Add($"{name} tex {sp} {Hash(Interleave(TextureMaps.ComputeBins(img), img.Width * img.Height))}");
            var g = GraphSegmentation.SortedGraph.Build(img, 0.8);
            var manyL = g.SegmentMany(new float[] { 150, 300, 450, 600, 750 }, 100, out var manyC);
            int ki5 = 0;
            foreach (int k in new[] { 150, 300, 450, 600, 750 })
            {
                var l = g.Segment(k, 100, out int cnt);
                if (!l.AsSpan().SequenceEqual(manyL[ki5]) || cnt != manyC[ki5]) throw new Exception($"SegmentMany differs {name} {sp} {k}");
                ki5++;
                lines.Add($"{name} seg {sp} k{k} {cnt} {HashInts(l)}");
            }
            Console.Error.WriteLine($"{name} {sp}: conflict blocks {g.ConflictBlocks} in 5 k");
        }
    }
    File.WriteAllLines(args[1], lines);
    return;
}
if (mode == "time")
{
    int reps = int.Parse(args[1]);
    var files = args.Skip(2).ToArray();
    var sw = new Sw();
    var stageNames = new[] { "colour", "blur", "edges", "sort", "texture", "segment", "segdata", "group", "rank" };
    foreach (var path in files)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        var rgb = ImageDecoder.Decode(path);
        var fastTimes = new List<double>();
        var stageTimes = stageNames.ToDictionary(s => s, _ => new List<double>());
        for (int r = -2; r < reps; r++)
        {
            sw.Restart();
            new SS(SelectiveSearchPreset.Fast).Process(rgb);
            double t = sw.Elapsed.TotalMilliseconds;
            if (r >= 0) fastTimes.Add(t);
            var st = StageRun(rgb);
            if (r >= 0) foreach (var kv in st) stageTimes[kv.Key].Add(kv.Value);
        }
        static double Med(List<double> l) => l.Min();

        Console.WriteLine($"{name} fast_ms {Med(fastTimes):F1} | " + string.Join(" ", stageNames.Select(s => $"{s} {Med(stageTimes[s]):F1}")));
    }
    return;
}
if (mode == "seg")
{
    foreach (var path in args.Skip(2))
    {
        var bgr = OpenCvColor.FromRgb(ImageDecoder.Decode(path));
        foreach (var img in new[] { OpenCvColor.BgrToHsv(bgr), OpenCvColor.BgrToLab(bgr) })
        {
            var g = GraphSegmentation.SortedGraph.Build(img, 0.8);
            for (int r = 0; r < 3; r++) g.Segment(150, 100, out _);
            int reps = int.Parse(args[1]);
            double best3 = 1e9;
            for (int r = 0; r < reps / 3; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                g.SegmentMany(new float[] { 150, 300, 450 }, 100, out _);
                best3 = Math.Min(best3, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            double best1 = 1e9;
            for (int r = 0; r < reps / 3; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                g.Segment(150, 100, out _); g.Segment(300, 100, out _); g.Segment(450, 100, out _);
                best1 = Math.Min(best1, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            Console.WriteLine($"  3 k: separate min {best1:F2} ms, together min {best3:F2} ms");
            Console.WriteLine($"{Path.GetFileName(path)} conflict blocks {g.ConflictBlocks}");
        }
    }
    return;
}
if (mode == "soco")
{
    // SoCo's selective search, whole images: thread CPU time, best of reps (after a warm-up).
    int reps = int.Parse(args[1]);
    foreach (var path in args.Skip(2))
    {
        var rgb = ImageDecoder.Decode(path);
        var g = new Soco.Proposals.SocoSearch.SocoSelectiveSearch();
        double best = double.MaxValue;
        for (int r = -2; r < reps; r++)
        {
            var sw = Sw.StartNew();
            g.Generate(rgb);
            if (r >= 0) best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"{Path.GetFileNameWithoutExtension(path)} soco_ms {best:F1}");
    }
    // Searches that had to take NumPy's exact edge order (a run of tied weights could decide a merge): each is slow.
    Console.Error.WriteLine($"exact-order fallbacks: {Soco.Proposals.SocoSearch.SkimageFelzenszwalb.ExactSortFallbacks}");
    return;
}
throw new ArgumentException(mode);

static Dictionary<string, double> StageRun(RgbImage rgb)
{
    var d = new Dictionary<string, double>();
    var sw = Sw.StartNew();
    void Lap(string s) { d[s] = d.GetValueOrDefault(s) + sw.Elapsed.TotalMilliseconds; sw.Restart(); }
    var bgr = OpenCvColor.FromRgb(rgb);
    var images = new[] { OpenCvColor.BgrToHsv(bgr), OpenCvColor.BgrToLab(bgr) };
    Lap("colour");
    var m1 = SS.Strategy.Multiple(SS.Kind.Colour, SS.Kind.Fill, SS.Kind.Texture, SS.Kind.Size);
    var m2 = SS.Strategy.Multiple(SS.Kind.Fill, SS.Kind.Texture, SS.Kind.Size);
    var all = new List<SS.RegionOut>();
    foreach (var img in images)
    {
        sw.Restart();
        var graph = GraphSegmentation.SortedGraph.Build(img, 0.8, Lap);
        var tex = TextureMaps.ComputeBins(img);
        Lap("texture");
        var col = SS.SegmentationData.ColourBinsOf(img);
        Lap("segdata");
        var many = graph.SegmentMany(new float[] { 150, 300, 450 }, 100, out var nbs);
        Lap("segment");
        for (int ki = 0; ki < 3; ki++)
        {
            var labels = many[ki];
            int nb = nbs[ki];
            var seg = new SS.SegmentationData(img, labels, nb, col, tex);
            Lap("segdata");
            SS.Group(seg, m1, all);
            SS.Group(seg, m2, all);
            Lap("group");
        }
    }
    new SS(SelectiveSearchPreset.Fast).Rank(all);
    Lap("rank");
    return d;
}

/// <summary>A stopwatch on this thread's CPU time (CLOCK_THREAD_CPUTIME_ID): time spent waiting for a core does not count.</summary>
sealed class Sw
{
    [System.Runtime.InteropServices.DllImport("libc")] private static extern unsafe int clock_gettime(int clock, long* timespec);
    private static unsafe double Now()
    {
        long* ts = stackalloc long[2];
        clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, ts);
        return ts[0] * 1e3 + ts[1] / 1e6;
    }
    private double _t0 = Now();
    public static Sw StartNew() => new();
    public void Restart() => _t0 = Now();
    public TimeSpan Elapsed => TimeSpan.FromMilliseconds(Now() - _t0);
}
