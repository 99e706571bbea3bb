using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Soco.Proposals.OpenCv;

/// <summary>
/// Felzenszwalb–Huttenlocher graph segmentation exactly as OpenCV's ximgproc <c>GraphSegmentation</c> does it
/// (opencv_contrib 4.6, graphsegmentation.cpp): the 8-bit image is converted to float and blurred with
/// <c>GaussianBlur(Size(0,0), sigma)</c> (bit-exact with OpenCV's AVX2/FMA separable filter), each pixel gets edges to
/// its up, left, down and right neighbours (every undirected edge twice) weighted by the Euclidean distance over all
/// channels, edges are sorted with a replica of libstdc++'s <c>std::sort</c>, merged with OpenCV's threshold rule,
/// small regions are merged in a second pass, and labels are numbered 0..n-1 in raster order.
/// </summary>
public static class GraphSegmentation
{
    /// <summary>
    /// <c>createGraphSegmentation(sigma, k, minSize).processImage(image)</c>: a label per pixel, row-major, 0..count-1.
    /// </summary>
    public static int[] Segment(OcvImage image, double sigma, float k, int minSize, out int count)
    {
        var graph = SortedGraph.Build(image, sigma);
        return graph.Segment(k, minSize, out count);
    }

    /// <summary>
    /// The blurred image's edges sorted by weight. It does not depend on k or min_size, so one graph serves every k of
    /// a preset (OpenCV rebuilds and re-sorts it each time; the result is the same).
    /// </summary>
    /// <remarks>
    /// OpenCV sorts 4 directed edges per pixel with <c>std::sort</c>, whose order among equal weights is not stable.
    /// This graph keeps each undirected edge once and sorts by weight with a radix sort (another order among equal
    /// weights), which gives OpenCV's labels for these reasons:
    /// <list type="bullet">
    /// <item>The second copy of an undirected edge never changes anything: in the threshold pass it meets the same
    /// (unchanged or already joined) regions in the same block of equal weights; in the small-region pass sizes only grow.</item>
    /// <item>Threshold pass: within a block of equal weight w, a region with thr &lt; w ("closed") cannot merge and so
    /// stays closed, and every merge leaves thr = w + k/size ≥ w ("open"). So the block joins exactly the open regions
    /// connected by its edges, whatever the order, and each joined region ends with thr = w + k/(final size). Which
    /// pixel is a root never shows in the result (labels are numbered by first pixel in raster order).</item>
    /// <item>Small-region pass: within a block, only edges between different regions of which one is small can join.
    /// If those region pairs are identical or disjoint, the order does not matter; otherwise (a "conflict") this k is
    /// segmented again with the exact std::sort order (<see cref="LibStdSort"/>), computed once per graph on demand.</item>
    /// </list>
    /// </remarks>
    public sealed class SortedGraph
    {
        private readonly ulong[] _edges; // high 32 bits: float weight bits (non-negative, so integer order == float order); low: from*2 + (0 right, 1 down)
        private readonly float[] _blurred;
        private readonly int _width, _height, _channels;
        private ulong[]? _exact; // OpenCV's directed edges in std::sort order (reference path, tests)
        private LibStdSort.LazyByHigh32? _lazy; // the same, sorted only where a conflict needs it

        private SortedGraph(ulong[] edges, float[] blurred, int width, int height, int channels)
        {
            _edges = edges;
            _blurred = blurred;
            _width = width;
            _height = height;
            _channels = channels;
        }

        public int Width => _width;
        public int Height => _height;

        /// <summary>How many blocks of equal weights needed std::sort's order (diagnostics).</summary>
        internal int ConflictBlocks { get; private set; }

        public static SortedGraph Build(OcvImage image, double sigma) => Build(image, sigma, null);

        /// <param name="lap">Profiling hook, called after each stage ("blur", "edges", "sort").</param>
        internal static SortedGraph Build(OcvImage image, double sigma, Action<string>? lap)
        {
            if (sigma <= 0) sigma = 0.001; // setSigma's rule
            var blurred = GaussianBlurF32(image, sigma);
            lap?.Invoke("blur");
            var edges = BuildUndirectedEdges(blurred, image.Width, image.Height, image.Channels);
            lap?.Invoke("edges");
            RadixSortByHigh32(edges);
            lap?.Invoke("sort");
            return new SortedGraph(edges, blurred, image.Width, image.Height, image.Channels);
        }

        public int[] Segment(float k, int minSize, out int count) => Segment(k, minSize, out count, forceExact: false);

        internal int[] Segment(float k, int minSize, out int count, bool forceExact)
        {
            int n = _width * _height;
            // k < 0 would break the "open stays open" argument; NaN never merges anything. Use the exact order then.
            if (forceExact || !(k >= 0)) return SegmentExact(k, minSize, out count);
            var scratch = PerThreadArrays.For(n);
            var nodes = scratch.Get<Node>("fh.nodes0", n);
            ThresholdPass(nodes, k);
            var flags = scratch.Get<byte>("fh.small", n);
            SmallFlags(nodes, n, minSize, flags, 1, out int smallCount);
            if (smallCount > 0)
            {
                var cand = SmallCandidates(flags, scratch, out int nc);
                SmallRegionPass(nodes, cand, nc, 1, smallCount, minSize);
            }
            return Label(nodes, n, scratch, out count);
        }

        /// <summary>
        /// <see cref="Segment(float, int, out int)"/> for several k at once (the same labels): the threshold passes run
        /// together over the edges, so their independent lookups overlap.
        /// </summary>
        public int[][] SegmentMany(float[] ks, int minSize, out int[] counts)
        {
            int n = _width * _height, nk = ks.Length;
            var result = new int[nk][];
            counts = new int[nk];
            int i0 = 0;
            for (; i0 + 3 <= nk && ks[i0] >= 0 && ks[i0 + 1] >= 0 && ks[i0 + 2] >= 0; i0 += 3)
            {
                var scratch = PerThreadArrays.For(n);
                var all = new[] { scratch.Get<Node>("fh.nodes0", n), scratch.Get<Node>("fh.nodes1", n), scratch.Get<Node>("fh.nodes2", n) };
                ThresholdPass3(all[0], all[1], all[2], ks[i0], ks[i0 + 1], ks[i0 + 2]);
                // One scan of the edge list finds the small-region candidates of all three k (bit j: k number j).
                var flags = scratch.Get<byte>("fh.small", n);
                Span<int> smallCounts = stackalloc int[3];
                for (int j = 0; j < 3; j++) SmallFlags(all[j], n, minSize, flags, (byte)(1 << j), out smallCounts[j]);
                int nc = 0;
                var cand = smallCounts[0] + smallCounts[1] + smallCounts[2] > 0 ? SmallCandidates(flags, scratch, out nc) : null;
                for (int j = 0; j < 3; j++)
                {
                    if (smallCounts[j] > 0) SmallRegionPass(all[j], cand!, nc, (byte)(1 << j), smallCounts[j], minSize);
                    result[i0 + j] = Label(all[j], n, scratch, out counts[i0 + j]);
                }
            }
            for (; i0 < nk; i0++) result[i0] = Segment(ks[i0], minSize, out counts[i0]);
            return result;
        }

        private unsafe void ThresholdPass3(Node[] nodes0, Node[] nodes1, Node[] nodes2, float k0, float k1, float k2)
        {
            int w = _width, len = _edges.Length;
            fixed (Node* n0 = nodes0, n1 = nodes1, n2 = nodes2)
            fixed (ulong* pe = _edges)
            {
                for (int i = 0, n = _width * _height; i < n; i++)
                {
                    n0[i].Parent = -1;
                    n0[i].Thr = k0;
                    n1[i].Parent = -1;
                    n1[i].Thr = k1;
                    n2[i].Parent = -1;
                    n2[i].Thr = k2;
                }
                for (int i = 0; i < len; i++)
                {
                    // Edges in weight order touch scattered pixels: ask for a later edge's nodes now, so that their
                    // cache misses overlap this edge's work (a hint only).
                    if (Sse.IsSupported && i + PrefetchDistance < len)
                    {
                        int fp = (int)((uint)pe[i + PrefetchDistance] >> 1);
                        Sse.Prefetch0(n0 + fp);
                        Sse.Prefetch0(n1 + fp);
                        Sse.Prefetch0(n2 + fp);
                    }
                    ulong e = pe[i];
                    float wgt = BitConverter.UInt32BitsToSingle((uint)(e >> 32));
                    int from = (int)((uint)e >> 1), to = from + (((int)e & 1) != 0 ? w : 1);
                    int a0 = Find(n0, from), b0 = Find(n0, to);
                    int a1 = Find(n1, from), b1 = Find(n1, to);
                    int a2 = Find(n2, from), b2 = Find(n2, to);
                    if ((a0 != b0) & (wgt <= n0[a0].Thr) & (wgt <= n0[b0].Thr))
                    {
                        a0 = Join(n0, a0, b0);
                        n0[a0].Thr = wgt + k0 / -n0[a0].Parent;
                    }
                    if ((a1 != b1) & (wgt <= n1[a1].Thr) & (wgt <= n1[b1].Thr))
                    {
                        a1 = Join(n1, a1, b1);
                        n1[a1].Thr = wgt + k1 / -n1[a1].Parent;
                    }
                    if ((a2 != b2) & (wgt <= n2[a2].Thr) & (wgt <= n2[b2].Thr))
                    {
                        a2 = Join(n2, a2, b2);
                        n2[a2].Thr = wgt + k2 / -n2[a2].Parent;
                    }
                }
            }
        }

        private const int PrefetchDistance = 16;

        /// <summary>A union-find node: Parent &lt; 0 marks a root of −Parent pixels; Thr is a root's threshold.</summary>
        private struct Node
        {
            public int Parent;
            public float Thr;
        }

        private unsafe void ThresholdPass(Node[] nodes, float k)
        {
            int w = _width, len = _edges.Length;
            fixed (Node* nd = nodes)
            fixed (ulong* pe = _edges)
            {
                for (int i = 0, n = _width * _height; i < n; i++)
                {
                    nd[i].Parent = -1;
                    nd[i].Thr = k;
                }
                for (int i = 0; i < len; i++)
                {
                    ulong e = pe[i];
                    float wgt = BitConverter.UInt32BitsToSingle((uint)(e >> 32));
                    int from = (int)((uint)e >> 1);
                    int a = Find(nd, from), b = Find(nd, from + (((int)e & 1) != 0 ? w : 1));
                    if ((a != b) & (wgt <= nd[a].Thr) & (wgt <= nd[b].Thr))
                    {
                        a = Join(nd, a, b);
                        nd[a].Thr = wgt + k / -nd[a].Parent;
                    }
                }
            }
        }

        // Path halving (which pixel is a root, and so the compression scheme, never shows in the result).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe int Find(Node* nd, int p)
        {
            while (true)
            {
                int q = nd[p].Parent;
                if (q < 0) return p;
                int r = nd[q].Parent;
                if (r < 0) return q;
                nd[p].Parent = r;
                p = r;
            }
        }

        // Union by size (the larger set, the first on ties, becomes the root, as in OpenCV). Returns the root.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe int Join(Node* nd, int a, int b)
        {
            int sa = -nd[a].Parent, sb = -nd[b].Parent;
            if (sa < sb) (a, b) = (b, a);
            nd[b].Parent = a;
            nd[a].Parent = -(sa + sb);
            return a;
        }

        /// <summary>
        /// Flattens every pixel to its root; sets <paramref name="bit"/> in the flags of pixels of regions smaller than
        /// minSize (bit 1 writes the flags, other bits are added to them), and counts those regions.
        /// </summary>
        private static unsafe void SmallFlags(Node[] nodes, int n, int minSize, byte[] flags, byte bit, out int smallCount)
        {
            int count = 0;
            fixed (Node* nd = nodes)
            fixed (byte* fl = flags)
            {
                for (int i = 0; i < n; i++)
                {
                    int r = Find(nd, i);
                    if (r != i) nd[i].Parent = r;
                    else if (-nd[i].Parent < minSize) count++;
                    byte f = -nd[r].Parent < minSize ? bit : (byte)0;
                    fl[i] = bit == 1 ? f : (byte)(fl[i] | f);
                }
            }
            smallCount = count;
        }

        /// <summary>
        /// The edges (in sorted order, weight 0 excluded, as OpenCV's small-region pass skips them) that touch a flagged
        /// pixel: the only edges that can join in the small-region pass (sizes only grow). Each candidate keeps its
        /// edge and, in the low byte of <see cref="Candidate.Bits"/>, the flags of both ends together.
        /// </summary>
        private unsafe Candidate[] SmallCandidates(byte[] flags, PerThreadArrays scratch, out int count)
        {
            int w = _width, len = _edges.Length, nc = 0;
            var cand = scratch.Get<Candidate>("fh.cand", len);
            fixed (ulong* pe = _edges)
            fixed (byte* fl = flags)
            fixed (Candidate* pc = cand)
            {
                int i = 0;
                while (i < len && (pe[i] >> 32) == 0) i++;
                for (; i < len; i++)
                {
                    ulong e = pe[i];
                    int from = (int)((uint)e >> 1), to = from + (((int)e & 1) != 0 ? w : 1);
                    int bits = fl[from] | fl[to];
                    if (bits == 0) continue;
                    pc[nc].Edge = e;
                    pc[nc].Bits = bits;
                    nc++;
                }
            }
            count = nc;
            return cand;
        }

        private struct Candidate
        {
            public ulong Edge;
            public int Bits;
        }

        /// <summary>
        /// The small-region pass. Only edges touching a region that was small after the threshold pass can join
        /// (sizes only grow): the candidates whose bits include <paramref name="bit"/>. Blocks of equal weight with a
        /// conflict (see the remarks) go in std::sort's order.
        /// </summary>
        private unsafe void SmallRegionPass(Node[] nodes, Candidate[] candidates, int len, byte bit, int small, int minSize)
        {
            int w = _width;
            Span<int> pa = stackalloc int[MaxBlockPairs], pb = stackalloc int[MaxBlockPairs];
            fixed (Node* nd = nodes)
            fixed (Candidate* pc = candidates)
            {
                int i = 0;
                while (i < len)
                {
                    if ((pc[i].Bits & bit) == 0)
                    {
                        i++;
                        continue;
                    }
                    uint key = (uint)(pc[i].Edge >> 32);
                    int j = i + 1;
                    while (j < len && (uint)(pc[j].Edge >> 32) == key) j++;
                    // [i, j): the rest of this weight's block (the edges before i cannot join: see above).
                    // The live pairs (different regions, one of them small) at the block start.
                    int m = 0;
                    bool conflict = false;
                    for (int q = i; q < j; q++)
                    {
                        if ((pc[q].Bits & bit) == 0) continue;
                        ulong eq = pc[q].Edge;
                        int f = (int)((uint)eq >> 1), t = f + (((int)eq & 1) != 0 ? w : 1);
                        int a = Find(nd, f), b = Find(nd, t);
                        if (a == b || (-nd[a].Parent >= minSize && -nd[b].Parent >= minSize)) continue;
                        if (a > b) (a, b) = (b, a);
                        bool dup = false;
                        for (int r = 0; r < m; r++)
                        {
                            if (pa[r] == a && pb[r] == b) { dup = true; break; }
                            if (pa[r] == a || pa[r] == b || pb[r] == a || pb[r] == b) { conflict = true; break; }
                        }
                        if (conflict) break;
                        if (dup) continue;
                        if (m == MaxBlockPairs) { conflict = true; break; }
                        pa[m] = a;
                        pb[m] = b;
                        m++;
                    }
                    if (conflict)
                    {
                        // OpenCV's directed edges of this weight, in its order (duplicates and merged edges are no-ops).
                        ConflictBlocks++;
                        foreach (ulong d in Lazy().Get(key))
                        {
                            int f = (int)((uint)d >> 2);
                            int a = Find(nd, f), b = Find(nd, To(f, (int)(d & 3), w));
                            if (a != b && (-nd[a].Parent < minSize || -nd[b].Parent < minSize))
                            {
                                small -= (-nd[a].Parent < minSize ? 1 : 0) + (-nd[b].Parent < minSize ? 1 : 0);
                                a = Join(nd, a, b);
                                if (-nd[a].Parent < minSize) small++;
                            }
                        }
                        m = 0;
                    }
                    // Disjoint pairs: each joins (one side is small), independently of the others.
                    for (int r = 0; r < m; r++)
                    {
                        int a = pa[r], b = pb[r];
                        small -= (-nd[a].Parent < minSize ? 1 : 0) + (-nd[b].Parent < minSize ? 1 : 0);
                        a = Join(nd, a, b);
                        if (-nd[a].Parent < minSize) small++;
                    }
                    if (small == 0) return;
                    i = j;
                }
            }
        }

        private LibStdSort.LazyByHigh32 Lazy() => _lazy ??= new LibStdSort.LazyByHigh32(BuildEdges(_blurred, _width, _height, _channels));

        private static unsafe int[] Label(Node[] nodes, int n, PerThreadArrays scratch, out int count)
        {
            var labels = new int[n];
            var map = scratch.Get<int>("fh.map", n);
            Array.Clear(map, 0, n);
            int last = 0;
            fixed (Node* nd = nodes)
            fixed (int* lb = labels, mp = map)
            {
                // Raster order: a region's label is its rank by first pixel (map holds label + 1).
                for (int i = 0; i < n; i++)
                {
                    int r = Find(nd, i);
                    int l = mp[r];
                    if (l == 0) mp[r] = l = ++last;
                    lb[i] = l - 1;
                }
            }
            count = last;
            return labels;
        }

        private const int MaxBlockPairs = 64;

        private static int[] Label(int[] parent, int n, out int count)
        {
            var map = new int[n];
            Array.Fill(map, -1);
            var labels = new int[n];
            int last = 0;
            for (int i = 0; i < n; i++)
            {
                int r = Find(parent, i);
                if (map[r] == -1) map[r] = last++;
                labels[i] = map[r];
            }
            count = last;
            return labels;
        }

        private ulong[] ExactEdges()
        {
            if (_exact == null)
            {
                var edges = BuildEdges(_blurred, _width, _height, _channels);
                LibStdSort.SortByHigh32(edges);
                _exact = edges;
            }
            return _exact;
        }

        /// <summary>OpenCV's algorithm step for step, on its directed edges in std::sort order.</summary>
        private int[] SegmentExact(float k, int minSize, out int count)
        {
            int n = _width * _height, w = _width;
            var edges = ExactEdges();
            var parent = new int[n];
            var size = new int[n];
            var thr = new float[n];
            for (int i = 0; i < n; i++)
            {
                parent[i] = i;
                size[i] = 1;
                thr[i] = k;
            }
            // Merged edges get weight 0 in OpenCV, which the small-region pass skips (as it skips edges of weight 0).
            var merged = new bool[edges.Length];
            for (int i = 0; i < edges.Length; i++)
            {
                ulong e = edges[i];
                float wgt = BitConverter.UInt32BitsToSingle((uint)(e >> 32));
                int from = (int)((uint)e >> 2);
                int to = To(from, (int)(e & 3), w);
                int a = Find(parent, from), b = Find(parent, to);
                if (a != b && wgt <= thr[a] && wgt <= thr[b])
                {
                    a = Join(parent, size, a, b);
                    thr[a] = wgt + k / size[a];
                    merged[i] = true;
                }
            }
            for (int i = 0; i < edges.Length; i++)
            {
                ulong e = edges[i];
                if (merged[i] || (e >> 32) == 0) continue;
                int from = (int)((uint)e >> 2);
                int to = To(from, (int)(e & 3), w);
                int a = Find(parent, from), b = Find(parent, to);
                if (a != b && (size[a] < minSize || size[b] < minSize)) Join(parent, size, a, b);
            }
            return Label(parent, n, out count);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int To(int from, int dir, int w) => dir switch { 0 => from - w, 1 => from - 1, 2 => from + w, _ => from + 1 };

        // OpenCV's getBasePoint compresses only the queried element; which element is a root never depends on
        // compression, so full path compression gives the same roots (and so the same thresholds and labels), faster.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int Find(int[] parent, int p)
        {
            int r = p;
            while (r != parent[r]) r = parent[r];
            while (p != r)
            {
                int next = parent[p];
                parent[p] = r;
                p = next;
            }
            return r;
        }

        // OpenCV's joinPoints: the larger set (the first on ties) becomes the root. Returns the root.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int Join(int[] parent, int[] size, int a, int b)
        {
            if (size[a] < size[b]) (a, b) = (b, a);
            parent[b] = a;
            size[a] += size[b];
            return a;
        }
    }

    /// <summary>Each undirected 4-neighbour edge once: low 32 bits p*2 + (0: p→p+1, 1: p→p+w), high 32 bits the weight.</summary>
    private static ulong[] BuildUndirectedEdges(float[] img, int w, int h, int cn)
    {
        long count = 2L * w * h - w - h;
        var edges = new ulong[count];
        int ne = 0;
        for (int i = 0; i < h; i++)
        {
            for (int j = 0; j < w; j++)
            {
                int p = i * w + j;
                int pb = p * cn;
                if (j < w - 1) edges[ne++] = Edge2(img, pb, pb + cn, cn, p, 0);
                if (i < h - 1) edges[ne++] = Edge2(img, pb, pb + w * cn, cn, p, 1);
            }
        }
        return edges;
    }

    // The weight of OpenCV's edge from a to b (its loop computes it from both ends; (x−y)² == (y−x)², so it is symmetric).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Edge2(float[] img, int a, int b, int cn, int from, int dir)
    {
        float total = 0;
        for (int c = 0; c < cn; c++)
        {
            float d = img[a + c] - img[b + c];
            total += d * d;
        }
        float wgt = MathF.Sqrt(total);
        return ((ulong)BitConverter.SingleToUInt32Bits(wgt) << 32) | (uint)(from * 2 + dir);
    }

    /// <summary>Sorts by the high 32 bits (LSD radix, 11-bit digits, stable; digits where all keys agree are skipped).</summary>
    internal static void RadixSortByHigh32(ulong[] a)
    {
        var tmp = PerThreadArrays.For(a.Length / 2).Get<ulong>("radix.tmp", a.Length);
        if (RadixSortByHigh32(a, tmp.AsSpan(0, a.Length))) tmp.AsSpan(0, a.Length).CopyTo(a);
    }

    /// <summary>
    /// <see cref="RadixSortByHigh32(ulong[])"/> with a caller's buffer of the same length; returns true when the sorted
    /// keys ended in <paramref name="tmp"/> (an odd number of digit passes), false when in <paramref name="a"/>.
    /// </summary>
    internal static unsafe bool RadixSortByHigh32(Span<ulong> a, Span<ulong> tmp)
    {
        int n = a.Length;
        if (n <= 1) return false;
        if (tmp.Length < n) throw new ArgumentException("buffer too short", nameof(tmp));
        const int Bits = 11, Buckets = 1 << Bits;
        var countsArray = new int[3 * Buckets];
        bool swapped = false;
        fixed (int* counts = countsArray)
        fixed (ulong* pa = a, pt = tmp)
        {
            for (int i = 0; i < n; i++)
            {
                uint key = (uint)(pa[i] >> 32);
                counts[key & (Buckets - 1)]++;
                counts[Buckets + ((key >> Bits) & (Buckets - 1))]++;
                counts[2 * Buckets + (key >> (2 * Bits))]++;
            }
            ulong* src = pa, dst = pt;
            for (int d = 0; d < 3; d++)
            {
                if (!RadixPass(src, dst, n, counts + d * Buckets, Buckets, new BitsDigit(32 + d * Bits, Buckets - 1))) continue;
                ulong* t2 = src;
                src = dst;
                dst = t2;
                swapped = !swapped;
            }
        }
        return swapped;
    }

    /// <summary>How <see cref="RadixPass"/> reads a key's digit (a struct, so each digit gets its own code).</summary>
    internal interface IRadixDigit
    {
        uint Of(ulong key);
    }

    /// <summary>The digit <c>(key &gt;&gt; shift) &amp; mask</c>.</summary>
    private readonly struct BitsDigit(int shift, uint mask) : IRadixDigit
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public uint Of(ulong key) => (uint)(key >> shift) & mask;
    }

    /// <summary>
    /// One stable LSD radix pass: <paramref name="src"/>[0..n) scattered into <paramref name="dst"/> by digit, given
    /// the digit counts in <paramref name="counts"/>[0..buckets) (turned into offsets). Returns false, moving nothing,
    /// when every key has the same digit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe bool RadixPass<TDigit>(ulong* src, ulong* dst, int n, int* counts, int buckets, TDigit digit)
        where TDigit : struct, IRadixDigit
    {
        if (counts[digit.Of(src[0])] == n) return false;
        int sum = 0;
        for (int b = 0; b < buckets; b++)
        {
            int t = counts[b];
            counts[b] = sum;
            sum += t;
        }
        for (int i = 0; i < n; i++)
        {
            ulong v = src[i];
            dst[counts[digit.Of(v)]++] = v;
        }
        return true;
    }

    private static ulong[] BuildEdges(float[] img, int w, int h, int cn)
    {
        // Per pixel, in OpenCV's loop order: up, left, down, right (only those inside the image).
        long count = 4L * w * h - 2L * w - 2L * h;
        var edges = new ulong[count];
        int ne = 0;
        for (int i = 0; i < h; i++)
        {
            for (int j = 0; j < w; j++)
            {
                int p = i * w + j;
                int pb = p * cn;
                if (i > 0) edges[ne++] = Edge(img, pb, (p - w) * cn, cn, p, 0);
                if (j > 0) edges[ne++] = Edge(img, pb, (p - 1) * cn, cn, p, 1);
                if (i < h - 1) edges[ne++] = Edge(img, pb, (p + w) * cn, cn, p, 2);
                if (j < w - 1) edges[ne++] = Edge(img, pb, (p + 1) * cn, cn, p, 3);
            }
        }
        return edges;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Edge(float[] img, int a, int b, int cn, int from, int dir)
    {
        float total = 0;
        for (int c = 0; c < cn; c++)
        {
            float d = img[a + c] - img[b + c];
            total += d * d;
        }
        float wgt = MathF.Sqrt(total);
        return ((ulong)BitConverter.SingleToUInt32Bits(wgt) << 32) | (uint)(from * 4 + dir);
    }

    // The same formulas 8 lanes at a time (FMA is fused in both, so every element is bit-identical). Return the
    // first element left to the scalar loop.
    private static unsafe int RowPassSimd(float[] padded, float[] kx, int cn, Span<float> dst)
    {
        if (!Fma.IsSupported) return 0;
        int len = dst.Length, ksize = kx.Length, i = 0;
        fixed (float* p = padded, k = kx, d = dst)
        {
            for (; i <= len - 8; i += 8)
            {
                var acc = Avx.Multiply(Avx.LoadVector256(p + i), Vector256.Create(k[0]));
                for (int t = 1; t < ksize; t++) acc = Fma.MultiplyAdd(Avx.LoadVector256(p + i + t * cn), Vector256.Create(k[t]), acc);
                Avx.Store(d + i, acc);
            }
        }
        return i;
    }

    private static unsafe int ColumnPassSimd(float[] rows, float[] outp, int[] ymap, int y, int k2, int rowLen, float[] kx)
    {
        if (!Fma.IsSupported) return 0;
        int i = 0;
        fixed (float* r = rows, o = outp, k = kx)
        {
            float* c = r + ymap[y + k2] * rowLen, dst = o + y * rowLen;
            for (; i <= rowLen - 8; i += 8)
            {
                var acc = Avx.Multiply(Avx.LoadVector256(c + i), Vector256.Create(k[k2]));
                for (int t = 1; t <= k2; t++)
                {
                    var pair = Avx.Add(Avx.LoadVector256(r + ymap[y + k2 + t] * rowLen + i), Avx.LoadVector256(r + ymap[y + k2 - t] * rowLen + i));
                    acc = Fma.MultiplyAdd(pair, Vector256.Create(k[k2 + t]), acc);
                }
                Avx.Store(dst + i, acc);
            }
        }
        return i;
    }

    /// <summary>OpenCV's <c>getGaussianKernel(n, sigma, CV_32F)</c>.</summary>
    internal static float[] GaussianKernel(int n, double sigma)
    {
        var cd = new double[n];
        double sigmaX = sigma > 0 ? sigma : ((n - 1) * 0.5 - 1) * 0.3 + 0.8;
        double scale2X = -0.5 / (sigmaX * sigmaX);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double x = i - (n - 1) * 0.5;
            cd[i] = Math.Exp(scale2X * x * x);
            sum += cd[i];
        }
        sum = 1.0 / sum;
        var k = new float[n];
        for (int i = 0; i < n; i++) k[i] = (float)(cd[i] * sum);
        return k;
    }

    internal static int Reflect101(int p, int len)
    {
        if (len == 1) return 0;
        while ((uint)p >= (uint)len)
        {
            if (p < 0) p = -p;
            else p = 2 * len - 2 - p;
        }
        return p;
    }

    /// <summary>
    /// <c>GaussianBlur(src→CV_32F, Size(0,0), sigma, sigma, BORDER_REFLECT_101)</c> as OpenCV 4.6 computes it on an
    /// AVX2/FMA machine: a row pass (FMA chain over the kernel taps, in tap order, starting from tap0·x) and a symmetric
    /// column pass (centre tap product, then FMA of each (below+above) pair). GCC contracts OpenCV's SSE and scalar tails
    /// to FMA as well, so every output element follows the same formula (bit-exact on the fixture images).
    /// </summary>
    internal static float[] GaussianBlurF32(OcvImage image, double sigma)
    {
        int w = image.Width, h = image.Height, cn = image.Channels;
        int ksize = (int)Math.Round(sigma * 4 * 2 + 1, MidpointRounding.ToEven) | 1; // float depth: cvRound(sigma*8+1)|1
        var kx = GaussianKernel(ksize, sigma);
        int anchor = ksize / 2;
        int rowLen = w * cn;
        var src = image.Data;
        // Row pass into a full float buffer.
        var rows = new float[h * rowLen];
        var padded = new float[(w + ksize - 1) * cn];
        var xmap = new int[w + ksize - 1];
        for (int x = 0; x < xmap.Length; x++) xmap[x] = Reflect101(x - anchor, w);
        for (int y = 0; y < h; y++)
        {
            int so = y * rowLen;
            for (int x = 0; x < xmap.Length; x++)
            {
                int s = so + xmap[x] * cn, d = x * cn;
                for (int c = 0; c < cn; c++) padded[d + c] = src[s + c];
            }
            var dst = rows.AsSpan(so, rowLen);
            int i0 = RowPassSimd(padded, kx, cn, dst);
            for (int i = i0; i < rowLen; i++)
            {
                float acc = padded[i] * kx[0];
                for (int t = 1; t < ksize; t++) acc = MathF.FusedMultiplyAdd(padded[i + t * cn], kx[t], acc);
                dst[i] = acc;
            }
        }
        // Column pass (symmetric kernel).
        var outp = new float[h * rowLen];
        int k2 = ksize / 2;
        var ymap = new int[h + 2 * k2];
        for (int y = 0; y < ymap.Length; y++) ymap[y] = Reflect101(y - k2, h);
        for (int y = 0; y < h; y++)
        {
            int c0 = ymap[y + k2] * rowLen;
            int o = y * rowLen;
            for (int i = ColumnPassSimd(rows, outp, ymap, y, k2, rowLen, kx); i < rowLen; i++)
            {
                float acc = rows[c0 + i] * kx[k2];
                for (int t = 1; t <= k2; t++)
                {
                    float pair = rows[ymap[y + k2 + t] * rowLen + i] + rows[ymap[y + k2 - t] * rowLen + i];
                    acc = MathF.FusedMultiplyAdd(pair, kx[k2 + t], acc);
                }
                outp[o + i] = acc;
            }
        }
        return outp;
    }
}
