namespace Soco.Evaluation;

/// <summary>
/// pycocotools' <c>COCOeval.accumulate</c> for one (category, area range): the per-image results of that category,
/// concatenated in image order, sorted once by score (descending; ties keep the concatenation order, as numpy's
/// stable mergesort does), then for each maxDets the detections ranked below it in their own image are taken, the
/// running true/false positives give recall and precision, the precision envelope is taken from the end, and
/// precision is read at the recall points with <c>searchsorted(side='left')</c> (docs/coco-evaluation.md §Accumulate).
/// </summary>
internal sealed class CocoAccumulator(CocoEvalParams p)
{
    readonly int T = p.IouThresholds.Length;
    readonly List<double> _scores = [];
    readonly List<int> _rank = [];
    readonly List<byte> _flags = []; // [det][T]
    int _npig;

    /// <summary>numpy's <c>np.spacing(1)</c> = 2⁻⁵², the gap from 1 to the next double (not C#'s double.Epsilon, the smallest subnormal).</summary>
    const double Spacing1 = 2.220446049250313e-16;

    public void Clear()
    {
        _scores.Clear();
        _rank.Clear();
        _flags.Clear();
        _npig = 0;
    }

    /// <summary>Adds one image's result: detections in score order (rank = position), flags [T × D].</summary>
    public void Add(ReadOnlySpan<double> scores, ReadOnlySpan<byte> flags, int npig)
    {
        int D = scores.Length;
        _npig += npig;
        for (int d = 0; d < D; d++)
        {
            _scores.Add(scores[d]);
            _rank.Add(d);
            for (int t = 0; t < T; t++) _flags.Add(flags[t * D + d]);
        }
    }

    /// <summary>Writes precision [T, R] and recall [T] of maxDets index m into the flat arrays of the result.</summary>
    public void Finish(int k, int a, int K, int A, double[] precision, double[] recall)
    {
        // No counted ground truth: precision and recall stay −1 (the category is left out of the means).
        if (_npig == 0) return;
        int N = _scores.Count, R = p.RecallThresholds.Length, M = p.MaxDets.Length;
        var order = new int[N];
        for (int i = 0; i < N; i++) order[i] = i;
        var sc = _scores;
        Array.Sort(order, (x, y) =>
        {
            int c = sc[y].CompareTo(sc[x]);
            return c != 0 ? c : x.CompareTo(y);
        });
        var sel = new int[N];
        var rc = new double[N];
        var pr = new double[N];
        for (int m = 0; m < M; m++)
        {
            int maxDet = p.MaxDets[m], nd = 0;
            foreach (int i in order) if (_rank[i] < maxDet) sel[nd++] = i;
            for (int t = 0; t < T; t++)
            {
                long tp = 0, fp = 0;
                for (int j = 0; j < nd; j++)
                {
                    byte f = _flags[sel[j] * T + t];
                    if (f == CocoImageMatcher.TruePositive) tp++;
                    else if (f == CocoImageMatcher.FalsePositive) fp++;
                    rc[j] = tp / (double)_npig;
                    pr[j] = tp / ((double)fp + tp + Spacing1);
                }
                recall[((t * K + k) * A + a) * M + m] = nd > 0 ? rc[nd - 1] : 0;
                for (int j = nd - 1; j > 0; j--)
                    if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
                int pi = 0;
                bool past = false;
                for (int r = 0; r < R; r++)
                {
                    double thr = p.RecallThresholds[r];
                    while (pi < nd && rc[pi] < thr) pi++;
                    // Past the last detection the rest stay 0 (pycocotools' IndexError, caught).
                    if (pi >= nd) past = true;
                    precision[(((t * R + r) * K + k) * A + a) * M + m] = past ? 0 : pr[pi];
                }
            }
        }
    }
}
