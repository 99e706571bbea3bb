namespace Soco.Geometry;

/// <summary>FPN level assignment and correspondence matrices (docs/soco-reference.md §4.8).</summary>
public static class Correspondence
{
    /// <summary><c>aware_range</c> with <c>aware_start 0, aware_end 4</c>: upper box sizes of P2…P5, in view pixels.</summary>
    public static readonly int[] AwareRange = [48, 96, 192, 224];

    /// <summary>P = 4 pyramid levels (P2…P5).</summary>
    public const int Levels = 4;

    /// <summary>
    /// Level of an int-resized box: the first j with √((x2−x1+1)(y2−y1+1)) ≤ aware_range[j]. A box larger than the
    /// last bound (impossible in 224/192/112 views) goes to the last level.
    /// </summary>
    public static int Level((int X1, int Y1, int X2, int Y2) box, IReadOnlyList<int>? range = null)
    {
        range ??= AwareRange;
        double size = Math.Sqrt((double)(box.X2 - box.X1 + 1) * (box.Y2 - box.Y1 + 1));
        for (int j = 0; j < range.Count; j++)
            if (size <= range[j]) return j;
        return range.Count - 1;
    }

    /// <summary>The sentinel of view number <paramref name="view"/> (1-based): −1 for V1, −2 for V2, … (docs/soco-reference.md §4.8).</summary>
    public static int Sentinel(int view) => -view;

    /// <summary>Assignment vector of length P·L: index level·L + box, box id at its level, the view's sentinel elsewhere.</summary>
    public static int[] Assign(IReadOnlyList<int> ids, IReadOnlyList<int> levels, int view, int levelCount = Levels)
    {
        int l = ids.Count;
        var a = new int[levelCount * l];
        Array.Fill(a, Sentinel(view));
        for (int b = 0; b < l; b++) a[levels[b] * l + b] = ids[b];
        return a;
    }

    /// <summary>C[a, b] = 1 iff assign1[a] == assignK[b] — (P·L)×(P·L), row-major.</summary>
    public static float[] Aware(int[] assign1, int[] assignK)
    {
        int n = assign1.Length, m = assignK.Length;
        var c = new float[n * m];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < m; b++)
                if (assign1[a] == assignK[b]) c[a * m + b] = 1;
        return c;
    }

    /// <summary>C4: C[a, b] = 1 iff the ids are equal — L×L, row-major.</summary>
    public static float[] Plain(IReadOnlyList<int> ids1, IReadOnlyList<int> idsK)
    {
        var c = new float[ids1.Count * idsK.Count];
        for (int a = 0; a < ids1.Count; a++)
            for (int b = 0; b < idsK.Count; b++)
                if (ids1[a] == idsK[b]) c[a * idsK.Count + b] = 1;
        return c;
    }
}
