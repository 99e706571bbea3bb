namespace Soco.Evaluation;

/// <summary>An area range of COCO's evaluation, inclusive at both ends (docs/coco-evaluation.md §Params).</summary>
public readonly record struct AreaRange(string Label, double Min, double Max)
{
    public bool Contains(double area) => !(area < Min || area > Max);
}

/// <summary>
/// The parameters of pycocotools' <c>COCOeval</c> for <c>bbox</c> (Params.setDetParams): IoU thresholds
/// 0.50:0.05:0.95 and recall points 0:0.01:1 computed as numpy's <c>linspace</c> computes them (k·step + start, the
/// last set to the end exactly — 0.8999999999999999, not 0.9), maxDets 1/10/100, areas all/small/medium/large.
/// </summary>
public sealed class CocoEvalParams
{
    public double[] IouThresholds { get; init; } = Linspace(0.5, 0.95, 10);
    public double[] RecallThresholds { get; init; } = Linspace(0.0, 1.0, 101);
    public int[] MaxDets { get; init; } = [1, 10, 100];
    public AreaRange[] AreaRanges { get; init; } =
    [
        new("all", 0, 1e5 * 1e5),
        new("small", 0, 32 * 32),
        new("medium", 32 * 32, 96 * 96),
        new("large", 96 * 96, 1e5 * 1e5),
    ];

    /// <summary>numpy.linspace(start, stop, num): (k · ((stop − start)/(num − 1))) + start, last element = stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var r = new double[num];
        double step = (stop - start) / (num - 1);
        for (int k = 0; k < num; k++) r[k] = k * step + start;
        r[num - 1] = stop;
        return r;
    }

    internal void Validate()
    {
        if (IouThresholds.Length == 0 || RecallThresholds.Length == 0 || MaxDets.Length == 0 || AreaRanges.Length == 0)
            throw new ArgumentException("COCO evaluation parameters: every list needs at least one entry");
        if (!MaxDets.SequenceEqual(MaxDets.Order()) || MaxDets[0] < 1)
            throw new ArgumentException("COCO evaluation parameters: MaxDets must be positive and ascending");
        for (int i = 1; i < RecallThresholds.Length; i++)
            if (RecallThresholds[i] < RecallThresholds[i - 1]) throw new ArgumentException("COCO evaluation parameters: RecallThresholds must be ascending");
    }
}
