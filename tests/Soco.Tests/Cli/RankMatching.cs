namespace Soco.Tests.Cli;

/// <summary>
/// Pairs torchvision's detections of one image with ours (both best first) for parity tests: in torchvision's order,
/// except inside a group of consecutive scores no further apart than <c>tie</c> (0: exactly tied scores, same pooled
/// features), whose order is rounding or the RPN's tie order; there each of torchvision's is paired with the unused one
/// of ours in the group with its label and the nearest box.
/// </summary>
public static class RankMatching
{
    /// <param name="scores">torchvision's scores, best first; <paramref name="labels"/>, <paramref name="boxes"/> (x1, y1, x2, y2 per detection) likewise.</param>
    /// <param name="ours">Our detections in our order: label and corners.</param>
    /// <returns>For each of torchvision's detections the index of ours paired with it, the largest corner difference
    /// and the number of groups of more than one detection.</returns>
    public static (int[] Pick, double MaxBoxDiff, int Groups) Match(float[] scores, long[] labels, float[] boxes, IReadOnlyList<(long Label, double[] Corners)> ours,
        double tie, string what)
    {
        Assert.Equal(scores.Length, ours.Count);
        var picks = new int[scores.Length];
        double bd = 0;
        int groups = 0;
        for (int start = 0; start < scores.Length;)
        {
            int end = start + 1;
            while (end < scores.Length && scores[end - 1] - scores[end] <= tie) end++;
            if (end - start > 1) groups++;
            var used = new bool[end - start];
            for (int k = start; k < end; k++)
            {
                double best = double.MaxValue;
                int pick = -1;
                for (int j = start; j < end; j++)
                {
                    if (used[j - start] || ours[j].Label != labels[k]) continue;
                    double d = Enumerable.Range(0, 4).Max(c => Math.Abs(ours[j].Corners[c] - boxes[4 * k + c]));
                    if (d < best) { best = d; pick = j; }
                }
                Assert.True(pick >= 0, $"{what} detection {k}: none of ours at that rank has torchvision's label {labels[k]}");
                used[pick - start] = true;
                picks[k] = pick;
                bd = Math.Max(bd, best);
            }
            start = end;
        }
        return (picks, bd, groups);
    }
}
