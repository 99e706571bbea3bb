using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>
/// Multi-level RoI pooling. Two policies:
/// <list type="bullet">
/// <item>SoCo's (docs/soco-reference.md §5.4, §5.8): every box is pooled on every pyramid level, from normalised boxes scaled by each
/// level's actual size (<see cref="PoolEveryLevel"/>).</item>
/// <item>Detector-style: each box is pooled only on its assigned level (<see cref="PoolAssigned"/>,
/// <see cref="PoolNormalizedAssigned"/>), with torchvision's <c>LevelMapper</c> rule available as
/// <see cref="DetectorLevels"/>.</item>
/// </list>
/// </summary>
public static class RoiPooling
{
    /// <summary>
    /// SoCo's <c>append_batch_index_to_bboxs_and_scale</c>: normalised boxes N×L×(≥4) → RoIs (N·L)×5
    /// <c>[n, x1·W, y1·H, x2·W, y2·H]</c> for a map of size H×W (a 5th id column is ignored).
    /// </summary>
    public static Tensor NormalizedBoxesToRois(Tensor boxes, long height, long width)
    {
        if (boxes.dim() != 3 || boxes.shape[2] < 4)
            throw new ArgumentException($"boxes must be N×L×4 (or ×5 with ids), got [{string.Join(", ", boxes.shape)}].", nameof(boxes));
        using var scope = NewDisposeScope();
        long n = boxes.shape[0], l = boxes.shape[1];
        var b = boxes.detach().narrow(2, 0, 4).to(float32);
        var scale = tensor(new float[] { width, height, width, height }, device: boxes.device);
        var coords = (b * scale).reshape(n * l, 4);
        var idx = ExplicitScalars.Arange(n, float32, boxes.device).view(n, 1).expand(n, l).reshape(n * l, 1);
        return cat([idx, coords], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// SoCo's pooling: every box on every level. <paramref name="boxes"/> N×L×(≥4) normalised; returns one
    /// (N·L)×C×S×S tensor per level (box-major within a level, as the official code). Feature maps are cast to float32
    /// first, as the official code does under AMP.
    /// </summary>
    public static Tensor[] PoolEveryLevel(IReadOnlyList<Tensor> features, Tensor boxes, long outputSize = 7, bool aligned = true, int samplingRatio = -1)
    {
        var outs = new Tensor[features.Count];
        for (int i = 0; i < features.Count; i++) outs[i] = PoolOneLevel(features[i], boxes, outputSize, aligned, samplingRatio);
        return outs;
    }

    /// <summary>One level of <see cref="PoolEveryLevel"/>. <paramref name="hostBoxes"/>: the same boxes on the host
    /// (N·L·columns floats), if the caller has them, so RoIAlign needs no copy back from the device.</summary>
    public static Tensor PoolOneLevel(Tensor feature, Tensor boxes, long outputSize = 7, bool aligned = true, int samplingRatio = -1, float[]? hostBoxes = null)
    {
        using var scope = NewDisposeScope();
        var rois = NormalizedBoxesToRois(boxes, feature.shape[2], feature.shape[3]);
        // Half-precision maps are pooled in float32 (as the official code under AMP); a float64 model stays float64 (the
        // data-parallel gradient check runs one, docs/distributed.md §Equivalence).
        var f = feature.dtype == float32 || feature.dtype == float64 ? feature : feature.to(float32);
        double[]? host = hostBoxes is null ? null : HostRois(hostBoxes, boxes, feature.shape[2], feature.shape[3]);
        return RoiAlign.Apply(f, rois, (outputSize, outputSize), 1.0, samplingRatio, aligned, host).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="NormalizedBoxesToRois"/> on the host, in the same float32 arithmetic.</summary>
    static double[] HostRois(float[] host, Tensor boxes, long height, long width)
    {
        long n = boxes.shape[0], l = boxes.shape[1], cols = boxes.shape[2];
        if (host.Length != n * l * cols) throw new ArgumentException($"hostBoxes has {host.Length} values for boxes [{string.Join(", ", boxes.shape)}].", nameof(host));
        var r = new double[n * l * 5];
        float fw = width, fh = height;
        for (long i = 0; i < n * l; i++)
        {
            r[i * 5] = i / l;
            r[i * 5 + 1] = host[i * cols] * fw;
            r[i * 5 + 2] = host[i * cols + 1] * fh;
            r[i * 5 + 3] = host[i * cols + 2] * fw;
            r[i * 5 + 4] = host[i * cols + 3] * fh;
        }
        return r;
    }

    /// <summary>
    /// Detector-style pooling: RoI k (image coordinates, K×5) is pooled only on <c>features[levels[k]]</c> with that
    /// level's spatial scale. Returns K×C×S×S in the RoIs' order.
    /// </summary>
    public static Tensor PoolAssigned(IReadOnlyList<Tensor> features, Tensor rois, IReadOnlyList<double> spatialScales, IReadOnlyList<long> levels,
        long outputSize = 7, bool aligned = true, int samplingRatio = -1, bool sparse = false)
    {
        if (spatialScales.Count != features.Count) throw new ArgumentException("one spatial scale per feature level is required.", nameof(spatialScales));
        return Grouped(features, levels, rois.shape[0], (lvl, idx, sel) => sparse
            ? RoiAlign.ApplySparse(features[lvl], rois.index_select(0, sel.to(rois.device)), outputSize, spatialScales[lvl], samplingRatio, aligned)
            : RoiAlign.Apply(features[lvl], rois.index_select(0, sel.to(rois.device)), outputSize, spatialScales[lvl], samplingRatio, aligned));
    }

    /// <summary>
    /// Detector-style pooling of normalised boxes (K×(≥4), image <paramref name="batchIndex"/>[k]) on their assigned
    /// level, scaled by that level's actual size as SoCo does. Used by SoCo's assigned-level mode.
    /// </summary>
    public static Tensor PoolNormalizedAssigned(IReadOnlyList<Tensor> features, Tensor boxes, IReadOnlyList<long> batchIndex, IReadOnlyList<long> levels,
        long outputSize = 7, bool aligned = true, int samplingRatio = -1)
    {
        long k = boxes.shape[0];
        if (batchIndex.Count != k || levels.Count != k) throw new ArgumentException("batchIndex and levels need one entry per box.");
        return Grouped(features, levels, k, (lvl, idx, sel) =>
        {
            var f = features[lvl];
            var b = boxes.detach().index_select(0, sel.to(boxes.device)).narrow(1, 0, 4).to(float32);
            var scale = tensor(new float[] { f.shape[3], f.shape[2], f.shape[3], f.shape[2] }, device: boxes.device);
            var bi = tensor(idx.Select(i => (float)batchIndex[(int)i]).ToArray(), device: boxes.device).view(-1, 1);
            var rois = cat([bi, b * scale], 1);
            return RoiAlign.Apply(f.dtype == float32 ? f : f.to(float32), rois, outputSize, 1.0, samplingRatio, aligned);
        });
    }

    /// <summary>
    /// torchvision's <c>LevelMapper</c> (FPN paper eq. 1): level = floor(k0 + log2(√area / s0) + 1e-6), clamped to
    /// [minLevel, maxLevel]; returned as an index relative to <paramref name="minLevel"/>. RoIs K×5 in image pixels.
    /// </summary>
    public static long[] DetectorLevels(Tensor rois, int minLevel = 2, int maxLevel = 5, double canonicalSize = 224, int canonicalLevel = 4)
    {
        using var scope = NewDisposeScope();
        var r = rois.detach().to(float32).cpu();
        var area = (r[.., 3] - r[.., 1]) * (r[.., 4] - r[.., 2]);
        var s = area.sqrt();
        // canonicalLevel + log2(s / canonicalSize) + 1e-6, with explicit scalars (see ExplicitScalars).
        var lvl = s.Div(canonicalSize).log2().Add(canonicalLevel).Add(1e-6).floor().Clamp(minLevel, maxLevel).Sub(minLevel);
        return lvl.to(int64).data<long>().ToArray();
    }

    /// <summary>Pools each level's boxes (<c>pool(level, indices, indices as a tensor)</c>) and restores the input order.</summary>
    static Tensor Grouped(IReadOnlyList<Tensor> features, IReadOnlyList<long> levels, long k, Func<int, long[], Tensor, Tensor> pool)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < levels.Count; i++)
            if (levels[i] < 0 || levels[i] >= features.Count)
                throw new ArgumentException($"box {i} is assigned to level {levels[i]}, outside [0, {features.Count}).", nameof(levels));
        var parts = new List<Tensor>();
        var order = new List<long>();
        for (int lvl = 0; lvl < features.Count; lvl++)
        {
            var idx = Enumerable.Range(0, (int)k).Where(i => levels[i] == lvl).Select(i => (long)i).ToArray();
            if (idx.Length == 0) continue;
            parts.Add(pool(lvl, idx, tensor(idx, device: features[lvl].device)));
            order.AddRange(idx);
        }
        if (parts.Count == 0)
        {
            var f = features[0];
            // No box: an empty result that still hangs off the graph.
            return pool(0, [], zeros(0, dtype: int64, device: f.device)).MoveToOuterDisposeScope();
        }
        var inverse = new long[k];
        for (int j = 0; j < order.Count; j++) inverse[order[j]] = j;
        var all = parts.Count == 1 ? parts[0] : cat(parts, 0);
        return all.index_select(0, tensor(inverse, device: all.device)).MoveToOuterDisposeScope();
    }
}
