using Soco.Imaging;

namespace Soco.Proposals.SocoSearch;

/// <summary>Options of <see cref="SocoSelectiveSearch"/>. Defaults = SoCo's call and SoCo's quirks.</summary>
public sealed record SocoSelectiveSearchOptions
{
    /// <summary>Felzenszwalb <c>scale</c> (SoCo: 300).</summary>
    public double Scale { get; init; } = 300;

    /// <summary>Felzenszwalb Gaussian <c>sigma</c> (SoCo: 0.9).</summary>
    public double Sigma { get; init; } = 0.9;

    /// <summary>Felzenszwalb <c>min_size</c> (SoCo: 100).</summary>
    public int MinSize { get; init; } = 100;

    /// <summary>
    /// false (SoCo): HSV histogram over range (0, 255) for all channels, so H and S (in [0, 1]) always fall in bin 0.
    /// true: H and S are binned over [0, 1] (25 bins each), V over [0, 255] as before.
    /// </summary>
    public bool FixHsvHistogram { get; init; }

    /// <summary>
    /// false (SoCo): two regions are neighbours when a corner of the later one lies strictly inside the earlier one's
    /// bounding box. true: regions are neighbours when they touch in the label map (8-connectivity, the
    /// Felzenszwalb graph's), in the same pair order (earlier region first, pairs sorted).
    /// </summary>
    public bool AdjacencyNeighbours { get; init; }
}

/// <summary>
/// C# port of the selective search that produced SoCo's released proposals (AlpacaDB <c>selectivesearch</c> as
/// vendored and modified in SoCo, <c>selective_search/selective_search.py</c>):
/// skimage 0.19 Felzenszwalb segments (<see cref="SkimageFelzenszwalb"/>), 75-bin HSV colour and 30-bin LBP texture
/// histograms, bbox-corner neighbours, greedy grouping on colour + texture + size + fill, taking the largest
/// similarity and, among equal ones, the pair inserted last (SoCo's <c>sorted(S.items(), key=value)[-1]</c>).
/// Output: every region (initial segments in label order, then each merge) as <c>(min_x, min_y, max_x − min_x,
/// max_y − min_y)</c>, no de-duplication, no filter: SoCo's <c>regions</c> list.
/// Parity (tests/fixtures/soco_ss, tools/soco_ss_fixtures.py): identical label maps and identical region lists, order
/// included, on all 22 sample photos. Thread-safe: one image per thread, no internal parallelism (per-thread buffers).
/// </summary>
public sealed class SocoSelectiveSearch : IProposalGenerator
{
    private const int ColourBins = 25, TextureBins = 10;
    private const int HistC = 3 * ColourBins, HistT = 3 * TextureBins, HistLen = HistC + HistT;

    public SocoSelectiveSearch(SocoSelectiveSearchOptions? options = null)
    {
        Options = options ?? new SocoSelectiveSearchOptions();
    }

    public SocoSelectiveSearchOptions Options { get; }

    public string Name => "soco";

    // The label map is dropped here, so it can live in the thread's workspace: a worker allocates no per-image
    // label map (docs/scale.md §Parallel scaling).
    public ProposalRect[] Generate(RgbImage image) => Generate(image, out _, pooledLabels: true);

    /// <summary>Proposals plus the Felzenszwalb label map they grew from.</summary>
    public ProposalRect[] Generate(RgbImage image, out SegmentLabels segments) => Generate(image, out segments, pooledLabels: false);

    private ProposalRect[] Generate(RgbImage image, out SegmentLabels segments, bool pooledLabels)
    {
        segments = SkimageFelzenszwalb.Segment(image, Options.Scale, Options.Sigma, Options.MinSize, EdgeSortMode.Auto, pooledLabels);
        var regions = new Regions(segments.Count);
        ExtractRegions(image, segments, regions, Options.FixHsvHistogram);
        var pairs = Options.AdjacencyNeighbours ? AdjacentPairs(segments) : BboxPairs(regions, segments.Count);
        Group(regions, pairs, (double)image.Width * image.Height);
        var rects = new ProposalRect[regions.Count];
        for (int r = 0; r < rects.Length; r++)
            rects[r] = new ProposalRect(regions.MinX[r], regions.MinY[r],
                regions.MaxX[r] - regions.MinX[r], regions.MaxY[r] - regions.MinY[r]);
        return rects;
    }

    /// <summary>
    /// Initial region histograms (per label: 75 colour values H, S, V then 30 texture values R, G, B), as SoCo's
    /// <c>hist_c</c> / <c>hist_t</c>. For tests and diagnostics.
    /// </summary>
    internal static double[] InitialHistograms(RgbImage image, SegmentLabels segments, bool fixHsv)
    {
        var regions = new Regions(segments.Count);
        ExtractRegions(image, segments, regions, fixHsv);
        return regions.Hist.AsSpan(0, segments.Count * HistLen).ToArray();
    }

    /// <summary>Region table: initial segments first, merged regions appended (ids = SoCo's labels).</summary>
    private sealed class Regions
    {
        public Regions(int initial)
        {
            int cap = Math.Max(1, 2 * initial - 1);
            MinX = new int[cap]; MinY = new int[cap]; MaxX = new int[cap]; MaxY = new int[cap];
            Size = new long[cap];
            Hist = new double[cap * HistLen];
            Count = initial;
        }

        public int Count;
        public readonly int[] MinX, MinY, MaxX, MaxY;
        public readonly long[] Size;
        public readonly double[] Hist; // per region: 75 colour then 30 texture values

        public Span<double> H(int r) => Hist.AsSpan(r * HistLen, HistLen);
    }

    /// <summary>numpy.histogram's bin of x for <paramref name="bins"/> equal bins over [first, last]; −1 outside.</summary>
    internal static int NumpyBin(double x, double first, double last, int bins)
    {
        if (!(x >= first) || !(x <= last)) return -1;
        double norm = bins / (last - first);
        double step = (last - first) / bins;
        int idx = (int)((x - first) * norm);
        if (idx == bins) idx--;
        double Edge(int i) => i == bins ? last : i * step + first;
        if (x < Edge(idx)) idx--;
        if (x >= Edge(idx + 1) && idx != bins - 1) idx++;
        return idx;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void ExtractRegions(RgbImage image, SegmentLabels seg, Regions R, bool fixHsv)
    {
        int w = image.Width, h = image.Height, n = w * h, count = seg.Count;
        var px = image.Pixels;
        var labels = seg.Labels;

        // LBP codes per channel (skimage local_binary_pattern on the 0…255 float channel), in the thread's workspace
        var ws = SkimageFelzenszwalb.Workspace.Get(n);
        var codes = ws.Codes(n);
        var padded = ws.Padded((w + 2) * (h + 2));
        var drUp = new double[h]; var drDown = new double[h];
        var dcLeft = new double[w]; var dcRight = new double[w];
        SkimageLbp.Fractions(h, drUp, drDown);
        SkimageLbp.Fractions(w, dcLeft, dcRight);
        for (int c = 0; c < 3; c++)
        {
            SkimageLbp.Compute(px, w, h, c, codes[c], padded, drUp, drDown, dcLeft, dcRight);
        }

        var vBin = new int[256];
        var tBin = new int[256];
        for (int v = 0; v < 256; v++)
        {
            vBin[v] = NumpyBin(v, 0.0, 255.0, ColourBins);
            tBin[v] = NumpyBin(v, 0.0, 255.0, TextureBins);
        }

        var counts = new int[count * HistLen];
        for (int r = 0; r < count; r++)
        {
            R.MinX[r] = 0xffff; R.MinY[r] = 0xffff; R.MaxX[r] = 0; R.MaxY[r] = 0;
        }
        var size = R.Size;
        for (int y = 0, p = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++, p++)
            {
                int l = labels[p];
                if (R.MinX[l] > x) R.MinX[l] = x;
                if (R.MinY[l] > y) R.MinY[l] = y;
                if (R.MaxX[l] < x) R.MaxX[l] = x;
                if (R.MaxY[l] < y) R.MaxY[l] = y;
                size[l]++;
                int b = l * HistLen;
                int rr = px[3 * p], gg = px[3 * p + 1], bb = px[3 * p + 2];
                int max = Math.Max(rr, Math.Max(gg, bb));
                if (fixHsv)
                {
                    HueSat(rr, gg, bb, out double hue, out double sat);
                    counts[b + NumpyBin(hue, 0.0, 1.0, ColourBins)]++;
                    counts[b + ColourBins + NumpyBin(sat, 0.0, 1.0, ColourBins)]++;
                }
                else
                {
                    // H and S lie in [0, 1]: bin 0 of a (0, 255) histogram
                    counts[b]++;
                    counts[b + ColourBins]++;
                }
                counts[b + 2 * ColourBins + vBin[max]]++;
                counts[b + HistC + tBin[codes[0][p]]]++;
                counts[b + HistC + TextureBins + tBin[codes[1][p]]]++;
                counts[b + HistC + 2 * TextureBins + tBin[codes[2][p]]]++;
            }
        }
        // hist / len(pixels), float64
        for (int r = 0; r < count; r++)
        {
            double s = size[r];
            var hr = R.H(r);
            for (int k = 0; k < HistLen; k++) hr[k] = counts[r * HistLen + k] / s;
        }
    }

    /// <summary>skimage.color.rgb2hsv hue and saturation (the last matching max channel wins, as in skimage).</summary>
    private static void HueSat(int r, int g, int b, out double hue, out double sat)
    {
        int max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b));
        double delta = max - min;
        if (delta == 0) { hue = 0; sat = 0; return; }
        sat = delta / max;
        double hh;
        if (b == max) hh = 4.0 + (r - g) / delta;
        else if (g == max) hh = 2.0 + (b - r) / delta;
        else hh = (g - b) / delta;
        hh /= 6.0;
        hh -= Math.Floor(hh); // Python's % 1.
        hue = hh;
    }

    /// <summary>SoCo's <c>_extract_neighbors</c>: a corner of b strictly inside a's bbox, for a before b.</summary>
    private static List<(int A, int B)> BboxPairs(Regions R, int count)
    {
        var pairs = new List<(int, int)>();
        for (int a = 0; a < count - 1; a++)
        {
            int ax0 = R.MinX[a], ay0 = R.MinY[a], ax1 = R.MaxX[a], ay1 = R.MaxY[a];
            for (int b = a + 1; b < count; b++)
            {
                int bx0 = R.MinX[b], by0 = R.MinY[b], bx1 = R.MaxX[b], by1 = R.MaxY[b];
                bool minXIn = ax0 < bx0 && bx0 < ax1, maxXIn = ax0 < bx1 && bx1 < ax1;
                bool minYIn = ay0 < by0 && by0 < ay1, maxYIn = ay0 < by1 && by1 < ay1;
                if ((minXIn && minYIn) || (maxXIn && maxYIn) || (minXIn && maxYIn) || (maxXIn && minYIn))
                    pairs.Add((a, b));
            }
        }
        return pairs;
    }

    /// <summary>Label pairs that touch (8-connectivity), earlier label first, sorted.</summary>
    private static List<(int A, int B)> AdjacentPairs(SegmentLabels seg)
    {
        int w = seg.Width, h = seg.Height;
        var L = seg.Labels;
        var set = new HashSet<long>();
        void Add(int a, int b)
        {
            if (a == b) return;
            if (a > b) (a, b) = (b, a);
            set.Add(((long)a << 32) | (uint)b);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int p = y * w + x, l = L[p];
                if (x + 1 < w) Add(l, L[p + 1]);
                if (y + 1 < h)
                {
                    Add(l, L[p + w]);
                    if (x + 1 < w) Add(l, L[p + w + 1]);
                    if (x > 0) Add(l, L[p + w - 1]);
                }
            }
        var keys = set.ToArray();
        Array.Sort(keys);
        var pairs = new List<(int, int)>(keys.Length);
        foreach (var k in keys) pairs.Add(((int)(k >> 32), (int)(k & 0xffffffff)));
        return pairs;
    }

    /// <summary>SoCo's <c>_calc_sim</c>, with its exact float64 operation order.</summary>
    private static double Sim(Regions R, int a, int b, double imsize)
    {
        var ha = R.H(a);
        var hb = R.H(b);
        double colour = 0;
        for (int k = 0; k < HistC; k++) colour += Math.Min(ha[k], hb[k]);
        double texture = 0;
        for (int k = HistC; k < HistLen; k++) texture += Math.Min(ha[k], hb[k]);
        long sa = R.Size[a], sb = R.Size[b];
        double size = 1.0 - (sa + sb) / imsize;
        long bb = (long)(Math.Max(R.MaxX[a], R.MaxX[b]) - Math.Min(R.MinX[a], R.MinX[b]))
                  * (Math.Max(R.MaxY[a], R.MaxY[b]) - Math.Min(R.MinY[a], R.MinY[b]));
        double fill = 1.0 - (bb - sa - sb) / imsize;
        return colour + texture + size + fill;
    }

    private static int Merge(Regions R, int i, int j)
    {
        int t = R.Count++;
        R.MinX[t] = Math.Min(R.MinX[i], R.MinX[j]);
        R.MinY[t] = Math.Min(R.MinY[i], R.MinY[j]);
        R.MaxX[t] = Math.Max(R.MaxX[i], R.MaxX[j]);
        R.MaxY[t] = Math.Max(R.MaxY[i], R.MaxY[j]);
        long si = R.Size[i], sj = R.Size[j], ns = si + sj;
        R.Size[t] = ns;
        var hi = R.H(i);
        var hj = R.H(j);
        var ht = R.H(t);
        double di = si, dj = sj, dn = ns;
        for (int k = 0; k < HistLen; k++) ht[k] = (hi[k] * di + hj[k] * dj) / dn;
        return t;
    }

    /// <summary>
    /// SoCo's hierarchical grouping. S is kept as entries numbered in dict insertion order; the pick is the maximum of
    /// (similarity, insertion number), i.e. the last of the equal maxima after a stable sort by similarity.
    /// </summary>
    private static void Group(Regions R, List<(int A, int B)> pairs, double imsize)
    {
        int cap = Math.Max(1, R.Size.Length);
        var entA = new List<int>(pairs.Count * 2);
        var entB = new List<int>(pairs.Count * 2);
        var alive = new List<bool>(pairs.Count * 2);
        // per-region entry lists in insertion order
        var byRegion = new List<int>?[cap];
        var heap = new PriorityQueue<int, (double Sim, int Seq)>(pairs.Count * 2, MaxFirst.Instance);

        void AddEntry(int a, int b, double sim)
        {
            int id = entA.Count;
            entA.Add(a); entB.Add(b); alive.Add(true);
            (byRegion[a] ??= new List<int>()).Add(id);
            (byRegion[b] ??= new List<int>()).Add(id);
            heap.Enqueue(id, (sim, id));
        }

        foreach (var (a, b) in pairs) AddEntry(a, b, Sim(R, a, b, imsize));

        var stamp = new int[cap];
        int liveCount = pairs.Count;
        var toDelete = new List<int>();
        while (liveCount > 0)
        {
            int top;
            do { top = heap.Dequeue(); } while (!alive[top]);
            int i = entA[top], j = entB[top];
            int t = Merge(R, i, j);

            // every live entry containing i or j, in insertion order
            toDelete.Clear();
            var li = byRegion[i]!;
            var lj = byRegion[j]!;
            int pi = 0, pj = 0;
            while (pi < li.Count || pj < lj.Count)
            {
                int e;
                if (pj >= lj.Count || (pi < li.Count && li[pi] < lj[pj])) e = li[pi++];
                else if (pi >= li.Count || lj[pj] < li[pi]) e = lj[pj++];
                else { e = li[pi++]; pj++; }
                if (alive[e]) toDelete.Add(e);
            }
            foreach (int e in toDelete) alive[e] = false;
            liveCount -= toDelete.Count;
            byRegion[i] = null;
            byRegion[j] = null;

            int mark = t + 1;
            foreach (int e in toDelete)
            {
                if (e == top) continue;
                int a = entA[e], b = entB[e];
                int other = (a == i || a == j) ? b : a;
                if (stamp[other] == mark) continue; // S[(t, n)] assigned again: keeps its first position
                stamp[other] = mark;
                AddEntry(t, other, Sim(R, t, other, imsize));
                liveCount++;
            }
        }
    }

    private sealed class MaxFirst : IComparer<(double Sim, int Seq)>
    {
        public static readonly MaxFirst Instance = new();

        public int Compare((double Sim, int Seq) x, (double Sim, int Seq) y)
        {
            int c = y.Sim.CompareTo(x.Sim);
            return c != 0 ? c : y.Seq.CompareTo(x.Seq);
        }
    }
}
