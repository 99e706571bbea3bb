namespace Soco.Proposals.SocoSearch;

/// <summary>
/// NumPy 1.24's default <c>argsort</c> for float64 (<c>kind='quicksort'</c>): the introsort
/// <c>aquicksort_&lt;double_tag&gt;</c> of <c>numpy/core/src/npysort/quicksort.cpp</c> with its heapsort fallback
/// (<c>npysort_heapsort.h</c>). It is not stable; this port reproduces its exact permutation, ties included.
/// The values carry their original index, so the algorithm moves (value, index) pairs instead of indices into the
/// value array; the comparisons and swaps are the same, hence so is the permutation.
/// </summary>
internal static class NumpyArgsort
{
    internal struct Item
    {
        public double V;
        public int I;
    }

    private const int SmallQuicksort = 15;

    // NaN-aware "less" of numpy (DOUBLE_LT): NaNs sort to the end.
    private static bool Less(double a, double b) => a < b || (double.IsNaN(b) && !double.IsNaN(a));

    /// <summary>Permutation that sorts <paramref name="values"/> exactly as <c>numpy.argsort(values)</c>.</summary>
    public static int[] Argsort(ReadOnlySpan<double> values)
    {
        var items = new Item[values.Length];
        for (int k = 0; k < items.Length; k++) items[k] = new Item { V = values[k], I = k };
        Sort(items);
        var perm = new int[items.Length];
        for (int k = 0; k < perm.Length; k++) perm[k] = items[k].I;
        return perm;
    }

    /// <summary>Sorts (value, original index) pairs in numpy's argsort order.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Sort(Span<Item> a)
    {
        int num = a.Length;
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
                Heapsort(a.Slice(pl, pr - pl + 1));
                goto stack_pop;
            }
            while (pr - pl > SmallQuicksort)
            {
                int pm = pl + ((pr - pl) >> 1);
                if (Less(a[pm].V, a[pl].V)) Swap(a, pm, pl);
                if (Less(a[pr].V, a[pm].V)) Swap(a, pr, pm);
                if (Less(a[pm].V, a[pl].V)) Swap(a, pm, pl);
                double vp = a[pm].V;
                int pi = pl;
                int pj = pr - 1;
                Swap(a, pm, pj);
                for (;;)
                {
                    do { ++pi; } while (Less(a[pi].V, vp));
                    do { --pj; } while (Less(vp, a[pj].V));
                    if (pi >= pj) break;
                    Swap(a, pi, pj);
                }
                int pk = pr - 1;
                Swap(a, pi, pk);
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
                Item vi = a[pi];
                double vv = vi.V;
                int pj = pi, pk = pi - 1;
                while (pj > pl && Less(vv, a[pk].V))
                {
                    a[pj--] = a[pk--];
                }
                a[pj] = vi;
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

    private static void Swap(Span<Item> a, int i, int j) => (a[i], a[j]) = (a[j], a[i]);

    // aheapsort_ with 1-based indexing (a[k] here = numpy's a[k + 1]).
    private static void Heapsort(Span<Item> s)
    {
        int n = s.Length;
        Item tmp;
        int i, j;
        for (int l = n >> 1; l > 0; --l)
        {
            tmp = s[l - 1];
            for (i = l, j = l << 1; j <= n;)
            {
                if (j < n && Less(s[j - 1].V, s[j].V)) j += 1;
                if (Less(tmp.V, s[j - 1].V))
                {
                    s[i - 1] = s[j - 1];
                    i = j;
                    j += j;
                }
                else break;
            }
            s[i - 1] = tmp;
        }
        for (; n > 1;)
        {
            tmp = s[n - 1];
            s[n - 1] = s[0];
            n -= 1;
            for (i = 1, j = 2; j <= n;)
            {
                if (j < n && Less(s[j - 1].V, s[j].V)) j++;
                if (Less(tmp.V, s[j - 1].V))
                {
                    s[i - 1] = s[j - 1];
                    i = j;
                    j += j;
                }
                else break;
            }
            s[i - 1] = tmp;
        }
    }
}
