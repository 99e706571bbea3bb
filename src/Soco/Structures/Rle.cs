using System.Text;
using Soco.Evaluation;

namespace Soco.Structures;

/// <summary>A box as COCO writes it: [x, y, width, height] in pixels.</summary>
public readonly record struct XywhBox(double X, double Y, double Width, double Height);

/// <summary>
/// A binary mask of <see cref="Height"/> × <see cref="Width"/> pixels, run-length encoded exactly as pycocotools'
/// <c>mask</c> module (common/maskApi.c) encodes it (docs/masks-rle.md): the pixels are read in column-major order
/// (down each column, then the next column: index x·h + y), and <see cref="Counts"/> holds the lengths of alternating
/// runs of 0s and 1s starting with a run of 0s (which may be empty). The counts always add up to h·w.
/// Every operation is the C code's, step for step, so counts strings, areas, boxes and IoUs are the same numbers
/// pycocotools gives (tests/Soco.Tests/Evaluation/RleTests.cs against tools/pycocotools_rle_fixtures.py).
/// Immutable; safe to share between threads.
/// </summary>
public sealed class Rle : IEquatable<Rle>
{
    readonly uint[] _counts;

    /// <summary>Takes <paramref name="counts"/> without copying or checking: callers inside this class build valid ones.</summary>
    Rle(int height, int width, uint[] counts)
    {
        Height = height;
        Width = width;
        _counts = counts;
        // rleArea: the sum of the 1-runs (odd indices).
        long area = 0;
        for (int j = 1; j < counts.Length; j += 2) area += counts[j];
        Area = area;
        Box = ComputeBox(height, width, counts);
    }

    public int Height { get; }
    public int Width { get; }

    /// <summary>Run lengths, column-major, starting with a (possibly empty) run of 0s.</summary>
    public ReadOnlySpan<uint> Counts => _counts;

    /// <summary>Number of foreground pixels (pycocotools' <c>area</c>).</summary>
    public long Area { get; }

    /// <summary>The tight box [x, y, w, h] of the foreground in whole pixels (pycocotools' <c>toBbox</c>); all zeros
    /// for an empty mask. A 1-run that wraps from one column into the next widens the box to the full height, as the
    /// C code does.</summary>
    public XywhBox Box { get; }

    /// <summary>h·w as a long; RLEs larger than 2³²−1 pixels cannot exist (the C code counts in 32-bit unsigned ints).</summary>
    static long Pixels(int height, int width, string what)
    {
        if (height < 0 || width < 0) throw new ArgumentException($"{what}: mask size {height}x{width} is negative");
        long n = (long)height * width;
        if (n > uint.MaxValue) throw new ArgumentException($"{what}: mask size {height}x{width} has more than 2^32-1 pixels");
        return n;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Construction

    /// <summary>
    /// Encodes a mask given row-major (<c>mask[y · width + x]</c>, the layout of a [H, W] tensor or an image); any
    /// non-zero byte is foreground. The counts are those of pycocotools' <c>encode</c> on the same mask as an H×W
    /// (Fortran-order) array of 0/1.
    /// </summary>
    public static Rle Encode(ReadOnlySpan<byte> mask, int height, int width)
    {
        long a = Pixels(height, width, "Rle.Encode");
        if (mask.Length < a) throw new ArgumentException($"Rle.Encode: mask has {mask.Length} bytes, {height}x{width} needs {a}");
        var cnts = new List<uint>(64);
        // rleEncode: count until the value changes; the first run counts 0s.
        bool p = false;
        uint c = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0, i = x; y < height; y++, i += width)
            {
                bool v = mask[i] != 0;
                if (v != p) { cnts.Add(c); c = 0; p = v; }
                c++;
            }
        cnts.Add(c);
        return new Rle(height, width, cnts.ToArray());
    }

    /// <summary>As <see cref="Encode"/> for a mask already in column-major order (<c>mask[x · height + y]</c>, what
    /// pycocotools' C code reads from a Fortran-order array).</summary>
    public static Rle EncodeColumnMajor(ReadOnlySpan<byte> mask, int height, int width)
    {
        long a = Pixels(height, width, "Rle.EncodeColumnMajor");
        if (mask.Length < a) throw new ArgumentException($"Rle.EncodeColumnMajor: mask has {mask.Length} bytes, {height}x{width} needs {a}");
        var cnts = new List<uint>(64);
        bool p = false;
        uint c = 0;
        for (int j = 0; j < a; j++)
        {
            bool v = mask[j] != 0;
            if (v != p) { cnts.Add(c); c = 0; p = v; }
            c++;
        }
        cnts.Add(c);
        return new Rle(height, width, cnts.ToArray());
    }

    /// <summary>
    /// An RLE from uncompressed counts (COCO JSON's <c>{"size": [h, w], "counts": [...]}</c>, used for crowd regions).
    /// Refused when a count is negative or the counts do not add up to h·w (pycocotools does not check; its decode
    /// then writes past the mask).
    /// </summary>
    public static Rle FromCounts(ReadOnlySpan<long> counts, int height, int width)
    {
        long a = Pixels(height, width, "RLE");
        var cnts = new uint[Math.Max(1, counts.Length)];
        long sum = 0;
        for (int j = 0; j < counts.Length; j++)
        {
            if (counts[j] < 0 || counts[j] > a) throw new ArgumentException($"RLE count #{j} is {counts[j]}; counts must lie in [0, h·w = {a}]");
            sum += counts[j];
            cnts[j] = (uint)counts[j];
        }
        if (sum != a) throw new ArgumentException($"RLE counts add up to {sum}, not h·w = {height}·{width} = {a}");
        return new Rle(height, width, cnts);
    }

    /// <summary>An empty (all-background) mask.</summary>
    public static Rle Empty(int height, int width) => new(height, width, [(uint)Pixels(height, width, "Rle.Empty")]);

    /// <summary>
    /// A polygon [x1, y1, x2, y2, ...] (pixel coordinates, pixel (x, y) covering [x, x+1) × [y, y+1)) rasterised as
    /// pycocotools' <c>frPoly</c> / maskApi.c <c>rleFrPoly</c> does: vertices scaled by 5 and rounded with
    /// <c>(int)(5·v + 0.5)</c> (C truncation toward zero), the closed outline traced in that fine grid, and a pixel
    /// column filled between the outline's crossings at pixel centres. An odd trailing coordinate is ignored (the C
    /// code takes len/2 points); parts outside the image are clipped.
    /// </summary>
    public static Rle FromPolygon(ReadOnlySpan<double> xy, int height, int width)
    {
        long hw = Pixels(height, width, "Rle.FromPolygon");
        for (int j = 0; j < xy.Length; j++)
            if (!double.IsFinite(xy[j])) throw new ArgumentException($"Rle.FromPolygon: coordinate #{j} is {xy[j]}, not a finite number");
        // A mask without pixels: the C code would index past its columns; the answer is the empty mask.
        if (hw == 0) return new Rle(height, width, [0]);
        const double scale = 5;
        int k = xy.Length / 2;
        var x = new int[k + 1];
        var y = new int[k + 1];
        for (int j = 0; j < k; j++) x[j] = (int)(scale * xy[j * 2 + 0] + .5);
        for (int j = 0; j < k; j++) y[j] = (int)(scale * xy[j * 2 + 1] + .5);
        if (k > 0) { x[k] = x[0]; y[k] = y[0]; }
        // Upsample: every point of every edge in the 5x grid.
        long m = 0;
        for (int j = 0; j < k; j++) m += Math.Max(Math.Abs(x[j] - x[j + 1]), Math.Abs(y[j] - y[j + 1])) + 1;
        var u = new int[m];
        var v = new int[m];
        m = 0;
        for (int j = 0; j < k; j++)
        {
            int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1], t;
            int dx = Math.Abs(xe - xs), dy = Math.Abs(ys - ye);
            bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if (flip) { t = xs; xs = xe; xe = t; t = ys; ys = ye; ye = t; }
            if (dx == 0 && dy == 0)
            {
                // A repeated vertex: the C code computes 0/0 here and stores (int)NaN; the point's x equals both
                // neighbours', so its y is never read (docs/masks-rle.md). Store the vertex itself.
                u[m] = xs; v[m] = ys; m++;
                continue;
            }
            double s = dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
            if (dx >= dy)
                for (int d = 0; d <= dx; d++) { t = flip ? dx - d : d; u[m] = t + xs; v[m] = (int)(ys + s * t + .5); m++; }
            else
                for (int d = 0; d <= dy; d++) { t = flip ? dy - d : d; v[m] = t + ys; u[m] = (int)(xs + s * t + .5); m++; }
        }
        // Points where the outline crosses a pixel-centre column, back at pixel scale (y rounded up, clamped to [0, h]).
        long kk = m;
        var px = new int[kk];
        var py = new int[kk];
        m = 0;
        for (long j = 1; j < kk; j++)
        {
            if (u[j] == u[j - 1]) continue;
            double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
            xd = (xd + .5) / scale - .5;
            if (Math.Floor(xd) != xd || xd < 0 || xd > width - 1) continue;
            double yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
            yd = (yd + .5) / scale - .5;
            if (yd < 0) yd = 0;
            else if (yd > height) yd = height;
            yd = Math.Ceiling(yd);
            px[m] = (int)xd;
            py[m] = (int)yd;
            m++;
        }
        // Column-major indices of the crossings (+ the end), sorted: their differences are the runs; a zero-length
        // run merges its neighbours.
        int n = (int)m;
        var a = new uint[n + 1];
        for (int j = 0; j < n; j++) a[j] = (uint)(px[j] * height + py[j]);
        a[n] = (uint)hw;
        Array.Sort(a);
        uint prev = 0;
        for (int j = 0; j <= n; j++) { uint t = a[j]; a[j] -= prev; prev = t; }
        var b = new uint[n + 1];
        int jj = 0, mm = 0;
        b[mm++] = a[jj++];
        while (jj <= n)
        {
            if (a[jj] > 0) b[mm++] = a[jj++];
            else
            {
                jj++;
                if (jj <= n) b[mm - 1] += a[jj++];
            }
        }
        return new Rle(height, width, b.AsSpan(0, mm).ToArray());
    }

    /// <summary>
    /// The mask of a COCO polygon segmentation (a list of polygons): each rasterised by <see cref="FromPolygon"/>
    /// and their union taken, as pycocotools' <c>COCO.annToRLE</c> does (<c>frPyObjects</c> then <c>merge</c>).
    /// An empty list gives the empty mask.
    /// </summary>
    public static Rle FromPolygons(IReadOnlyList<double[]> polygons, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(polygons);
        if (polygons.Count == 0) return Empty(height, width);
        if (polygons.Count == 1) return FromPolygon(polygons[0], height, width);
        var parts = new Rle[polygons.Count];
        for (int i = 0; i < parts.Length; i++) parts[i] = FromPolygon(polygons[i], height, width);
        return Merge(parts);
    }

    /// <summary>A box [x, y, w, h] as a mask: maskApi.c <c>rleFrBbox</c>, the polygon of its four corners
    /// (x, y), (x, y+h), (x+w, y+h), (x+w, y) through <see cref="FromPolygon"/>.</summary>
    public static Rle FromBox(double x, double y, double w, double h, int height, int width)
    {
        double xe = x + w, ye = y + h;
        return FromPolygon([x, y, x, ye, xe, ye, xe, y], height, width);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Decoding

    /// <summary>Writes the mask row-major (<c>mask[y · width + x]</c>: 1 foreground, 0 background) into
    /// <paramref name="mask"/>, which must hold at least h·w bytes.</summary>
    public void Decode(Span<byte> mask)
    {
        long a = (long)Height * Width;
        if (mask.Length < a) throw new ArgumentException($"Rle.Decode: buffer has {mask.Length} bytes, {Height}x{Width} needs {a}");
        mask[..(int)a].Clear();
        long t = 0;
        for (int j = 0; j < _counts.Length; j++)
        {
            uint c = _counts[j];
            if ((j & 1) == 1 && c > 0)
            {
                // Pixels t .. t+c-1 in column-major order, written at their row-major place.
                int col = (int)(t / Height), row = (int)(t % Height);
                for (uint q = 0; q < c; q++)
                {
                    mask[row * Width + col] = 1;
                    if (++row == Height) { row = 0; col++; }
                }
            }
            t += c;
        }
    }

    /// <summary>The mask row-major, a new h·w array.</summary>
    public byte[] Decode()
    {
        var m = new byte[(long)Height * Width];
        Decode(m);
        return m;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Box, merge, IoU

    /// <summary>maskApi.c <c>rleToBbox</c> in its own unsigned 32-bit arithmetic.</summary>
    static XywhBox ComputeBox(int height, int width, uint[] cnts)
    {
        uint h = (uint)height, w = (uint)width;
        int m = cnts.Length / 2 * 2;
        if (m == 0 || h == 0) return default;
        uint xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
        for (int j = 0; j < m; j++)
        {
            cc += cnts[j];
            uint t = cc - (uint)(j % 2);
            uint y = t % h, x = (t - y) / h;
            if (j % 2 == 0) xp = x;
            else if (xp < x) { ys = 0; ye = h - 1; }
            xs = Math.Min(xs, x); xe = Math.Max(xe, x); ys = Math.Min(ys, y); ye = Math.Max(ye, y);
        }
        return new XywhBox(xs, ys, xe - xs + 1, ye - ys + 1);
    }

    /// <summary>
    /// Union (or with <paramref name="intersect"/>, intersection) of masks of one size: maskApi.c <c>rleMerge</c>,
    /// folding left to right. Masks of different sizes are refused (the C code returns a 0×0 mask).
    /// </summary>
    public static Rle Merge(IReadOnlyList<Rle> rles, bool intersect = false)
    {
        ArgumentNullException.ThrowIfNull(rles);
        if (rles.Count == 0) throw new ArgumentException("Rle.Merge: no masks to merge");
        int h = rles[0].Height, w = rles[0].Width;
        if (rles.Count == 1) return rles[0];
        for (int i = 1; i < rles.Count; i++)
            if (rles[i].Height != h || rles[i].Width != w)
                throw new ArgumentException($"Rle.Merge: mask #{i} is {rles[i].Height}x{rles[i].Width}, mask #0 {h}x{w}");
        // The C code allocates h·w+1 counts; a merge of runs never has more runs than its inputs together.
        int bound = 1;
        foreach (var r in rles) bound += r._counts.Length;
        var cnts = new uint[bound];
        var tmp = new uint[bound];
        int m = rles[0]._counts.Length;
        rles[0]._counts.CopyTo(cnts, 0);
        for (int i = 1; i < rles.Count; i++)
        {
            // A = the result so far (a copy), B = the next mask; walk both run lists together.
            Array.Copy(cnts, tmp, m);
            var A = tmp.AsSpan(0, m);
            var B = rles[i]._counts;
            uint ca = A[0], cb = B[0], cc = 0, ct = 1;
            bool v = false, va = false, vb = false;
            int a = 1, b = 1, am = m;
            m = 0;
            while (ct > 0)
            {
                uint c = Math.Min(ca, cb);
                cc += c;
                ct = 0;
                ca -= c; if (ca == 0 && a < am) { ca = A[a++]; va = !va; }
                ct += ca;
                cb -= c; if (cb == 0 && b < B.Length) { cb = B[b++]; vb = !vb; }
                ct += cb;
                bool vp = v;
                v = intersect ? va && vb : va || vb;
                if (v != vp || ct == 0) { cnts[m++] = cc; cc = 0; }
            }
        }
        return new Rle(h, w, cnts.AsSpan(0, m).ToArray());
    }

    /// <summary>
    /// IoU of a detection mask with a ground-truth mask as maskApi.c <c>rleIou</c> computes it: first the IoU of their
    /// boxes (<see cref="Box"/>, <see cref="BoxIou"/>); only where that is above 0 the exact pixel IoU — intersection
    /// over union, or over the detection's own area when the ground truth is a crowd region (<paramref name="crowd"/>).
    /// Masks of different sizes whose boxes overlap give −1 (never a match).
    /// </summary>
    public static double Iou(Rle dt, Rle gt, bool crowd)
    {
        var db = dt.Box;
        var gb = gt.Box;
        double o = BoxIou.Iou(db.X, db.Y, db.Width, db.Height, gb.X, gb.Y, gb.Width, gb.Height, crowd);
        if (!(o > 0)) return o;
        if (dt.Height != gt.Height || dt.Width != gt.Width) return -1;
        var A = dt._counts;
        var B = gt._counts;
        uint ca = A[0], cb = B[0], i = 0, u = 0, ct = 1;
        bool va = false, vb = false;
        int a = 1, b = 1;
        while (ct > 0)
        {
            uint c = Math.Min(ca, cb);
            if (va || vb) { u += c; if (va && vb) i += c; }
            ct = 0;
            ca -= c; if (ca == 0 && a < A.Length) { ca = A[a++]; va = !va; }
            ct += ca;
            cb -= c; if (cb == 0 && b < B.Length) { cb = B[b++]; vb = !vb; }
            ct += cb;
        }
        if (i == 0) u = 1;
        else if (crowd) u = (uint)dt.Area;
        return (double)i / u;
    }

    /// <summary>
    /// The IoU matrix of pycocotools' <c>maskUtils.iou(dt, gt, iscrowd)</c>: <paramref name="iou"/>[d · G + g] for D
    /// detections and G ground truths (row per detection), <paramref name="gtCrowd"/>[g] the ground truth's
    /// <c>iscrowd</c>.
    /// </summary>
    public static void Iou(IReadOnlyList<Rle> dt, IReadOnlyList<Rle> gt, ReadOnlySpan<bool> gtCrowd, Span<double> iou)
    {
        int D = dt.Count, G = gt.Count;
        if (gtCrowd.Length != G) throw new ArgumentException($"Rle.Iou: {gtCrowd.Length} crowd flags for {G} ground-truth masks");
        if (iou.Length < (long)D * G) throw new ArgumentException($"Rle.Iou: output holds {iou.Length} values, {D}x{G} needed");
        for (int d = 0; d < D; d++)
            for (int g = 0; g < G; g++)
                iou[d * G + g] = Iou(dt[d], gt[g], gtCrowd[g]);
    }

    /// <summary>The IoU matrix [D, G] as a new array (see <see cref="Iou(IReadOnlyList{Rle}, IReadOnlyList{Rle}, ReadOnlySpan{bool}, Span{double})"/>).</summary>
    public static double[,] Iou(IReadOnlyList<Rle> dt, IReadOnlyList<Rle> gt, ReadOnlySpan<bool> gtCrowd)
    {
        var flat = new double[dt.Count * gt.Count];
        Iou(dt, gt, gtCrowd, flat);
        var r = new double[dt.Count, gt.Count];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(double));
        return r;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Compressed counts string

    /// <summary>
    /// COCO's compressed counts string (maskApi.c <c>rleToString</c>): each count from the fourth on is written as its
    /// difference to the count two before (the first three as they are), in groups of 5 bits, least significant
    /// first, a continuation bit 0x20, each group + 48 as one ASCII character ('0' .. 'o').
    /// </summary>
    public string ToCountsString()
    {
        var s = new StringBuilder(_counts.Length * 2);
        for (int i = 0; i < _counts.Length; i++)
        {
            long x = _counts[i];
            if (i > 2) x -= _counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                s.Append((char)(c + 48));
            }
        }
        return s.ToString();
    }

    /// <summary>Reads a compressed counts string (<see cref="ToCountsString"/>; maskApi.c <c>rleFrString</c>).
    /// Refused with the reason when a character lies outside '0' .. 'o', the string ends inside a count, a count comes
    /// out negative or the counts do not add up to h·w.</summary>
    public static Rle FromCountsString(string counts, int height, int width)
    {
        if (!TryFromCountsString(counts, height, width, out var rle, out string? error)) throw new ArgumentException(error);
        return rle!;
    }

    /// <summary><see cref="FromCountsString"/> that reports a bad string as <paramref name="error"/> instead of throwing.</summary>
    public static bool TryFromCountsString(string counts, int height, int width, out Rle? rle, out string? error)
    {
        ArgumentNullException.ThrowIfNull(counts);
        rle = null;
        error = null;
        if (height < 0 || width < 0 || (long)height * width > uint.MaxValue)
        {
            error = $"mask size {height}x{width} is negative or larger than 2^32-1 pixels";
            return false;
        }
        long hw = (long)height * width;
        var cnts = new List<uint>(counts.Length);
        int p = 0;
        long sum = 0;
        while (p < counts.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= counts.Length) { error = $"compressed RLE counts string ends inside a count (at character {p})"; return false; }
                int c = counts[p] - 48;
                if (c < 0 || c > 63) { error = $"compressed RLE counts string has '{counts[p]}' at character {p}; only '0' .. 'o' occur"; return false; }
                // 13 groups of 5 bits fill a long; a longer group is no count of any mask (pycocotools' C would shift
                // past its int).
                if (k >= 12) { error = $"compressed RLE counts string has a count longer than 12 characters at character {p}"; return false; }
                x |= (long)(c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (cnts.Count > 2) x += cnts[^2];
            if (x < 0 || x > hw)
            {
                error = $"compressed RLE counts string gives count #{cnts.Count} = {x}, outside [0, h·w = {hw}]";
                return false;
            }
            sum += x;
            cnts.Add((uint)x);
        }
        if (cnts.Count == 0 && hw == 0) cnts.Add(0);
        if (sum != hw)
        {
            error = $"compressed RLE counts add up to {sum}, not h·w = {height}·{width} = {hw}";
            return false;
        }
        rle = new Rle(height, width, cnts.ToArray());
        return true;
    }

    // ------------------------------------------------------------------------------------------------------------

    public bool Equals(Rle? other) =>
        other is not null && Height == other.Height && Width == other.Width && _counts.AsSpan().SequenceEqual(other._counts);

    public override bool Equals(object? obj) => Equals(obj as Rle);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Height);
        h.Add(Width);
        foreach (uint c in _counts) h.Add(c);
        return h.ToHashCode();
    }

    public override string ToString() => $"Rle {Height}x{Width}, area {Area}, {_counts.Length} runs";
}
