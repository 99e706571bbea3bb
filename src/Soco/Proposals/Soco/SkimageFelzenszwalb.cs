using System.Runtime.CompilerServices;
using Soco.Imaging;

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
/// Euclidean RGB edge weights, NumPy's argsort order, the float32 thresholds of the Cython code, union-find with
/// the smaller index as root, the min-size post-pass, labels numbered by first occurrence in raster order
/// (<c>np.unique(roots, return_inverse=True)</c>).
/// </summary>
public static class SkimageFelzenszwalb
{
    /// <summary>How often <see cref="EdgeSortMode.Auto"/> had to fall back to the exact NumPy order (diagnostics).</summary>
    public static long ExactSortFallbacks => Interlocked.Read(ref _fallbacks);
    private static long _fallbacks;

    // Auto mode relies on float32(w + scale/size) > w for every merged component; that holds while
    // scale/size is well above float32 rounding of w (≤ √3), i.e. for images far below this many pixels.
    private const long AutoMaxPixels = 4_000_000;

    public static SegmentLabels Segment(RgbImage image, double scale = 1, double sigma = 0.8, int minSize = 20,
        EdgeSortMode sortMode = EdgeSortMode.Auto)
    {
        int w = image.Width, h = image.Height, n = w * h;
        double[] smooth = Smooth(image, sigma);
        NumpyArgsort.Item[] edges = BuildEdges(smooth, w, h);
        double k = scale / 255.0;
        var forest = new int[n];
        var size = new int[n];
        bool exact = sortMode == EdgeSortMode.NumpyExact || (long)n > AutoMaxPixels;
        if (exact)
        {
            NumpyArgsort.Sort(edges);
            Run(edges, forest, size, w, k, minSize, checkTies: false);
        }
        else
        {
            RadixSort(ref edges);
            if (!Run(edges, forest, size, w, k, minSize, checkTies: true))
            {
                Interlocked.Increment(ref _fallbacks);
                edges = BuildEdges(smooth, w, h);
                NumpyArgsort.Sort(edges);
                Run(edges, forest, size, w, k, minSize, checkTies: false);
            }
        }
        return Relabel(forest, w, h);
    }

    /// <summary>img_as_float (x · (1/255)) then the scipy Gaussian on both spatial axes.</summary>
    internal static double[] Smooth(RgbImage image, double sigma)
    {
        int w = image.Width, h = image.Height;
        var lut = new double[256];
        double inv = 1.0 / 255;
        for (int v = 0; v < 256; v++) lut[v] = v * inv;
        var src = new double[w * h * 3];
        var px = image.Pixels;
        for (int i = 0; i < src.Length; i++) src[i] = lut[px[i]];
        if (!(sigma > 1e-15)) return src;
        var tmp = new double[src.Length];
        var dst = new double[src.Length];
        ScipyGaussian.Filter(src, dst, tmp, w, h, ScipyGaussian.HalfKernel(sigma));
        return dst;
    }

    // Edge payload: p·4 + type; type 0 right (p+1, p), 1 down (p+W, p), 2 down-right (p+W+1, p),
    // 3 up-right (p+1, p+W). The array order is skimage's hstack order: all right, all down, all dright, all uright.
    internal static NumpyArgsort.Item[] BuildEdges(double[] img, int w, int h)
    {
        int nRight = h * (w - 1), nDown = (h - 1) * w, nDiag = (h - 1) * (w - 1);
        var e = new NumpyArgsort.Item[nRight + nDown + 2 * nDiag];
        int k = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                e[k++] = new NumpyArgsort.Item { V = Dist(img, p + 1, p), I = p * 4 };
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w; x++)
            {
                int p = y * w + x;
                e[k++] = new NumpyArgsort.Item { V = Dist(img, p + w, p), I = p * 4 + 1 };
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                e[k++] = new NumpyArgsort.Item { V = Dist(img, p + w + 1, p), I = p * 4 + 2 };
            }
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int p = y * w + x;
                // image[1:, :w-1] - image[:h-1, 1:]
                e[k++] = new NumpyArgsort.Item { V = Dist(img, p + w, p + 1), I = p * 4 + 3 };
            }
        return e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Dist(double[] img, int a, int b)
    {
        int ia = a * 3, ib = b * 3;
        double d0 = img[ia] - img[ib], d1 = img[ia + 1] - img[ib + 1], d2 = img[ia + 2] - img[ib + 2];
        return Math.Sqrt(d0 * d0 + d1 * d1 + d2 * d2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ends(int payload, int w, out int a, out int b)
    {
        int p = payload >> 2;
        switch (payload & 3)
        {
            case 0: a = p + 1; b = p; break;
            case 1: a = p + w; b = p; break;
            case 2: a = p + w + 1; b = p; break;
            default: a = p + 1; b = p + w; break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindRoot(int[] forest, int n)
    {
        int root = n;
        while (forest[root] < root) root = forest[root];
        return root;
    }

    /// <summary>
    /// Both passes of the Cython loop. With <paramref name="checkTies"/>, returns false (result unusable) when a run
    /// of equal-weight edges in the min-size pass holds two or more edges that could merge, because only then can
    /// the order inside the run change the outcome (the first pass is order-independent inside a run of ties).
    /// </summary>
    private static bool Run(NumpyArgsort.Item[] edges, int[] forest, int[] size, int w, double k, int minSize,
        bool checkTies)
    {
        int n = forest.Length;
        for (int i = 0; i < n; i++) { forest[i] = i; size[i] = 1; }
        var cint = new double[n];
        int m = edges.Length;
        for (int e = 0; e < m; e++)
        {
            Ends(edges[e].I, w, out int a, out int b);
            int seg0 = FindRoot(forest, a);
            int seg1 = FindRoot(forest, b);
            if (seg0 == seg1) continue;
            // cdef float inner_cost0, inner_cost1
            float ic0 = (float)(cint[seg0] + k / size[seg0]);
            float ic1 = (float)(cint[seg1] + k / size[seg1]);
            float mn = ic1 < ic0 ? ic1 : ic0;
            double cost = edges[e].V;
            if (cost < mn)
            {
                int root = seg0 < seg1 ? seg0 : seg1;
                forest[seg0] = root;
                forest[seg1] = root;
                size[root] = size[seg0] + size[seg1];
                cint[root] = cost;
            }
        }
        for (int e = 0; e < m; e++)
        {
            if (checkTies && e + 1 < m && edges[e + 1].V == edges[e].V
                && (e == 0 || edges[e - 1].V != edges[e].V))
            {
                // start of a run of ties: count edges that could merge
                int active = 0;
                double v = edges[e].V;
                for (int f = e; f < m && edges[f].V == v; f++)
                {
                    Ends(edges[f].I, w, out int fa, out int fb);
                    int r0 = FindRoot(forest, fa), r1 = FindRoot(forest, fb);
                    if (r0 != r1 && (size[r0] < minSize || size[r1] < minSize) && ++active >= 2) return false;
                }
            }
            Ends(edges[e].I, w, out int a, out int b);
            int seg0 = FindRoot(forest, a);
            int seg1 = FindRoot(forest, b);
            if (seg0 == seg1) continue;
            if (size[seg0] < minSize || size[seg1] < minSize)
            {
                int root = seg0 < seg1 ? seg0 : seg1;
                forest[seg0] = root;
                forest[seg1] = root;
                size[root] = size[seg0] + size[seg1];
            }
        }
        return true;
    }

    private static SegmentLabels Relabel(int[] forest, int w, int h)
    {
        int n = w * h;
        var labels = new int[n];
        int count = 0;
        // forest[p] <= p: roots of smaller indices are resolved first; a root's label is its rank.
        for (int p = 0; p < n; p++)
        {
            int f = forest[p];
            labels[p] = f == p ? count++ : labels[f];
        }
        return new SegmentLabels(w, h, labels, count);
    }

    /// <summary>LSD radix sort by value (non-negative doubles order like their bit patterns), 16 bits a pass.</summary>
    internal static void RadixSort(ref NumpyArgsort.Item[] a)
    {
        int n = a.Length;
        var b = new NumpyArgsort.Item[n];
        var hist = new int[4 * 65536];
        for (int i = 0; i < n; i++)
        {
            ulong key = (ulong)BitConverter.DoubleToInt64Bits(a[i].V);
            hist[(int)(key & 0xFFFF)]++;
            hist[65536 + (int)((key >> 16) & 0xFFFF)]++;
            hist[131072 + (int)((key >> 32) & 0xFFFF)]++;
            hist[196608 + (int)(key >> 48)]++;
        }
        for (int pass = 0; pass < 4; pass++)
        {
            var hs = hist.AsSpan(pass * 65536, 65536);
            int shift = pass * 16;
            ulong firstDigit = ((ulong)BitConverter.DoubleToInt64Bits(a[0].V) >> shift) & 0xFFFF;
            if (hs[(int)firstDigit] == n) continue; // all keys share this digit
            int sum = 0;
            for (int d = 0; d < 65536; d++) { int c = hs[d]; hs[d] = sum; sum += c; }
            for (int i = 0; i < n; i++)
            {
                ulong key = (ulong)BitConverter.DoubleToInt64Bits(a[i].V);
                b[hs[(int)((key >> shift) & 0xFFFF)]++] = a[i];
            }
            (a, b) = (b, a);
        }
    }
}
