using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// torchvision 0.14's <c>AnchorGenerator</c> (docs/detection-parts.md §Anchors): per pyramid level, base anchors for
/// every (ratio, size) pair — ratio = h/w, <c>h = √r·size</c>, <c>w = size/√r</c>, <c>[−w, −h, w, h]/2</c> rounded half
/// to even, ratio-major order — shifted to every cell's top-left corner, cell stride = padded image size // feature
/// size (integer, per axis; so not always a power of two: 800 // 13 = 61). Order: rows, columns, then base anchors.
/// </summary>
public sealed class AnchorGenerator
{
    readonly double[][] _sizes;
    readonly double[][] _ratios;
    readonly Tensor[] _cellAnchors;

    /// <summary>One size list and one ratio list per level.</summary>
    public AnchorGenerator(IReadOnlyList<double[]> sizes, IReadOnlyList<double[]> aspectRatios)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(aspectRatios);
        if (sizes.Count == 0 || sizes.Count != aspectRatios.Count)
            throw new ArgumentException($"anchor generator needs one size list and one ratio list per level (got {sizes.Count} and {aspectRatios.Count}).");
        for (int l = 0; l < sizes.Count; l++)
        {
            if (sizes[l].Length == 0 || aspectRatios[l].Length == 0) throw new ArgumentException($"level {l} has no anchor sizes or ratios.");
            if (sizes[l].Any(s => !(s > 0)) || aspectRatios[l].Any(r => !(r > 0)))
                throw new ArgumentException($"level {l}: anchor sizes and ratios must be positive.");
        }
        _sizes = sizes.Select(s => s.ToArray()).ToArray();
        _ratios = aspectRatios.Select(r => r.ToArray()).ToArray();
        _cellAnchors = Enumerable.Range(0, _sizes.Length).Select(l => BaseAnchors(_sizes[l], _ratios[l])).ToArray();
    }

    /// <summary>The R-CNN FPN default: sizes 32, 64, 128, 256, 512 on P2–P6, ratios 0.5, 1, 2 on each.</summary>
    public static AnchorGenerator FpnDefault() => new(
        [[32], [64], [128], [256], [512]],
        Enumerable.Repeat(new[] { 0.5, 1.0, 2.0 }, 5).ToArray());

    /// <summary>The R-C4 default (Detectron2's <c>ANCHOR_GENERATOR</c> defaults, docs/detector-c4.md §RPN): sizes 32, 64,
    /// 128, 256, 512 and ratios 0.5, 1, 2 all on the one stride-16 C4 map, 15 anchors per location.</summary>
    public static AnchorGenerator C4Default() => new([[32, 64, 128, 256, 512]], [[0.5, 1.0, 2.0]]);

    public int NumLevels => _sizes.Length;

    /// <summary>Anchors per feature-map location on each level (sizes × ratios).</summary>
    public int[] NumAnchorsPerLocation => _sizes.Select((s, l) => s.Length * _ratios[l].Length).ToArray();

    /// <summary>The rounded base anchors of a level (A×4, float32), centred on (0, 0).</summary>
    public Tensor CellAnchors(int level) => _cellAnchors[level];

    static Tensor BaseAnchors(double[] sizes, double[] ratios)
    {
        using var scope = NewDisposeScope();
        // As torchvision: float32 tensors, w_ratio = reciprocal(sqrt(r)), outer products ratio-major, then round.
        var scales = tensor(sizes.Select(s => (float)s).ToArray());
        var ar = tensor(ratios.Select(r => (float)r).ToArray());
        var hr = ar.sqrt();
        var wr = hr.reciprocal();
        var ws = (wr.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
        var hs = (hr.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
        var b = stack([ws.neg(), hs.neg(), ws, hs], 1).Div(2.0).round();
        return b.MoveToOuterDisposeScope();
    }

    /// <summary>Cell stride per level: padded image size // feature size on each axis.</summary>
    public static (long Y, long X)[] Strides((long Height, long Width) paddedSize, IReadOnlyList<(long Height, long Width)> featureSizes)
    {
        return featureSizes.Select((g, l) =>
        {
            if (g.Height < 1 || g.Width < 1) throw new ArgumentException($"feature level {l} has an empty size {g.Height}×{g.Width}.");
            return (paddedSize.Height / g.Height, paddedSize.Width / g.Width);
        }).ToArray();
    }

    /// <summary>
    /// Anchors of every level for a batch padded to <paramref name="paddedSize"/> with the given feature-map sizes
    /// (one (H·W·A)×4 tensor per level, the same for every image of the batch).
    /// </summary>
    public Tensor[] GridAnchors((long Height, long Width) paddedSize, IReadOnlyList<(long Height, long Width)> featureSizes, ScalarType dtype, Device device)
    {
        if (featureSizes.Count != NumLevels)
            throw new ArgumentException($"anchor generator has {NumLevels} levels but {featureSizes.Count} feature maps were given.", nameof(featureSizes));
        var strides = Strides(paddedSize, featureSizes);
        var result = new Tensor[NumLevels];
        for (int l = 0; l < NumLevels; l++)
        {
            using var scope = NewDisposeScope();
            var (gh, gw) = featureSizes[l];
            var (sy, sx) = strides[l];
            // torchvision: int32 shifts arange(W)·stride, meshgrid "ij", then int + float32 base anchors → float32.
            var shiftX = ExplicitScalars.Arange(0, gw, int64, device).Mul(sx);
            var shiftY = ExplicitScalars.Arange(0, gh, int64, device).Mul(sy);
            var grid = meshgrid([shiftY, shiftX], indexing: "ij");
            var y = grid[0].reshape(-1);
            var x = grid[1].reshape(-1);
            var shifts = stack([x, y, x, y], 1).to(dtype);
            var baseAnchors = _cellAnchors[l].to(dtype, device);
            result[l] = shifts.view(-1, 1, 4).Plus(baseAnchors.view(1, -1, 4)).reshape(-1, 4).MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>All levels' anchors concatenated (P2 first), one copy per image.</summary>
    public Tensor[] ForBatch(int numImages, (long Height, long Width) paddedSize, IReadOnlyList<(long Height, long Width)> featureSizes, ScalarType dtype, Device device)
    {
        var levels = GridAnchors(paddedSize, featureSizes, dtype, device);
        var all = cat(levels, 0);
        foreach (var t in levels) t.Dispose();
        var result = new Tensor[numImages];
        for (int i = 0; i < numImages; i++) result[i] = i == 0 ? all : all.clone();
        return result;
    }
}
