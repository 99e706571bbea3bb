namespace Soco.Evaluation;

/// <summary>
/// pycocotools' <c>COCOeval.accumulate</c> for one category: the per-image results, concatenated in image order,
/// sorted by score (descending; ties keep the concatenation order, as numpy's stable mergesort does), then for each
/// area range and maxDets the detections ranked below maxDets in their own image are taken, the running true/false
/// positives give recall and precision, the precision envelope is taken from the end, and precision is read at the
/// recall points with <c>searchsorted(side='left')</c> (docs/coco-evaluation.md §Accumulate). The score order is the
/// same for every area range, so it is sorted once per category.
/// </summary>
internal sealed class CocoAccumulator(CocoEvalParams p)
{
    /// <summary>numpy's <c>np.spacing(1)</c> = 2⁻⁵², the gap from 1 to the next double (not C#'s double.Epsilon, the smallest subnormal).</summary>
    const double Spacing1 = 2.220446049250313e-16;

    readonly int T = p.IouThresholds.Length;
    readonly int A = p.AreaRanges.Length;
    readonly List<double> _scores = [];
    readonly List<int> _rank = [];
    readonly List<byte>[] _flags = p.AreaRanges.Select(_ => new List<byte>()).ToArray(); // per area: [det][T]
    readonly int[] _npig = new int[p.AreaRanges.Length];
    int[] _order = [], _sel = [];
    double[] _rc = [], _pr = [];

    public void Clear()
    {
        _scores.Clear();
        _rank.Clear();
        foreach (var f in _flags) f.Clear();
        Array.Clear(_npig);
    }

    /// <summary>Adds one image's detections, in score order (rank = position).</summary>
    public void AddDetections(ReadOnlySpan<double> scores)
    {
        for (int d = 0; d < scores.Length; d++)
        {
            _scores.Add(scores[d]);
            _rank.Add(d);
        }
    }

    /// <summary>Adds that image's result for area range <paramref name="a"/>: flags [T × D], counted ground truth.</summary>
    public void AddFlags(int a, ReadOnlySpan<byte> flags, int npig)
    {
        int D = flags.Length / T;
        _npig[a] += npig;
        var list = _flags[a];
        for (int d = 0; d < D; d++)
            for (int t = 0; t < T; t++) list.Add(flags[t * D + d]);
    }

    /// <summary>Writes precision [T, R, ·, A, M] and recall [T, ·, A, M] of category <paramref name="k"/> into the flat arrays.</summary>
    public void Finish(int k, int K, double[] precision, double[] recall)
    {
        int N = _scores.Count, R = p.RecallThresholds.Length, M = p.MaxDets.Length;
        if (_order.Length < N)
        {
            int n = Math.Max(N, 2 * _order.Length);
            _order = new int[n];
            _sel = new int[n];
            _rc = new double[n];
            _pr = new double[n];
        }
        var order = _order.AsSpan(0, N);
        for (int i = 0; i < N; i++) order[i] = i;
        var sc = _scores;
        order.Sort((x, y) =>
        {
            int c = sc[y].CompareTo(sc[x]);
            return c != 0 ? c : x.CompareTo(y);
        });
        for (int a = 0; a < A; a++)
        {
            // No counted ground truth: precision and recall stay −1 (the category is left out of the means).
            int npig = _npig[a];
            if (npig == 0) continue;
            var flags = _flags[a];
            for (int m = 0; m < M; m++)
            {
                int maxDet = p.MaxDets[m], nd = 0;
                foreach (int i in order) if (_rank[i] < maxDet) _sel[nd++] = i;
                for (int t = 0; t < T; t++)
                {
                    long tp = 0, fp = 0;
                    for (int j = 0; j < nd; j++)
                    {
                        byte f = flags[_sel[j] * T + t];
                        if (f == CocoImageMatcher.TruePositive) tp++;
                        else if (f == CocoImageMatcher.FalsePositive) fp++;
                        _rc[j] = tp / (double)npig;
                        _pr[j] = tp / ((double)fp + tp + Spacing1);
                    }
                    recall[((t * K + k) * A + a) * M + m] = nd > 0 ? _rc[nd - 1] : 0;
                    for (int j = nd - 1; j > 0; j--)
                        if (_pr[j] > _pr[j - 1]) _pr[j - 1] = _pr[j];
                    int pi = 0;
                    bool past = false;
                    for (int r = 0; r < R; r++)
                    {
                        double thr = p.RecallThresholds[r];
                        while (pi < nd && _rc[pi] < thr) pi++;
                        // Past the last detection the rest stay 0 (pycocotools' IndexError, caught).
                        if (pi >= nd) past = true;
                        precision[(((t * R + r) * K + k) * A + a) * M + m] = past ? 0 : _pr[pi];
                    }
                }
            }
        }
    }
}
