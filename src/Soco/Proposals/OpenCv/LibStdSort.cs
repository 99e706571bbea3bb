namespace Soco.Proposals.OpenCv;

/// <summary>Strict weak "less than" used by <see cref="LibStdSort"/>.</summary>
internal interface ILess<T>
{
    bool Less(in T a, in T b);
}

/// <summary>
/// A step-for-step replica of libstdc++'s <c>std::sort</c> (GCC 12, bits/stl_algo.h): introsort with median-of-three
/// pivot moved to the front, unguarded partition, heap sort when the depth limit runs out, and a final insertion sort
/// with threshold 16. Elements that compare equal end up in exactly the order GCC leaves them in, which matters where
/// the order of ties changes results (OpenCV's graph segmentation sorts its edges this way).
/// </summary>
internal static class LibStdSort
{
    private const int Threshold = 16;

    public static void Sort<T, TLess>(Span<T> a, TLess less) where TLess : struct, ILess<T>
    {
        int n = a.Length;
        if (n <= 1) return;
        IntroLoop(a, 0, n, Lg(n) * 2, less);
        FinalInsertionSort(a, 0, n, less);
    }

    private static int Lg(int n) => 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)n);

    private static void IntroLoop<T, TLess>(Span<T> a, int first, int last, int depth, TLess less) where TLess : struct, ILess<T>
    {
        while (last - first > Threshold)
        {
            if (depth == 0)
            {
                HeapSort(a, first, last, less);
                return;
            }
            depth--;
            int cut = PartitionPivot(a, first, last, less);
            IntroLoop(a, cut, last, depth, less);
            last = cut;
        }
    }

    private static int PartitionPivot<T, TLess>(Span<T> a, int first, int last, TLess less) where TLess : struct, ILess<T>
    {
        int mid = first + (last - first) / 2;
        MoveMedianToFirst(a, first, first + 1, mid, last - 1, less);
        return UnguardedPartition(a, first + 1, last, first, less);
    }

    private static void Swap<T>(Span<T> a, int i, int j) => (a[i], a[j]) = (a[j], a[i]);

    private static void MoveMedianToFirst<T, TLess>(Span<T> a, int result, int x, int y, int z, TLess less) where TLess : struct, ILess<T>
    {
        if (less.Less(a[x], a[y]))
        {
            if (less.Less(a[y], a[z])) Swap(a, result, y);
            else if (less.Less(a[x], a[z])) Swap(a, result, z);
            else Swap(a, result, x);
        }
        else if (less.Less(a[x], a[z])) Swap(a, result, x);
        else if (less.Less(a[y], a[z])) Swap(a, result, z);
        else Swap(a, result, y);
    }

    private static int UnguardedPartition<T, TLess>(Span<T> a, int first, int last, int pivot, TLess less) where TLess : struct, ILess<T>
    {
        while (true)
        {
            while (less.Less(a[first], a[pivot])) first++;
            last--;
            while (less.Less(a[pivot], a[last])) last--;
            if (!(first < last)) return first;
            Swap(a, first, last);
            first++;
        }
    }

    private static void FinalInsertionSort<T, TLess>(Span<T> a, int first, int last, TLess less) where TLess : struct, ILess<T>
    {
        if (last - first > Threshold)
        {
            InsertionSort(a, first, first + Threshold, less);
            for (int i = first + Threshold; i < last; i++) UnguardedLinearInsert(a, i, less);
        }
        else InsertionSort(a, first, last, less);
    }

    private static void InsertionSort<T, TLess>(Span<T> a, int first, int last, TLess less) where TLess : struct, ILess<T>
    {
        if (first == last) return;
        for (int i = first + 1; i < last; i++)
        {
            if (less.Less(a[i], a[first]))
            {
                T val = a[i];
                a.Slice(first, i - first).CopyTo(a.Slice(first + 1, i - first));
                a[first] = val;
            }
            else UnguardedLinearInsert(a, i, less);
        }
    }

    private static void UnguardedLinearInsert<T, TLess>(Span<T> a, int last, TLess less) where TLess : struct, ILess<T>
    {
        T val = a[last];
        int next = last - 1;
        while (less.Less(val, a[next]))
        {
            a[last] = a[next];
            last = next;
            next--;
        }
        a[last] = val;
    }

    // std::__partial_sort(first, last, last): __heap_select (make_heap only, no middle..last elements) + __sort_heap.
    private static void HeapSort<T, TLess>(Span<T> a, int first, int last, TLess less) where TLess : struct, ILess<T>
    {
        var s = a.Slice(first, last - first);
        int len = s.Length;
        if (len >= 2)
        {
            int parent = (len - 2) / 2;
            while (true)
            {
                T value = s[parent];
                AdjustHeap(s, parent, len, value, less);
                if (parent == 0) break;
                parent--;
            }
        }
        for (int end = len; end > 1;)
        {
            end--;
            T value = s[end];
            s[end] = s[0];
            AdjustHeap(s, 0, end, value, less);
        }
    }

    private static void AdjustHeap<T, TLess>(Span<T> s, int hole, int len, T value, TLess less) where TLess : struct, ILess<T>
    {
        int top = hole, second = hole;
        while (second < (len - 1) / 2)
        {
            second = 2 * (second + 1);
            if (less.Less(s[second], s[second - 1])) second--;
            s[hole] = s[second];
            hole = second;
        }
        if ((len & 1) == 0 && second == (len - 2) / 2)
        {
            second = 2 * (second + 1);
            s[hole] = s[second - 1];
            hole = second - 1;
        }
        int parent = (hole - 1) / 2;
        while (hole > top && less.Less(s[parent], value))
        {
            s[hole] = s[parent];
            hole = parent;
            parent = (hole - 1) / 2;
        }
        s[hole] = value;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The same algorithm specialised for edge keys: ulong values ordered by their high 32 bits only (OpenCV's edges
    // compare by weight only; the low half rides along). Kept step-for-step identical to the generic version above.

    public static void SortByHigh32(ulong[] a)
    {
        int n = a.Length;
        if (n <= 1) return;
        ref ulong b = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a);
        HIntroLoop(ref b, 0, n, Lg(n) * 2);
        HFinalInsertionSort(ref b, 0, n);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static bool HLess(ulong x, ulong y) => (uint)(x >> 32) < (uint)(y >> 32);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ref ulong At(ref ulong b, int i) => ref System.Runtime.CompilerServices.Unsafe.Add(ref b, i);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void HSwap(ref ulong b, int i, int j) => (At(ref b, i), At(ref b, j)) = (At(ref b, j), At(ref b, i));

    private static void HIntroLoop(ref ulong b, int first, int last, int depth)
    {
        while (last - first > Threshold)
        {
            if (depth == 0)
            {
                var span = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref At(ref b, first), last - first);
                HeapSort(span, 0, span.Length, new High32Less());
                return;
            }
            depth--;
            int lo = HPartitionPivot(ref b, first, last);
            HIntroLoop(ref b, lo, last, depth);
            last = lo;
        }
    }

    /// <summary>__unguarded_partition_pivot on [first, last): returns the cut; the pivot ends at first.</summary>
    private static int HPartitionPivot(ref ulong b, int first, int last)
    {
        int mid = first + (last - first) / 2;
        // move median of (first+1, mid, last-1) to first
        int x = first + 1, y = mid, z = last - 1;
        if (HLess(At(ref b, x), At(ref b, y)))
        {
            if (HLess(At(ref b, y), At(ref b, z))) HSwap(ref b, first, y);
            else if (HLess(At(ref b, x), At(ref b, z))) HSwap(ref b, first, z);
            else HSwap(ref b, first, x);
        }
        else if (HLess(At(ref b, x), At(ref b, z))) HSwap(ref b, first, x);
        else if (HLess(At(ref b, y), At(ref b, z))) HSwap(ref b, first, z);
        else HSwap(ref b, first, y);
        // unguarded partition of [first+1, last) around *first
        uint pivot = (uint)(At(ref b, first) >> 32);
        int lo = first + 1, hi = last;
        while (true)
        {
            while ((uint)(At(ref b, lo) >> 32) < pivot) lo++;
            hi--;
            while (pivot < (uint)(At(ref b, hi) >> 32)) hi--;
            if (!(lo < hi)) return lo;
            HSwap(ref b, lo, hi);
            lo++;
        }
    }

    private static void HHeapSort(ulong[] a, int first, int last)
    {
        HeapSort(a.AsSpan(first, last - first), 0, last - first, new High32Less());
    }

    /// <summary>
    /// <see cref="SortByHigh32"/> evaluated lazily: asks for the elements of one key and gets them in exactly the order
    /// the full sort leaves them in, after doing only the partition steps on the way to that key.
    /// </summary>
    /// <remarks>
    /// std::sort's introsort loop treats each sub-range on its own (a partition touches only its range), and its final
    /// insertion sort is stable, so the relative order of equal elements is fixed once every range that can hold them
    /// is at most 16 long (or heap-sorted). Each range's keys are bounded by its ancestors' pivots (left part ≤ pivot
    /// ≤ right part), so a query only refines the pending ranges whose bounds include the key.
    /// </remarks>
    internal sealed class LazyByHigh32
    {
        private struct Range
        {
            public int First, Last, Depth;
            public uint Lo, Hi; // every key in [First, Last) lies in [Lo, Hi]
            public bool Done;
        }

        private readonly ulong[] _a;
        private readonly List<Range> _ranges = new(); // tiles the array, in position order (so Lo and Hi never decrease)
        private readonly Dictionary<uint, ulong[]> _cache = new();
        private readonly List<Range> _children = new();

        /// <param name="a">The unsorted array; it is sorted in place, lazily.</param>
        public LazyByHigh32(ulong[] a)
        {
            _a = a;
            int n = a.Length;
            if (n > 0)
                _ranges.Add(new Range { First = 0, Last = n, Depth = n > 1 ? Lg(n) * 2 : 0, Lo = 0, Hi = uint.MaxValue, Done = n <= Threshold });
        }

        /// <summary>The elements whose high 32 bits are <paramref name="key"/>, in std::sort's order.</summary>
        public ulong[] Get(uint key)
        {
            if (_cache.TryGetValue(key, out var hit)) return hit;
            // First range whose Hi >= key.
            int lo = 0, hi = _ranges.Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >> 1;
                if (_ranges[mid].Hi < key) lo = mid + 1;
                else hi = mid;
            }
            int start = lo;
            for (int i = start; i < _ranges.Count && _ranges[i].Lo <= key;)
            {
                var r = _ranges[i];
                if (r.Done || r.Hi < key)
                {
                    i++;
                    continue;
                }
                _children.Clear();
                Refine(r, key);
                _ranges.RemoveAt(i);
                _ranges.InsertRange(i, _children);
                // Re-examine from i: the children are in position order; done ones are skipped.
            }
            var list = new List<ulong>();
            int from = int.MaxValue, to = 0;
            for (int i = start; i < _ranges.Count && _ranges[i].Lo <= key; i++)
            {
                if (_ranges[i].Hi < key) continue;
                from = Math.Min(from, _ranges[i].First);
                to = Math.Max(to, _ranges[i].Last);
            }
            for (int p = from; p < to; p++)
                if ((uint)(_a[p] >> 32) == key) list.Add(_a[p]);
            var result = list.ToArray();
            _cache[key] = result;
            return result;
        }

        // HIntroLoop on one range, recursing only into parts whose bounds include key; the other parts are left
        // pending. Appends the resulting ranges to _children in position order.
        private void Refine(Range r, uint key)
        {
            ref ulong b = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_a);
            int first = r.First, last = r.Last, depth = r.Depth;
            uint lo = r.Lo, hi = r.Hi;
            // Ranges right of the current one, collected while walking left; they come after it in position order.
            var right = new List<Range>();
            while (last - first > Threshold)
            {
                if (depth == 0)
                {
                    HHeapSort(_a, first, last);
                    break;
                }
                depth--;
                int cut = HPartitionPivot(ref b, first, last);
                uint p = (uint)(At(ref b, first) >> 32);
                var rightPart = new Range { First = cut, Last = last, Depth = depth, Lo = p, Hi = hi, Done = last - cut <= Threshold };
                if (!rightPart.Done && p <= key && key <= hi)
                {
                    int before = _children.Count;
                    Refine(rightPart, key);
                    var produced = _children.GetRange(before, _children.Count - before);
                    _children.RemoveRange(before, _children.Count - before);
                    right.InsertRange(0, produced);
                }
                else right.Insert(0, rightPart);
                last = cut;
                hi = p;
                if (!(lo <= key && key <= hi))
                {
                    _children.Add(new Range { First = first, Last = last, Depth = depth, Lo = lo, Hi = hi, Done = last - first <= Threshold });
                    _children.AddRange(right);
                    return;
                }
            }
            _children.Add(new Range { First = first, Last = last, Depth = depth, Lo = lo, Hi = hi, Done = true });
            _children.AddRange(right);
        }
    }

    private static void HFinalInsertionSort(ref ulong b, int first, int last)
    {
        if (last - first > Threshold)
        {
            HInsertionSort(ref b, first, first + Threshold);
            for (int i = first + Threshold; i < last; i++) HUnguardedLinearInsert(ref b, i);
        }
        else HInsertionSort(ref b, first, last);
    }

    private static void HInsertionSort(ref ulong b, int first, int last)
    {
        if (first == last) return;
        for (int i = first + 1; i < last; i++)
        {
            ulong val = At(ref b, i);
            if (HLess(val, At(ref b, first)))
            {
                for (int j = i; j > first; j--) At(ref b, j) = At(ref b, j - 1);
                At(ref b, first) = val;
            }
            else HUnguardedLinearInsert(ref b, i);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void HUnguardedLinearInsert(ref ulong b, int last)
    {
        ulong val = At(ref b, last);
        uint key = (uint)(val >> 32);
        int next = last - 1;
        while (key < (uint)(At(ref b, next) >> 32))
        {
            At(ref b, last) = At(ref b, next);
            last = next;
            next--;
        }
        At(ref b, last) = val;
    }

    private struct High32Less : ILess<ulong>
    {
        public bool Less(in ulong a, in ulong b) => HLess(a, b);
    }
}
