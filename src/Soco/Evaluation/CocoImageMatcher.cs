namespace Soco.Evaluation;

/// <summary>
/// pycocotools' <c>COCOeval.evaluateImg</c> for one (image, category, area range): greedy matching of detections
/// (score order) to ground truth at each IoU threshold (docs/coco-evaluation.md §Matching). Writes, per threshold and
/// detection, whether it is a true positive, a false positive or ignored. Reused across calls: it keeps its buffers.
/// </summary>
internal sealed class CocoImageMatcher(double[] iouThresholds)
{
    public const byte Ignored = 0, TruePositive = 1, FalsePositive = 2;

    readonly double[] _thr = iouThresholds;
    int[] _perm = new int[16];
    bool[] _gtIgnore = new bool[16];
    bool[] _gtMatched = new bool[16];

    /// <param name="gtIgnore">Per ground truth (original order): <c>iscrowd</c> or area outside the range.</param>
    /// <param name="gtCrowd">Per ground truth (original order).</param>
    /// <param name="gtIdNonZero">Per ground truth: its id is not 0 (pycocotools stores matches as ids, so a match to
    /// id 0 reads as no match afterwards).</param>
    /// <param name="iou">[D × G] IoU, detections in score order, ground truth in original order.</param>
    /// <param name="dtOutside">Per detection: its area is outside the range.</param>
    /// <param name="flags">[T × D] out: <see cref="Ignored"/>, <see cref="TruePositive"/> or <see cref="FalsePositive"/>.</param>
    /// <returns>The number of ground truths that count (not ignored).</returns>
    public int Match(ReadOnlySpan<bool> gtIgnoreIn, ReadOnlySpan<bool> gtCrowd, ReadOnlySpan<bool> gtIdNonZero,
                     ReadOnlySpan<double> iou, ReadOnlySpan<bool> dtOutside, Span<byte> flags)
    {
        int G = gtIgnoreIn.Length, D = dtOutside.Length, T = _thr.Length;
        if (_perm.Length < G)
        {
            _perm = new int[G * 2];
            _gtIgnore = new bool[G * 2];
            _gtMatched = new bool[G * 2];
        }
        // Ground truth stably sorted ignore-last (np.argsort(kind='mergesort') on the 0/1 flags).
        int n = 0, npig = 0;
        for (int g = 0; g < G; g++) if (!gtIgnoreIn[g]) _perm[n++] = g;
        npig = n;
        for (int g = 0; g < G; g++) if (gtIgnoreIn[g]) _perm[n++] = g;
        for (int j = 0; j < G; j++) _gtIgnore[j] = gtIgnoreIn[_perm[j]];

        for (int t = 0; t < T; t++)
        {
            var matched = _gtMatched.AsSpan(0, G);
            matched.Clear();
            var f = flags.Slice(t * D, D);
            double thr = Math.Min(_thr[t], 1 - 1e-10);
            for (int d = 0; d < D; d++)
            {
                double best = thr;
                int m = -1;
                if (G > 0)
                {
                    var row = iou.Slice(d * G, G);
                    for (int j = 0; j < G; j++)
                    {
                        int g = _perm[j];
                        // A ground truth already taken is skipped unless it is a crowd region (which absorbs any number).
                        if (matched[j] && !gtCrowd[g]) continue;
                        // Matched to a counted ground truth and the rest are ignored ones: stop.
                        if (m > -1 && !_gtIgnore[m] && _gtIgnore[j]) break;
                        if (row[g] < best) continue;
                        best = row[g];
                        m = j;
                    }
                }
                bool isMatch = m != -1 && gtIdNonZero[_perm[m]];
                bool ignore = m != -1 && _gtIgnore[m];
                if (m != -1) matched[m] = true;
                // Unmatched detections outside the area range are ignored.
                if (!isMatch && dtOutside[d]) ignore = true;
                f[d] = ignore ? Ignored : isMatch ? TruePositive : FalsePositive;
            }
        }
        return npig;
    }
}
