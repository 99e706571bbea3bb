namespace Soco.Proposals.SocoSearch;

/// <summary>
/// NumPy 1.24's default <c>argsort</c> for float64 (<c>kind='quicksort'</c>): the introsort
/// <c>aquicksort_&lt;double_tag&gt;</c> of <c>numpy/core/src/npysort/quicksort.cpp</c> with its heapsort fallback
/// (<c>npysort_heapsort.h</c>). It is not stable; this port reproduces its exact permutation, ties included.
/// The values carry their original index, so the algorithm moves (value, index) pairs — two parallel spans — instead of
/// indices into the value array; the comparisons and swaps are the same, hence so is the permutation.
/// </summary>
internal static class NumpyArgsort
{
    private const int SmallQuicksort = 15;

    // NaN-aware "less" of numpy (DOUBLE_LT): NaNs sort to the end.
    private static bool Less(double a, double b) => a < b || (double.IsNaN(b) && !double.IsNaN(a));

    /// <summary>Permutation that sorts <paramref name="values"/> exactly as <c>numpy.argsort(values)</c>.</summary>
    public static int[] Argsort(ReadOnlySpan<double> values)
    {
        var v = values.ToArray();
        var perm = new int[v.Length];
        for (int k = 0; k < perm.Length; k++) perm[k] = k;
        Sort(v, perm);
        return perm;
    }

    /// <summary>
    /// Sorts the pairs (<paramref name="v"/>[k], <paramref name="index"/>[k]) in numpy's argsort order of the values
    /// (<paramref name="index"/> holds each value's original index, or any payload).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Sort(Span<double> v, Span<int> index)
    {
        int num = v.Length;
        if (index.Length != num) throw new ArgumentException("values and indices differ in length");
        var a = new Pairs(v, index);
        if (num <= 1) return;
        Span<int> stack = stackalloc int[128];
        Span<int> depth = stackalloc int[128];
        int sp = 0, dp = 0;
        int pl = 0, pr = num - 1;
        int cdepth = Msb((ulong)num) * 2;

        for (;;)
        {
            if (cdepth < 0)
            {
                Heapsort(new Pairs(a.V.Slice(pl, pr - pl + 1), a.I.Slice(pl, pr - pl + 1)));
                goto stack_pop;
            }
            while (pr - pl > SmallQuicksort)
            {
                int pm = pl + ((pr - pl) >> 1);
                if (Less(a.V[pm], a.V[pl])) a.Swap(pm, pl);
                if (Less(a.V[pr], a.V[pm])) a.Swap(pr, pm);
                if (Less(a.V[pm], a.V[pl])) a.Swap(pm, pl);
                double vp = a.V[pm];
                int pi = pl;
                int pj = pr - 1;
                a.Swap(pm, pj);
                for (;;)
                {
                    do { ++pi; } while (Less(a.V[pi], vp));
                    do { --pj; } while (Less(vp, a.V[pj]));
                    if (pi >= pj) break;
                    a.Swap(pi, pj);
                }
                int pk = pr - 1;
                a.Swap(pi, pk);
                // push largest partition on stack
                if (pi - pl < pr - pi)
                {
                    stack[sp++] = pi + 1;
                    stack[sp++] = pr;
                    pr = pi - 1;
                }
                else
                {
                    stack[sp++] = pl;
                    stack[sp++] = pi - 1;
                    pl = pi + 1;
                }
                depth[dp++] = --cdepth;
            }

            // insertion sort
            for (int pi = pl + 1; pi <= pr; ++pi)
            {
                double vv = a.V[pi];
                int vi = a.I[pi];
                int pj = pi, pk = pi - 1;
                while (pj > pl && Less(vv, a.V[pk]))
                {
                    a.V[pj] = a.V[pk];
                    a.I[pj--] = a.I[pk--];
                }
                a.V[pj] = vv;
                a.I[pj] = vi;
            }
        stack_pop:
            if (sp == 0) break;
            pr = stack[--sp];
            pl = stack[--sp];
            cdepth = depth[--dp];
        }
    }

    private static int Msb(ulong unum)
    {
        int d = 0;
        while ((unum >>= 1) != 0) d++;
        return d;
    }

    private readonly ref struct Pairs(Span<double> v, Span<int> i)
    {
        public readonly Span<double> V = v;
        public readonly Span<int> I = i;

        public void Swap(int x, int y)
        {
            (V[x], V[y]) = (V[y], V[x]);
            (I[x], I[y]) = (I[y], I[x]);
        }
    }

    // aheapsort_ with 1-based indexing (a[k] here = numpy's a[k + 1]).
    private static void Heapsort(Pairs s)
    {
        int n = s.V.Length;
        double tv;
        int ti, i, j;
        for (int l = n >> 1; l > 0; --l)
        {
            tv = s.V[l - 1]; ti = s.I[l - 1];
            for (i = l, j = l << 1; j <= n;)
            {
                if (j < n && Less(s.V[j - 1], s.V[j])) j += 1;
                if (Less(tv, s.V[j - 1]))
                {
                    s.V[i - 1] = s.V[j - 1]; s.I[i - 1] = s.I[j - 1];
                    i = j;
                    j += j;
                }
                else break;
            }
            s.V[i - 1] = tv; s.I[i - 1] = ti;
        }
        for (; n > 1;)
        {
            tv = s.V[n - 1]; ti = s.I[n - 1];
            s.V[n - 1] = s.V[0]; s.I[n - 1] = s.I[0];
            n -= 1;
            for (i = 1, j = 2; j <= n;)
            {
                if (j < n && Less(s.V[j - 1], s.V[j])) j++;
                if (Less(tv, s.V[j - 1]))
                {
                    s.V[i - 1] = s.V[j - 1]; s.I[i - 1] = s.I[j - 1];
                    i = j;
                    j += j;
                }
                else break;
            }
            s.V[i - 1] = tv; s.I[i - 1] = ti;
        }
    }
}
