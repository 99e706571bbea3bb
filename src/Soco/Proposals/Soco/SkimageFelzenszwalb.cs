using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Soco.Imaging;
using Soco.Proposals.OpenCv;

namespace Soco.Proposals.SocoSearch;

/// <summary>A segment label map: <see cref="Labels"/>[y·Width + x] in 0…<see cref="Count"/>−1.</summary>
public sealed class SegmentLabels
{
    public SegmentLabels(int width, int height, int[] labels, int count)
    {
        Width = width;
        Height = height;
        Labels = labels;
        Count = count;
    }

    public int Width { get; }
    public int Height { get; }
    public int[] Labels { get; }
    public int Count { get; }
}

/// <summary>How the Felzenszwalb edge list is ordered.</summary>
public enum EdgeSortMode
{
    /// <summary>
    /// Fast value sort, with a check that the order of equal-weight edges cannot change the result; when it could,
    /// the exact NumPy order is computed instead. Same labels as <see cref="NumpyExact"/>.
    /// </summary>
    Auto,

    /// <summary>Always reproduce <c>numpy.argsort</c>'s (introsort) permutation.</summary>
    NumpyExact,
}

/// <summary>
/// <c>skimage.segmentation.felzenszwalb(img_as_float(img), scale, sigma, min_size)</c> of scikit-image 0.19 for an
/// RGB uint8 image, label for label: 8-connected grid graph on the Gaussian-smoothed image (scipy 'reflect'),
/// Euclidean RGB edge weights, NumPy's argsort order, the float32 thresholds of the Cython code, the min-size
/// post-pass, labels numbered by first occurrence in raster order (<c>np.unique(roots, return_inverse=True)</c>, the
/// Cython code's root being a component's smallest pixel index). The merges depend only on the components, their
/// sizes and thresholds, never on which pixel is a root, so the union-find here links by size (shallower trees) and
/// numbers the components by first occurrence itself (<see cref="Relabel"/>): the same label map.
/// </summary>
public static class SkimageFelzenszwalb
{
    /// <summary>How often <see cref="EdgeSortMode.Auto"/> had to fall back to the exact NumPy order (diagnostics).</summary>
    public static long ExactSortFallbacks => Interlocked.Read(ref _fallbacks);
    private static long _fallbacks;

    // Auto relies on float32(w + k/size) > w for every component merged at weight w, so that the first pass does not
    // depend on the order of equal weights. Weights are at most sqrt(3) (RGB in [0, 1]) and float32 rounding loses
    // at most 2^-24 relative, so k/size > 2.1e-7 suffices; size <= pixel count, and 4e-7 leaves a margin.
    private const double AutoMinKPerPixel = 4e-7;

    // A key's payload must leave the float64 weight's sign, exponent and at least 23 mantissa bits (float32's), so
    // that comparing a key with a float32 threshold's pattern decides `weight < threshold` exactly (KeyEdges.Below).
    private const int MaxPayloadBits = 30;

    public static SegmentLabels Segment(RgbImage image, double scale = 1, double sigma = 0.8, int minSize = 20,
        EdgeSortMode sortMode = EdgeSortMode.Auto) => Segment(image, scale, sigma, minSize, sortMode, pooledLabels: false);

    /// <summary>
    /// With <paramref name="pooledLabels"/>, the label map is this thread's workspace buffer (possibly longer than
    /// the image), valid until the thread's next segmentation: for callers that drop it before (the proposal search),
    /// so that a worker does not allocate a label map per image.
    /// </summary>
    internal static SegmentLabels Segment(RgbImage image, double scale, double sigma, int minSize, EdgeSortMode sortMode,
        bool pooledLabels)
    {
        int w = image.Width, h = image.Height, n = w * h;
        var ws = Workspace.Get(n);
        var smooth = new Planes(Smooth(image, sigma, ws), w, n);
        int m = EdgeCount(w, h);
        double k = scale / 255.0;
        var forest = ws.Forest(n);
        var size = ws.Size(n);
        var thr = ws.Thr(n);
        bool exact = sortMode == EdgeSortMode.NumpyExact || !(k / n > AutoMinKPerPixel);
        // Payload bits of a key (edge ids < 4n). Auto applies only below k / 4e-7 pixels (< 3 M for SoCo's k), far
        // below the 2^28 pixels at which the payload would reach into the weight's 23 float32-significant bits.
        int payloadBits = 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, 4 * n - 1));
        if (!exact && payloadBits <= MaxPayloadBits)
        {
            // One 8-byte key per edge: the float64 weight's bit pattern (which orders like the weight, weights being
            // >= 0) without its sign bit, its low bits replaced by the edge id. Sorted by the key's high 32 bits
            // (radix), then by the whole key inside runs of equal high bits, then by the exact weight inside runs of
            // equal truncated weight: the edges end in float64 weight order without a gather of the weights.
            var keys = ws.Keys(m);
            if (BuildKeys(smooth, w, h, keys, payloadBits))
            {
                int sorted27 = RadixSortKeys(keys.AsSpan(0, m), ws.KeysB(m).AsSpan(0, m), out int prefix);
                if (sorted27 < 0)
                {
                    if (GraphSegmentation.RadixSortByHigh32(keys.AsSpan(0, m), ws.KeysB(m))) keys = ws.KeysB(m);
                }
                else
                {
                    if (sorted27 == 1) keys = ws.KeysB(m);
                    if (prefix > 1) keys.AsSpan(0, prefix).Sort(); // zero (and below 2^-62) weights: by key
                }
                var sorted = new KeyEdges(keys, payloadBits, smooth);
                SortByExactWeight(sorted, m, ws);
                exact = !Run(sorted, m, n, forest, size, thr, ws, w, k, minSize, checkTies: true);
            }
            else exact = true; // a weight below 2^-1000 (never seen): its key would not order it
            if (exact) Interlocked.Increment(ref _fallbacks);
        }
        else exact = true;
        if (exact)
        {
            // the keys' two buffers hold the weights and the payloads: the fall-back needs no memory of its own
            var (weights, payloads) = (ws.Keys(m), ws.KeysB(m));
            var v = MemoryMarshal.Cast<ulong, double>(weights.AsSpan(0, m));
            var id = MemoryMarshal.Cast<ulong, int>(payloads.AsSpan())[..m];
            BuildEdges(smooth, w, h, v, id);
            NumpyArgsort.Sort(v, id);
            Run(new ExactEdges(weights, payloads), m, n, forest, size, thr, ws, w, k, minSize, checkTies: false);
        }
        // size[] is free after Run: it holds the label of each root while relabelling
        return Relabel(forest, w, h, pooledLabels ? ws.Labels(n) : new int[n], size);
    }

    internal static int EdgeCount(int w, int h) => h * (w - 1) + (h - 1) * w + 2 * (h - 1) * (w - 1);

    /// <summary>
    /// Per-thread reusable buffers (one image per thread; large arrays are not re-faulted per image). About 140 bytes
    /// a pixel of the largest image so far, with 1.25× headroom (the fall-back to the exact order writes over the keys'
    /// buffers); images above <see cref="RetainMaxPixels"/> get throwaway buffers of their own size, so that a thread
    /// does not keep hundreds of MB after one huge photo.
    /// </summary>
    internal sealed class Workspace
    {
        internal const int RetainMaxPixels = 1 << 20;

        [ThreadStatic] private static Workspace? _current;

        /// <summary>
        /// The calling thread's workspace for an image of <paramref name="pixels"/> pixels (0: as it is). An image larger
        /// than the buffers were last sized for (with <see cref="PerThreadArrays.Grown{T}"/>'s headroom) drops them all
        /// before any is grown again, and the dropped memory is handed back first
        /// (<see cref="PerThreadArrays.ReleaseDropped"/>); otherwise each larger buffer would be allocated while the
        /// smaller one still held its memory, until a full collection long after (docs/scale.md, "Peak memory of
        /// selective search").
        /// </summary>
        public static Workspace Get(int pixels = 0)
        {
            if (pixels > RetainMaxPixels) return new Workspace { _pixels = pixels }; // buffers of exactly this image's size
            var ws = _current ??= new Workspace();
            if (pixels > ws._pixels) ws.Resize(pixels);
            return ws;
        }

        private int _pixels; // the largest image the buffers are meant for (0: none yet)

        private void Resize(int pixels)
        {
            long dropped = Drop(ref _src) + Drop(ref _tmp) + Drop(ref _dst) + Drop(ref _tieW) + Drop(ref _thr) + Drop(ref _keys) +
                           Drop(ref _keysB) + Drop(ref _marks) + Drop(ref _forest) + Drop(ref _size) +
                           Drop(ref _cand) + Drop(ref _labels) + Drop(ref _small) + Drop(ref _codes0) + Drop(ref _codes1) +
                           Drop(ref _codes2) + Drop(ref _padded);
            _pixels = pixels + pixels / 4;
            PerThreadArrays.ReleaseDropped(dropped);
        }

        private static unsafe long Drop<T>(ref T[] a) where T : unmanaged
        {
            long bytes = (long)a.Length * sizeof(T);
            a = [];
            return bytes;
        }

        private double[] _src = [], _tmp = [], _dst = [], _tieW = [];
        private float[] _thr = [];
        private ulong[] _keys = [], _keysB = [], _marks = [];
        private int[] _forest = [], _size = [], _cand = [], _labels = [];
        private byte[] _small = [], _codes0 = [], _codes1 = [], _codes2 = [];
        private double[] _padded = [];

        // A buffer is allocated for the largest image the workspace is sized for (perPixel elements a pixel, >> shift):
        // the buffers a later, smaller image needs first do not grow again. An
        // image whose needs exceed that (a very thin one) grows it with the OpenCV port's headroom.
        private T[] Ensure<T>(ref T[] a, int n, int perPixel, int shift = 0)
        {
            if (a.Length < n)
            {
                long forSize = ((long)perPixel * _pixels >> shift) + 1;
                a = n <= forSize ? GC.AllocateUninitializedArray<T>((int)forSize) : PerThreadArrays.Grown<T>(n);
            }
            return a;
        }

        public double[] Src(int n) => Ensure(ref _src, n, 3);
        public double[] Tmp(int n) => Ensure(ref _tmp, n, 1);
        public double[] Dst(int n) => Ensure(ref _dst, n, 3);
        public float[] Thr(int n) => Ensure(ref _thr, n, 1);
        public ulong[] Keys(int n) => Ensure(ref _keys, n, 4);
        public double[] TieWeights(int n) => Ensure(ref _tieW, n, 0); // a run of tied keys: short
        public ulong[] KeysB(int n) => Ensure(ref _keysB, n, 4);
        public int[] Forest(int n) => Ensure(ref _forest, n, 1);
        public int[] Size(int n) => Ensure(ref _size, n, 1);
        public int[] Candidates(int n) => Ensure(ref _cand, n, 4);
        public ulong[] Marks(int n) => Ensure(ref _marks, n, 4, 6);
        public byte[] Small(int n) => Ensure(ref _small, n, 1);
        public int[] Labels(int n) => Ensure(ref _labels, n, 1);
        public double[] Padded(int n) => Ensure(ref _padded, n, 1);
        public byte[][] Codes(int n) => [Ensure(ref _codes0, n, 1), Ensure(ref _codes1, n, 1), Ensure(ref _codes2, n, 1)];
    }

    /// <summary>
    /// img_as_float (x · (1/255)) then the scipy Gaussian on both spatial axes, as three planes (plane c at c·W·H:
    /// see <see cref="Planes"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static double[] Smooth(RgbImage image, double sigma, Workspace? ws = null)
    {
        int w = image.Width, h = image.Height, n = w * h;
        ws ??= Workspace.Get(n);
        Span<double> lut = stackalloc double[256];
        double inv = 1.0 / 255;
        for (int v = 0; v < 256; v++) lut[v] = v * inv;
        var px = image.Pixels;
        if (!(sigma > 1e-15))
        {
            var src = ws.Src(3 * n);
            for (int p = 0, i = 0; p < n; p++, i += 3)
            {
                src[p] = lut[px[i]];
                src[n + p] = lut[px[i + 1]];
                src[2 * n + p] = lut[px[i + 2]];
            }
            return src;
        }
        var dst = ws.Dst(3 * n);
        ScipyGaussian.FilterRgb(px, lut, dst, ws.Tmp(n), w, h, ScipyGaussian.HalfKernel(sigma));
        return dst;
    }

    // Edge payload: p·4 + type; type 0 right (p+1, p), 1 down (p+W, p), 2 down-right (p+W+1, p),
    // 3 up-right (p+1, p+W). The array order is skimage's hstack order: all right, all down, all dright, all uright.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void BuildEdges(Planes img, int w, int h, Span<double> v, Span<int> payload)
    {
        int k = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                v[k] = img.Dist(p + 1, p);
                payload[k++] = p * 4;
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w; x++)
            {
                int p = y * w + x;
                v[k] = img.Dist(p + w, p);
                payload[k++] = p * 4 + 1;
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                v[k] = img.Dist(p + w + 1, p);
                payload[k++] = p * 4 + 2;
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                // image[1:, :w-1] - image[:h-1, 1:]
                v[k] = img.Dist(p + w, p + 1);
                payload[k++] = p * 4 + 3;
            }
    }

    /// <summary>The smoothed image as three planes (plane c at c·<see cref="N"/>) and its width.</summary>
    internal readonly struct Planes(double[] data, int width, int pixels)
    {
        public double[] Data => data;
        public int W => width;
        public int N => pixels;

        /// <summary>The Euclidean RGB distance of pixels a and b, in skimage's operation order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double Dist(int a, int b)
        {
            int n = pixels;
            double d0 = data[a] - data[b], d1 = data[n + a] - data[n + b], d2 = data[2 * n + a] - data[2 * n + b];
            return Math.Sqrt(d0 * d0 + d1 * d1 + d2 * d2);
        }

        /// <summary>The weight of the edge <paramref name="payload"/> (see <see cref="BuildEdges"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double PayloadDist(int payload)
        {
            // the same pixel pairs as BuildKeys' offsets, spelled out: a table lookup here, inside the union-find
            // loops, measured 2-3 % slower
            int p = payload >> 2, w = width;
            return (payload & 3) switch
            {
                0 => Dist(p + 1, p),
                1 => Dist(p + w, p),
                2 => Dist(p + w + 1, p),
                _ => Dist(p + w, p + 1),
            };
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ends(int payload, ReadOnlySpan<int> offA, ReadOnlySpan<int> offB, out int a, out int b)
    {
        int p = payload >> 2, t = payload & 3;
        a = p + offA[t];
        b = p + offB[t];
    }

    // skimage's find_root walks without compression and join_trees only relinks the two roots, so its trees get
    // deep. Here path halving and union by size keep them shallow (1.9 reads per lookup on the benchmark photos); the
    // components, and so the labels, are the same.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindRoot(int[] forest, int n)
    {
        while (true)
        {
            int parent = forest[n];
            if (parent == n) return n;
            int grand = forest[parent];
            forest[n] = grand;
            n = grand;
        }
    }

    /// <summary>The sorted edge list as <see cref="Run{TEdges}"/> reads it (a struct, so each layout gets its own code).</summary>
    private interface IEdges
    {
        int Payload(int e);

        /// <summary>The float64 weight is below the float32 threshold <paramref name="mn"/>.</summary>
        bool Below(int e, float mn);

        /// <summary>float32(weight + <paramref name="c"/>), the Cython threshold after a merge at this edge.</summary>
        float Threshold(int e, double c);

        bool SameWeight(int e, int f);
    }

    /// <summary>
    /// The float64 weights (as bits) and the payloads (int32, two to a ulong) in the exact NumPy order: the fall-back
    /// order, written over the keys' two buffers.
    /// </summary>
    private readonly struct ExactEdges(ulong[] weightBits, ulong[] payloads) : IEdges
    {
        private double W(int e) => BitConverter.UInt64BitsToDouble(weightBits[e]);
        public int Payload(int e) => MemoryMarshal.Cast<ulong, int>(payloads.AsSpan())[e];
        public bool Below(int e, float mn) => W(e) < mn;
        public float Threshold(int e, double c) => (float)(W(e) + c);
        public bool SameWeight(int e, int f) => W(e) == W(f);
    }

    /// <summary>
    /// Keys (the float64 weight's bits without the sign bit, the low <c>payloadBits</c> replaced by the edge id) in
    /// weight order. The exact weight is recomputed from the smoothed image (<see cref="Planes.PayloadDist"/>) in the rare
    /// cases where the truncated one cannot decide.
    /// </summary>
    private readonly struct KeyEdges(ulong[] keys, int payloadBits, Planes smooth) : IEdges
    {
        private readonly ulong _low = (1UL << payloadBits) - 1;
        public ulong[] Keys => keys;
        public int PayloadBits => payloadBits;
        public ulong LowMask => _low;
        public Planes Smooth => smooth;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Payload(int e) => (int)(keys[e] & _low);

        // The float32 threshold as a double has >= 29 low zero mantissa bits, so its pattern << 1 has >= 30 low zero
        // bits: with <= 30 payload bits, key < pattern exactly when the truncated weight, and so the weight, is below.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Below(int e, float mn) => keys[e] < BitConverter.DoubleToUInt64Bits(mn) << 1;

        // The weight lies in [lo, hi] (the truncated pattern with its dropped bits all 0 / all 1). Addition and
        // rounding are monotone, so when both ends give the same float32 the weight does too (all but ~2^-9 merges).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Threshold(int e, double c)
        {
            ulong key = keys[e];
            ulong lo = (key & ~_low) >> 1;
            float a = (float)(BitConverter.UInt64BitsToDouble(lo) + c);
            float b = (float)(BitConverter.UInt64BitsToDouble(lo | (_low >> 1)) + c);
            return a == b ? a : (float)(smooth.PayloadDist((int)(key & _low)) + c);
        }

        public bool SameWeight(int e, int f) =>
            ((keys[e] ^ keys[f]) & ~_low) == 0
            && smooth.PayloadDist((int)(keys[e] & _low)) == smooth.PayloadDist((int)(keys[f] & _low));
    }

    /// <summary>
    /// Both passes of the Cython loop over the first <paramref name="m"/> sorted edges. With
    /// <paramref name="checkTies"/>, returns false (result unusable) when a run of equal-weight edges in the
    /// min-size pass holds two or more edges that could merge, because only then can the order inside the run change
    /// the outcome (the first pass is order-independent inside a run of ties: a component merged at weight w gets
    /// the threshold float32(w + k/size) &gt; w, so every edge of the run between components whose threshold exceeds
    /// w merges, whatever the order).
    /// </summary>
    /// <remarks>
    /// The Cython code computes float32(cint[root] + k/size[root]) for both roots at every edge; both only change when
    /// the root merges, so <paramref name="thr"/> holds that value per root, computed at the merge (the same value,
    /// and no division or float64 lookup per edge).
    /// </remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static bool Run<TEdges>(TEdges edges, int m, int n, int[] forest, int[] size, float[] thr,
        Workspace ws, int w, double k, int minSize, bool checkTies) where TEdges : struct, IEdges
    {
        float thr0 = (float)(0.0 + k / 1);
        for (int i = 0; i < n; i++) { forest[i] = i; size[i] = 1; thr[i] = thr0; }
        // endpoint offsets by edge type (see BuildEdges): a = p + offA[t], b = p + offB[t]
        Span<int> offA = [1, w, w + 1, 1];
        Span<int> offB = [0, 0, 0, w];
        for (int e = 0; e < m; e++)
        {
            Ends(edges.Payload(e), offA, offB, out int a, out int b);
            int seg0 = FindRoot(forest, a);
            int seg1 = FindRoot(forest, b);
            if (seg0 == seg1) continue;
            // cdef float inner_cost0, inner_cost1
            float ic0 = thr[seg0], ic1 = thr[seg1];
            float mn = ic1 < ic0 ? ic1 : ic0;
            if (edges.Below(e, mn))
            {
                int root = size[seg0] >= size[seg1] ? seg0 : seg1; // union by size
                forest[seg0 ^ seg1 ^ root] = root;
                int sz = size[seg0] + size[seg1];
                size[root] = sz;
                thr[root] = edges.Threshold(e, k / sz);
            }
        }

        // Min-size pass. Only edges between different components with a small side can ever merge (components only
        // grow), so the pass runs over those candidates, in sorted order. Flatten the forest first (roots unchanged).
        var small = ws.Small(n);
        for (int p = 0; p < n; p++)
        {
            int f = FindRoot(forest, p);
            forest[p] = f;
            small[p] = size[f] < minSize ? (byte)1 : (byte)0;
        }
        var cand = ws.Candidates(m);
        int nc = 0;
        {
            // Mark the candidate edges by payload, walking the (few) pixels of small components in raster order, then
            // keep the marked edges in sorted order: one bit test per edge instead of two flag and two root lookups.
            int h = n / w;
            var marks = ws.Marks((4 * n + 63) >> 6);
            Array.Clear(marks, 0, (4 * n + 63) >> 6);
            for (int sp = 0, y = 0; y < h; y++)
                for (int x = 0; x < w; x++, sp++)
                {
                    if (small[sp] == 0) continue;
                    int r = forest[sp];
                    bool left = x > 0, right = x < w - 1, up = y > 0, down = y < h - 1;
                    if (right) Mark(marks, forest, r, sp * 4 + 0, sp + 1);
                    if (left) Mark(marks, forest, r, (sp - 1) * 4 + 0, sp - 1);
                    if (down) Mark(marks, forest, r, sp * 4 + 1, sp + w);
                    if (up) Mark(marks, forest, r, (sp - w) * 4 + 1, sp - w);
                    if (right && down) Mark(marks, forest, r, sp * 4 + 2, sp + w + 1);
                    if (left && up) Mark(marks, forest, r, (sp - w - 1) * 4 + 2, sp - w - 1);
                    if (left && down) Mark(marks, forest, r, (sp - 1) * 4 + 3, sp - 1 + w);
                    if (right && up) Mark(marks, forest, r, (sp - w) * 4 + 3, sp - w + 1);
                }
            // blocks of 64 edges: the bit lookups are independent of each other, the few hits extracted after
            for (int e0 = 0; e0 < m; e0 += 64)
            {
                int end = Math.Min(m, e0 + 64);
                ulong hits = 0;
                for (int e = e0; e < end; e++)
                {
                    int pl = edges.Payload(e);
                    hits |= ((marks[pl >> 6] >> (pl & 63)) & 1) << (e - e0);
                }
                while (hits != 0)
                {
                    cand[nc++] = e0 + System.Numerics.BitOperations.TrailingZeroCount(hits);
                    hits &= hits - 1;
                }
            }
        }
        for (int c = 0; c < nc; c++)
        {
            int e = cand[c];
            if (checkTies && c + 1 < nc && edges.SameWeight(cand[c + 1], e)
                && (c == 0 || !edges.SameWeight(cand[c - 1], e)))
            {
                // start of a run of ties: count edges that could merge
                int active = 0;
                for (int f = c; f < nc && (f == c || edges.SameWeight(cand[f], e)); f++)
                {
                    Ends(edges.Payload(cand[f]), offA, offB, out int fa, out int fb);
                    int r0 = FindRoot(forest, fa), r1 = FindRoot(forest, fb);
                    if (r0 != r1 && (size[r0] < minSize || size[r1] < minSize) && ++active >= 2) return false;
                }
            }
            Ends(edges.Payload(e), offA, offB, out int a, out int b);
            int seg0 = FindRoot(forest, a);
            int seg1 = FindRoot(forest, b);
            if (seg0 == seg1) continue;
            if (size[seg0] < minSize || size[seg1] < minSize)
            {
                int root = size[seg0] >= size[seg1] ? seg0 : seg1;
                forest[seg0 ^ seg1 ^ root] = root;
                size[root] = size[seg0] + size[seg1];
            }
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mark(ulong[] marks, int[] forest, int root, int payload, int other)
    {
        if (forest[other] != root) marks[payload >> 6] |= 1UL << (payload & 63);
    }

    /// <summary>
    /// Labels numbered by first occurrence in raster order (skimage's, whose roots are the smallest pixel index of
    /// each component); <paramref name="lab"/> (≥ W·H, overwritten) holds each root's label.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static SegmentLabels Relabel(int[] forest, int w, int h, int[] labels, int[] lab)
    {
        int n = w * h;
        lab.AsSpan(0, n).Fill(-1);
        int count = 0;
        for (int p = 0; p < n; p++)
        {
            int r = FindRoot(forest, p);
            int l = lab[r];
            if (l < 0) lab[r] = l = count++;
            labels[p] = l;
        }
        return new SegmentLabels(w, h, labels, count);
    }

    /// <summary>
    /// Keys sorted by their high 32 bits become sorted by the float64 weight: runs of equal high bits are sorted by the
    /// whole key (the rest of the truncated weight, then the edge id), and runs of equal truncated weight, when their
    /// exact weights differ, by the exact weight (equal weights may stay in any order: see <see cref="Run{TEdges}"/>).
    /// A zero truncated weight is an exact 0 (<see cref="BuildKeys"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void SortByExactWeight(KeyEdges edges, int n, Workspace ws)
    {
        var a = edges.Keys;
        ulong low = edges.LowMask;
        for (int i = 0; ;)
        {
            // most keys differ from both neighbours in their high 32 bits: skip to the next run of two or more
            int j = NextSameHigh(a, i + 1, n);
            if (j >= n) return;
            i = j - 1;
            ulong hi = a[i] >> 32;
            bool sorted = true, sameWeight = false;
            while (j < n && (a[j] >> 32) == hi)
            {
                if (a[j] < a[j - 1]) sorted = false;
                else if (((a[j] ^ a[j - 1]) & ~low) == 0) sameWeight = true;
                j++;
            }
            if (!sorted)
            {
                a.AsSpan(i, j - i).Sort();
                sameWeight = false;
                for (int t = i + 1; t < j; t++)
                    if (((a[t] ^ a[t - 1]) & ~low) == 0) { sameWeight = true; break; }
            }
            if (sameWeight) SortTiesExactly(edges, i, j, ws);
            i = j;
        }
    }

    /// <summary>The first j &gt;= <paramref name="from"/> (&gt;= 1) whose key has the high 32 bits of key j − 1; n when none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int NextSameHigh(ulong[] keys, int from, int n)
    {
        int j = from;
        if (n > keys.Length) throw new ArgumentOutOfRangeException(nameof(n));
        fixed (ulong* a = keys)
        {
            if (Vector256.IsHardwareAccelerated && j >= 1)
                for (; j <= n - 4; j += 4)
                {
                    var diff = (Vector256.Load(a + j) ^ Vector256.Load(a + j - 1)) >> 32;
                    if (Vector256.EqualsAny(diff, Vector256<ulong>.Zero)) break;
                }
            for (; j < n; j++)
                if (((a[j] ^ a[j - 1]) >> 32) == 0) return j;
        }
        return n;
    }

    /// <summary>Inside <c>a[i..j)</c> (sorted by key), each run of equal truncated non-zero weight is put in exact weight order.</summary>
    private static void SortTiesExactly(KeyEdges edges, int i, int j, Workspace ws)
    {
        var a = edges.Keys;
        ulong low = edges.LowMask;
        for (int s = i; s < j;)
        {
            int t = s + 1;
            while (t < j && ((a[t] ^ a[s]) & ~low) == 0) t++;
            if (t - s >= 2 && (a[s] & ~low) != 0)
            {
                var wts = ws.TieWeights(t - s);
                bool ordered = true;
                for (int q = s; q < t; q++)
                {
                    wts[q - s] = edges.Smooth.PayloadDist((int)(a[q] & low));
                    if (q > s && wts[q - s] < wts[q - s - 1]) ordered = false;
                }
                if (!ordered) wts.AsSpan(0, t - s).Sort(a.AsSpan(s, t - s));
            }
            s = t;
        }
    }

    /// <summary>
    /// Each edge's key, in <see cref="BuildEdges"/>' order (see <see cref="KeyEdges"/>). False when a non-zero weight
    /// truncates to zero (below 2^-1000: not possible for image differences, but then the keys would not order it).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool BuildKeys(Planes img, int w, int h, ulong[] keys, int payloadBits)
    {
        ulong high = ~((1UL << payloadBits) - 1);
        bool ok = true;
        int k = 0, n = img.N;
        if (keys.Length < EdgeCount(w, h) || img.Data.Length < 3 * n) throw new ArgumentException("buffer too short");
        fixed (double* d = img.Data)
        fixed (ulong* pk = keys)
        {
            double* r = d, g = d + n, b = d + 2 * n;
            var vHigh = Vector256.Create(high);
            var lanes = Vector256.Create(0UL, 4, 8, 12);
            var bad = Vector256<ulong>.Zero;
            for (int t = 0; t < 4; t++)
            {
                int rows = t == 0 ? h : h - 1, cols = t == 1 ? w : w - 1;
                // the two pixels of Planes.PayloadDist's Dist, relative to p
                int offA = t switch { 0 => 1, 1 => w, 2 => w + 1, _ => w };
                int offB = t == 3 ? 1 : 0;
                for (int y = 0; y < rows; y++)
                {
                    int x = 0, row = y * w;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        for (; x <= cols - 4; x += 4, k += 4)
                        {
                            int pa = row + x + offA, pb = row + x + offB;
                            var d0 = Vector256.Load(r + pa) - Vector256.Load(r + pb);
                            var d1 = Vector256.Load(g + pa) - Vector256.Load(g + pb);
                            var d2 = Vector256.Load(b + pa) - Vector256.Load(b + pb);
                            var v = Vector256.Sqrt(d0 * d0 + d1 * d1 + d2 * d2);
                            var bits = (v.AsUInt64() << 1) & vHigh;
                            bad |= Vector256.Equals(bits, Vector256<ulong>.Zero) & ~Vector256.Equals(v, Vector256<double>.Zero).AsUInt64();
                            var payload = Vector256.Create((ulong)((row + x) * 4 + t)) + lanes;
                            (bits | payload).Store(pk + k);
                        }
                    }
                    for (; x < cols; x++)
                    {
                        int payload = (row + x) * 4 + t;
                        double v = img.Dist(row + x + offA, row + x + offB);
                        ulong bits = (BitConverter.DoubleToUInt64Bits(v) << 1) & high;
                        ok &= bits != 0 || v == 0;
                        pk[k++] = bits | (uint)payload;
                    }
                }
            }
            ok &= bad == Vector256<ulong>.Zero;
        }
        return ok;
    }

    /// <summary>
    /// Sorts the keys by a 27-bit digit of their high 32 bits: the float64 exponent made relative (weights are below
    /// 2, so biased exponents are at most 1023; those of 961…1023 map to 1…63, smaller ones and zeros to 0) above the
    /// 21 mantissa bits of the high 32. For digits >= 1, keys with different high 32 bits have different digits, in
    /// the same order; the keys of digit 0 (weights 0 or below 2^-62) come first, in input order, and
    /// <paramref name="prefix"/> is their count. Three LSD passes of 9 bits (512 buckets: the scatter's write streams
    /// stay in L1, where 2048 buckets of the 32-bit sort did not). Returns 1 when the result is in
    /// <paramref name="tmp"/>, 0 when in <paramref name="a"/>, -1 (nothing done) when a weight is 2 or more, which
    /// RGB in [0, 1] cannot give (at most sqrt(3)).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static unsafe int RadixSortKeys(Span<ulong> a, Span<ulong> tmp, out int prefix)
    {
        const int Bits = KeyDigit.Bits, Buckets = 1 << Bits, Mask = Buckets - 1;
        int n = a.Length;
        prefix = 0;
        if (tmp.Length < n) throw new ArgumentException("buffer too short", nameof(tmp));
        if (n == 0) return 0;
        int* counts = stackalloc int[3 * Buckets];
        new Span<int>(counts, 3 * Buckets).Clear();
        bool swapped = false;
        fixed (ulong* pa = a, pt = tmp)
        {
            uint maxHi = 0;
            int* c0 = counts, c1 = counts + Buckets, c2 = counts + 2 * Buckets;
            for (int i = 0; i < n; i++)
            {
                ulong key = pa[i];
                uint d = Digit(key);
                maxHi = Math.Max(maxHi, (uint)(key >> 32));
                c0[d & Mask]++;
                c1[(d >> Bits) & Mask]++;
                c2[d >> (2 * Bits)]++;
            }
            if ((maxHi >> 21) > 1023) return -1;
            ulong* src = pa, dst = pt;
            for (int pass = 0; pass < 3; pass++)
            {
                if (!GraphSegmentation.RadixPass(src, dst, n, counts + pass * Buckets, Buckets, new KeyDigit(pass * Bits))) continue;
                ulong* t2 = src;
                src = dst;
                dst = t2;
                swapped = !swapped;
            }
            while (prefix < n && Digit(src[prefix]) == 0) prefix++;
        }
        return swapped ? 1 : 0;
    }

    /// <summary><see cref="Bits"/> bits of the 27-bit sort digit, from bit <paramref name="shift"/>.</summary>
    private readonly struct KeyDigit(int shift) : GraphSegmentation.IRadixDigit
    {
        public const int Bits = 9;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public uint Of(ulong key) => (Digit(key) >> shift) & ((1u << Bits) - 1);
    }

    /// <summary>The 27-bit sort digit of a key (see <see cref="RadixSortKeys"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Digit(ulong key)
    {
        uint hi = (uint)(key >> 32), e = hi >> 21;
        return e >= 961 ? ((e - 960) << 21) | (hi & 0x1FFFFF) : 0;
    }
}
