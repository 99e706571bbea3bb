using System.Numerics;
using System.Runtime.CompilerServices;
using Soco.Imaging;

namespace Soco.Proposals.OpenCv;

/// <summary>Which of OpenCV's presets to run (SelectiveSearchSegmentation::switchTo…).</summary>
public enum SelectiveSearchPreset
{
    /// <summary><c>switchToSingleStrategy(k, sigma)</c>: HSV, one k, Multiple(colour, fill, texture, size).</summary>
    Single,
    /// <summary><c>switchToSelectiveSearchFast</c>: HSV and Lab, k = base, base+inc, base+2·inc; two strategies.</summary>
    Fast,
    /// <summary><c>switchToSelectiveSearchQuality</c>: HSV, Lab, gray, H, rgI; five k; four strategies.</summary>
    Quality,
}

/// <summary>
/// A C# port of OpenCV's ximgproc <c>SelectiveSearchSegmentation</c> (opencv_contrib 4.6). The segmentation stage
/// (colour conversion, Felzenszwalb–Huttenlocher) is bit-exact; the similarity strategies and the hierarchical grouping
/// follow OpenCV's float arithmetic step for step. Differences from OpenCV, both documented:
/// <list type="bullet">
/// <item>When two neighbour pairs have exactly the same similarity, OpenCV takes whichever its per-step
/// <c>std::sort</c> leaves last; this port takes the first such pair in its pair list.</item>
/// <item>OpenCV ranks regions with C <c>rand()</c>, so its output order is not reproducible. This port ranks with a
/// seeded SplitMix64 generator (rank = u·level, u uniform in [0,1]), so the order is deterministic for a seed; the set
/// of boxes does not depend on the ranking.</item>
/// </list>
/// One instance is not thread-safe; run one image per thread.
/// </summary>
public sealed class SelectiveSearchSegmentation
{
    public SelectiveSearchPreset Preset { get; }
    public int BaseK { get; }
    public int IncK { get; }
    public float Sigma { get; }
    public ulong Seed { get; }

    /// <param name="preset">Single, Fast or Quality.</param>
    /// <param name="baseK">First k (Single: the only k; OpenCV's default 200 there, 150 otherwise).</param>
    /// <param name="incK">k step (Fast, Quality).</param>
    /// <param name="sigma">Gaussian sigma of the graph segmentation.</param>
    /// <param name="seed">Seed of the ranking generator.</param>
    public SelectiveSearchSegmentation(SelectiveSearchPreset preset, int? baseK = null, int incK = 150, float sigma = 0.8f, ulong seed = 0x5EEDUL)
    {
        Preset = preset;
        BaseK = baseK ?? (preset == SelectiveSearchPreset.Single ? 200 : 150);
        IncK = incK;
        Sigma = sigma;
        Seed = seed;
    }

    /// <summary>Proposals for an RGB image (converted to OpenCV's BGR layout first).</summary>
    public ProposalRect[] Process(RgbImage image) => Process(OpenCvColor.FromRgb(image));

    /// <summary>Proposals for a 3-channel BGR image, in ranked order, de-duplicated, w/h inclusive (boundingRect).</summary>
    public ProposalRect[] Process(OcvImage bgr)
    {
        if (bgr.Channels != 3) throw new ArgumentException("expected a 3-channel BGR image");
        PerThreadArrays.StartImage(bgr.Width * bgr.Height);
        var images = new List<OcvImage>();
        var hsv = OpenCvColor.BgrToHsv(bgr);
        images.Add(hsv);
        int nk;
        Strategy[] strategies;
        if (Preset == SelectiveSearchPreset.Single)
        {
            nk = 1;
            strategies = new[] { Strategy.Multiple(Kind.Colour, Kind.Fill, Kind.Texture, Kind.Size) };
        }
        else
        {
            images.Add(OpenCvColor.BgrToLab(bgr));
            var m1 = Strategy.Multiple(Kind.Colour, Kind.Fill, Kind.Texture, Kind.Size);
            var m2 = Strategy.Multiple(Kind.Fill, Kind.Texture, Kind.Size);
            if (Preset == SelectiveSearchPreset.Fast)
            {
                nk = 3;
                strategies = new[] { m1, m2 };
            }
            else
            {
                nk = 5;
                var gray = OpenCvColor.BgrToGray(bgr);
                images.Add(gray);
                // OpenCV means the H channel here, but it splits the BGR image into the same Mat array afterwards;
                // split() reuses the already allocated planes, so the image it added is overwritten with B.
                images.Add(bgr.Channel(0));
                images.Add(OcvImage.Merge(bgr.Channel(2), bgr.Channel(1), gray));
                strategies = new[] { m1, m2, Strategy.Multiple(Kind.Fill) with { Wrapped = false }, Strategy.Multiple(Kind.Size) with { Wrapped = false } };
            }
        }
        bool needColour = false, needTexture = false;
        foreach (var s in strategies)
            foreach (var k in s.Kinds)
            {
                needColour |= k == Kind.Colour;
                needTexture |= k == Kind.Texture;
            }

        var all = new List<RegionOut>();
        foreach (var img in images)
        {
            var graph = GraphSegmentation.SortedGraph.Build(img, Sigma);
            // Reused per thread: the bins (8 bytes a pixel and channel) are dead once this image's groupings are done.
            byte[]? texBins = needTexture
                ? TextureMaps.ComputeBins(img, TextureMaps.Geometry.For(img.Width, img.Height),
                    PerThreadArrays.For(img.Width * img.Height).Get<byte>("tex.bins", img.Width * img.Height * 8 * img.Channels))
                : null;
            byte[]? colBins = needColour ? SegmentationData.ColourBinsOf(img) : null;
            var ks = new float[nk];
            for (int ki = 0; ki < nk; ki++) ks[ki] = BaseK + ki * IncK;
            var labelsPerK = graph.SegmentMany(ks, 100, out var segCounts);
            foreach (var seg in SegmentationData.Many(img, labelsPerK, segCounts, colBins, texBins))
                foreach (var s in strategies) Group(seg, s, all);
        }
        return Rank(all);
    }

    /// <summary>
    /// One image, one k, one strategy ("m1" = Multiple(colour, fill, texture, size), "m2" = Multiple(fill, texture,
    /// size), "fill", "size"): the distinct boxes of that single grouping (for component-level parity checks).
    /// </summary>
    internal static HashSet<ProposalRect> RunSingleGrouping(OcvImage img, int k, string strategy, float sigma = 0.8f)
    {
        var s = strategy switch
        {
            "m1" => Strategy.Multiple(Kind.Colour, Kind.Fill, Kind.Texture, Kind.Size),
            "m2" => Strategy.Multiple(Kind.Fill, Kind.Texture, Kind.Size),
            "fill" => Strategy.Multiple(Kind.Fill) with { Wrapped = false },
            "size" => Strategy.Multiple(Kind.Size) with { Wrapped = false },
            _ => throw new ArgumentException(strategy),
        };
        var graph = GraphSegmentation.SortedGraph.Build(img, sigma);
        var labels = graph.Segment(k, 100, out int nb);
        var seg = new SegmentationData(img, labels, nb, true, TextureMaps.ComputeBins(img));
        var all = new List<RegionOut>();
        Group(seg, s, all);
        var set = new HashSet<ProposalRect>();
        foreach (var r in all) set.Add(new ProposalRect(r.X, r.Y, r.W, r.H));
        return set;
    }

    // ------------------------------------------------------------------ ranking and de-duplication

    internal readonly record struct RegionOut(int X, int Y, int W, int H, int Level);

    private struct Ranked
    {
        public double Rank;
        public int Index;
    }

    private struct RankLess : ILess<Ranked>
    {
        public bool Less(in Ranked a, in Ranked b) => a.Rank < b.Rank;
    }

    internal ProposalRect[] Rank(List<RegionOut> all)
    {
        var rng = Seed;
        var ranked = new Ranked[all.Count];
        for (int i = 0; i < ranked.Length; i++)
        {
            double u = (SplitMix64(ref rng) >> 11) * (1.0 / (1UL << 53));
            ranked[i] = new Ranked { Rank = u * all[i].Level, Index = i };
        }
        LibStdSort.Sort(ranked.AsSpan(), new RankLess()); // OpenCV: std::sort(all_regions) by rank
        var seen = new HashSet<ProposalRect>();
        var result = new List<ProposalRect>();
        foreach (var r in ranked)
        {
            var o = all[r.Index];
            var rect = new ProposalRect(o.X, o.Y, o.W, o.H);
            if (seen.Add(rect)) result.Add(rect);
        }
        return result.ToArray();
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // ------------------------------------------------------------------ per-segmentation data

    internal enum Kind { Colour, Fill, Texture, Size }

    internal sealed record Strategy(Kind[] Kinds, float[] Weights, float WeightTotal, bool Wrapped)
    {
        public static Strategy Multiple(params Kind[] kinds)
        {
            // OpenCV's createSelectiveSearchSegmentationStrategyMultiple weights: 1, 0.5, 0.3333f, 0.25f.
            float w = kinds.Length switch { 1 => 1.0f, 2 => 0.5f, 3 => 0.3333f, _ => 0.25f };
            var ws = new float[kinds.Length];
            float total = 0;
            for (int i = 0; i < ws.Length; i++)
            {
                ws[i] = w;
                total += w;
            }
            return new Strategy(kinds, ws, total, true);
        }
    }

    internal struct Rect
    {
        public int X, Y, W, H;

        public static Rect Union(in Rect a, in Rect b)
        {
            // cv::Rect operator| (both non-empty here)
            int x1 = Math.Min(a.X, b.X), y1 = Math.Min(a.Y, b.Y);
            int x2 = Math.Max(a.X + a.W, b.X + b.W), y2 = Math.Max(a.Y + a.H, b.Y + b.H);
            return new Rect { X = x1, Y = y1, W = x2 - x1, H = y2 - y1 };
        }
    }

    internal sealed class SegmentationData
    {
        public readonly int NbSegs, ImageSize;
        public readonly int[] Sizes;
        public readonly Rect[] Rects;
        public readonly byte[] IsNeighbour; // NbSegs × NbSegs
        public readonly float[]? Colour;    // NbSegs × ColourBins
        public readonly int ColourBins;
        public readonly float[]? Texture;   // NbSegs × TextureBins
        public readonly int TextureBins;

        /// <summary>Per pixel and channel, the colour histogram index <c>c * 25 + bin</c> (calcHist, 25 bins over [0, 256)).</summary>
        public static byte[] ColourBinsOf(OcvImage img)
        {
            var d = img.Data;
            var r = new byte[d.Length];
            int cn = img.Channels;
            for (int q = 0; q < d.Length; q++) r[q] = (byte)((q % cn) * 25 + ((d[q] * 25) >> 8));
            return r;
        }

        public SegmentationData(OcvImage img, int[] labels, int nb, bool colour, byte[]? texBins)
            : this(img, labels, nb, colour ? ColourBinsOf(img) : null, texBins)
        {
        }

        /// <param name="colBins">Null, or <see cref="ColourBinsOf"/> of the image.</param>
        /// <param name="texBins">Null, or <see cref="TextureMaps.ComputeBins(OcvImage)"/> of the image.</param>
        public SegmentationData(OcvImage img, int[] labels, int nb, byte[]? colBins, byte[]? texBins)
            : this(img, labels, nb, colBins, texBins, null)
        {
        }

        /// <summary>
        /// The data of several segmentations of one image (OpenCV's k values), as many constructor calls would give.
        /// The histogram counts, 27 per pixel, are counted once per "atom" (a set of pixels that has one label in every
        /// segmentation) and summed per segment: integer sums, so the counts and the histograms are the same.
        /// </summary>
        public static SegmentationData[] Many(OcvImage img, int[][] labels, int[] nbs, byte[]? colBins, byte[]? texBins)
        {
            int nk = labels.Length, n = img.Width * img.Height, cn = img.Channels;
            int stride = (colBins != null ? 25 * cn : 0) + (texBins != null ? 8 * cn * TextureMaps.Bins : 0);
            var result = new SegmentationData[nk];
            for (int k0 = 0; k0 < nk; k0 += 3)
            {
                int k1 = Math.Min(k0 + 3, nk); // up to three segmentations share atoms
                if (k1 - k0 < 2 || stride == 0)
                {
                    for (int k = k0; k < k1; k++) result[k] = new SegmentationData(img, labels[k], nbs[k], colBins, texBins);
                    continue;
                }
                var atomOf = PerThreadArrays.For(n).Get<int>("ss.atoms", n);
                var atomLabels = Atoms(labels[k0..k1], img.Width, n, atomOf, out int atoms);
                // Per-thread (dead once the segments have their sums): a few MB a colour space, not allocated per image.
                var atomCounts = PerThreadArrays.For(n).Get<int>("ss.atomcounts", atoms * stride);
                Array.Clear(atomCounts, 0, atoms * stride);
                Count(img, atomOf, atoms, colBins, texBins, stride, atomCounts);
                for (int k = k0; k < k1; k++) result[k] = FromAtoms(img, labels[k], nbs[k], colBins, texBins, atomLabels[k - k0], atomCounts, atoms, stride);
            }
            return result;
        }

        private static SegmentationData FromAtoms(OcvImage img, int[] labels, int nb, byte[]? colBins, byte[]? texBins,
            int[] al, int[] atomCounts, int atoms, int stride)
        {
            var counts = new int[nb * stride];
            for (int a = 0; a < atoms; a++)
            {
                var dst = counts.AsSpan(al[a] * stride, stride);
                var src = atomCounts.AsSpan(a * stride, stride);
                int i = 0;
                for (; i <= stride - Vector<int>.Count; i += Vector<int>.Count)
                    (new Vector<int>(dst.Slice(i)) + new Vector<int>(src.Slice(i))).CopyTo(dst.Slice(i));
                for (; i < stride; i++) dst[i] += src[i];
            }
            return new SegmentationData(img, labels, nb, colBins, texBins, counts);
        }

        /// <summary>
        /// Numbers the distinct label tuples (one label per segmentation, two or three segmentations) of the pixels:
        /// <paramref name="atomOf"/>[p] is pixel p's atom; returns, per segmentation, each atom's label.
        /// </summary>
        private static int[][] Atoms(int[][] labels, int w, int n, int[] atomOf, out int atoms)
        {
            int nk = labels.Length;
            var ids = new Dictionary<(int, int, int), int>();
            var atomLabels = new List<int>[nk];
            for (int k = 0; k < nk; k++) atomLabels[k] = [];
            int[] l0 = labels[0], l1 = labels[1], l2 = nk > 2 ? labels[2] : labels[1];
            for (int p = 0; p < n; p++)
            {
                int a = l0[p], b = l1[p], c = l2[p];
                // Same tuple as the left or the upper pixel: the same atom (most pixels).
                if (p % w != 0 && a == l0[p - 1] && b == l1[p - 1] && c == l2[p - 1]) { atomOf[p] = atomOf[p - 1]; continue; }
                if (p >= w && a == l0[p - w] && b == l1[p - w] && c == l2[p - w]) { atomOf[p] = atomOf[p - w]; continue; }
                if (!ids.TryGetValue((a, b, c), out int id))
                {
                    id = ids.Count;
                    ids.Add((a, b, c), id);
                    for (int k = 0; k < nk; k++) atomLabels[k].Add(labels[k][p]);
                }
                atomOf[p] = id;
            }
            atoms = ids.Count;
            var r = new int[nk][];
            for (int k = 0; k < nk; k++) r[k] = atomLabels[k].ToArray();
            return r;
        }

        /// <summary>Per label, the integer counts [colour bins | texture bins] of its pixels (into <c>zeroed</c> when given).</summary>
        private static unsafe int[] Count(OcvImage img, int[] labels, int nb, byte[]? colBins, byte[]? texBins, int stride,
            int[]? zeroed = null)
        {
            int n = img.Width * img.Height, cn = img.Channels, nm = 8 * cn;
            int cb = colBins != null ? 25 * cn : 0;
            var counts = zeroed ?? new int[nb * stride];
            fixed (int* lb = labels, cnt = counts)
            fixed (byte* cbin = colBins, tbin = texBins)
            {
                for (int p = 0; p < n; p++)
                {
                    int* c = cnt + lb[p] * stride;
                    if (cbin != null)
                    {
                        byte* q = cbin + p * cn;
                        for (int ch = 0; ch < cn; ch++) c[q[ch]]++;
                    }
                    if (tbin != null)
                    {
                        int* ct = c + cb;
                        byte* q = tbin + p * nm;
                        int m = 0;
                        for (; m <= nm - 8; m += 8)
                        {
                            ct[q[m]]++; ct[q[m + 1]]++; ct[q[m + 2]]++; ct[q[m + 3]]++;
                            ct[q[m + 4]]++; ct[q[m + 5]]++; ct[q[m + 6]]++; ct[q[m + 7]]++;
                        }
                        for (; m < nm; m++) ct[q[m]]++;
                    }
                }
            }
            return counts;
        }

        private unsafe SegmentationData(OcvImage img, int[] labels, int nb, byte[]? colBins, byte[]? texBins, int[]? counted)
        {
            int w = img.Width, h = img.Height, n = w * h, cn = img.Channels;
            NbSegs = nb;
            ImageSize = n;
            Sizes = new int[nb];
            var minX = new int[nb];
            var minY = new int[nb];
            var maxX = new int[nb];
            var maxY = new int[nb];
            Array.Fill(minX, int.MaxValue);
            Array.Fill(minY, int.MaxValue);
            Array.Fill(maxX, int.MinValue);
            Array.Fill(maxY, int.MinValue);
            IsNeighbour = new byte[(long)nb * nb];
            fixed (int* lb = labels)
            fixed (byte* nbm = IsNeighbour)
            {
                for (int i = 0; i < h; i++)
                {
                    int* row = lb + i * w;
                    // Runs of one label: the size, and the box from the run's ends.
                    for (int j = 0; j < w;)
                    {
                        int l = row[j], j2 = j + 1;
                        while (j2 < w && row[j2] == l) j2++;
                        Sizes[l] += j2 - j;
                        if (j < minX[l]) minX[l] = j;
                        if (j2 - 1 > maxX[l]) maxX[l] = j2 - 1;
                        if (i < minY[l]) minY[l] = i;
                        if (i > maxY[l]) maxY[l] = i;
                        j = j2;
                    }
                    if (i == 0) continue;
                    // OpenCV marks (l, left), (l, up), (l, up-left) both ways for i > 0, j > 0. Pairs of equal labels
                    // only touch the diagonal, which nothing reads.
                    int* up = row - w;
                    for (int j = 1; j < w; j++)
                    {
                        int l = row[j], left = row[j - 1], u = up[j], ul = up[j - 1];
                        if (left != l) { nbm[(long)l * nb + left] = 1; nbm[(long)left * nb + l] = 1; }
                        if (u != l) { nbm[(long)l * nb + u] = 1; nbm[(long)u * nb + l] = 1; }
                        if (ul != l) { nbm[(long)l * nb + ul] = 1; nbm[(long)ul * nb + l] = 1; }
                    }
                }
            }
            Rects = new Rect[nb];
            for (int s = 0; s < nb; s++)
                Rects[s] = new Rect { X = minX[s], Y = minY[s], W = maxX[s] - minX[s] + 1, H = maxY[s] - minY[s] + 1 };

            // Both histograms in one pass: per label [colour bins | texture bins] integer counts.
            int nm = 8 * cn;
            int cb = colBins != null ? 25 * cn : 0, tb = texBins != null ? nm * TextureMaps.Bins : 0;
            int stride = cb + tb;
            if (stride == 0) return;
            var counts = counted ?? Count(img, labels, nb, colBins, texBins, stride);
            if (colBins != null)
            {
                // Normalised by the total over all channels.
                ColourBins = cb;
                Colour = new float[nb * cb];
                for (int s = 0; s < nb; s++)
                {
                    int b = s * stride, o = s * cb;
                    float tt = 0;
                    for (int i = 0; i < cb; i++) tt += counts[b + i];
                    for (int i = 0; i < cb; i++) Colour[o + i] = counts[b + i] / tt;
                }
            }
            if (texBins != null)
            {
                TextureBins = tb;
                Texture = new float[nb * tb];
                for (int s = 0; s < nb; s++)
                {
                    int b = s * stride + cb, o = s * tb;
                    float total = Sizes[s] * nm;
                    for (int i = 0; i < tb; i++) Texture[o + i] = counts[b + i] / total;
                }
            }
        }
    }

    // ------------------------------------------------------------------ hierarchical grouping

    private struct Pair
    {
        public int From, To;
        public float Sim;
    }

    private struct Region
    {
        public int Id, Level;
        public Rect Box;
    }

    private sealed class Similarity
    {
        private readonly Strategy _s;
        private readonly int[] _sizes;
        private readonly Rect[] _rects;
        private readonly float[]? _colour, _texture;
        private readonly int _cb, _tb;
        private readonly int _imageSize;

        public Similarity(SegmentationData d, Strategy s)
        {
            _s = s;
            _sizes = (int[])d.Sizes.Clone();
            _rects = (Rect[])d.Rects.Clone();
            _imageSize = d.ImageSize;
            foreach (var k in s.Kinds)
            {
                if (k == Kind.Colour) { _colour = (float[])d.Colour!.Clone(); _cb = d.ColourBins; }
                if (k == Kind.Texture) { _texture = (float[])d.Texture!.Clone(); _tb = d.TextureBins; }
            }
        }

        public float Get(int r1, int r2)
        {
            if (!_s.Wrapped) return GetOne(_s.Kinds[0], r1, r2);
            float tt = 0;
            var kinds = _s.Kinds;
            for (int i = 0; i < kinds.Length; i++) tt += _s.Weights[i] * GetOne(kinds[i], r1, r2);
            return tt / _s.WeightTotal;
        }

        private float GetOne(Kind k, int r1, int r2)
        {
            switch (k)
            {
                case Kind.Colour: return Intersect(_colour!, r1 * _cb, r2 * _cb, _cb);
                case Kind.Texture: return Intersect(_texture!, r1 * _tb, r2 * _tb, _tb);
                case Kind.Size:
                    return Math.Max(Math.Min(1.0f - (float)(_sizes[r1] + _sizes[r2]) / (float)_imageSize, 1.0f), 0.0f);
                default:
                    {
                        var u = Rect.Union(_rects[r1], _rects[r2]);
                        int area = u.W * u.H;
                        return Math.Max(Math.Min(1.0f - (float)(area - _sizes[r1] - _sizes[r2]) / (float)_imageSize, 1.0f), 0.0f);
                    }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float Intersect(float[] h, int a, int b, int len)
        {
            float r = 0;
            for (int i = 0; i < len; i++) r += Math.Min(h[a + i], h[b + i]);
            return r;
        }

        /// <summary>Strategy merge (before the sizes are updated), then OpenCV's size update.</summary>
        public void Merge(int r1, int r2)
        {
            int s1 = _sizes[r1], s2 = _sizes[r2];
            if (_colour != null) MergeHist(_colour, r1 * _cb, r2 * _cb, _cb, s1, s2);
            if (_texture != null) MergeHist(_texture, r1 * _tb, r2 * _tb, _tb, s1, s2);
            _rects[r1] = Rect.Union(_rects[r1], _rects[r2]);
            _rects[r2] = _rects[r1];
            _sizes[r1] += _sizes[r2];
            _sizes[r2] = _sizes[r1];
        }

        private static void MergeHist(float[] h, int a, int b, int len, int s1, int s2)
        {
            for (int i = 0; i < len; i++)
            {
                float v = (h[a + i] * s1 + h[b + i] * s2) / (s1 + s2);
                h[a + i] = v;
                h[b + i] = v;
            }
        }
    }

    internal static void Group(SegmentationData d, Strategy strategy, List<RegionOut> output)
    {
        int nb = d.NbSegs;
        var sim = new Similarity(d, strategy);
        var regions = new Region[2 * nb];
        int nRegions = 0;
        var pairs = new List<Pair>(4 * nb);
        for (int i = 0; i < nb; i++)
        {
            regions[nRegions++] = new Region { Id = i, Level = 1, Box = d.Rects[i] };
            int row = i * nb;
            for (int j = i + 1; j < nb; j++)
                if (d.IsNeighbour[row + j] != 0)
                    pairs.Add(new Pair { From = i, To = j, Sim = sim.Get(i, j) });
        }
        var local = new List<int>();
        var span = pairs;
        while (pairs.Count > 0)
        {
            // The most similar pair (first of equals in list order).
            int best = 0;
            float bestSim = pairs[0].Sim;
            for (int i = 1; i < pairs.Count; i++)
                if (pairs[i].Sim > bestSim) { bestSim = pairs[i].Sim; best = i; }
            var p = pairs[best];
            pairs.RemoveAt(best);
            var rf = regions[p.From];
            var rt = regions[p.To];
            var nr = new Region
            {
                Id = Math.Min(rf.Id, rt.Id),
                Level = Math.Max(rf.Level, rt.Level) + 1,
                Box = Rect.Union(rf.Box, rt.Box),
            };
            int newIndex = nRegions;
            regions[nRegions++] = nr;
            sim.Merge(rf.Id, rt.Id);

            // Drop every pair touching either merged region; remember their other ends (first-seen order).
            local.Clear();
            int wr = 0;
            for (int i = 0; i < pairs.Count; i++)
            {
                var q = pairs[i];
                if (q.From == p.From || q.To == p.From || q.From == p.To || q.To == p.To)
                {
                    int other = (q.From == p.From || q.From == p.To) ? q.To : q.From;
                    if (!local.Contains(other)) local.Add(other);
                }
                else pairs[wr++] = q;
            }
            pairs.RemoveRange(wr, pairs.Count - wr);
            foreach (int other in local)
                pairs.Add(new Pair { From = newIndex, To = other, Sim = sim.Get(nr.Id, regions[other].Id) });
        }
        for (int i = 0; i < nRegions; i++)
        {
            var b = regions[i].Box;
            output.Add(new RegionOut(b.X, b.Y, b.W, b.H, regions[i].Level));
        }
    }
}
