using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>
/// RoIAlign with torchvision 0.14 semantics (docs/soco-reference.md §5.4), written with tensor ops so autograd differentiates it
/// (with respect to the feature map; like torchvision, no gradient flows to the boxes).
/// <para>
/// Bilinear sampling is separable: for each RoI the pooled map is <c>Ay · F · Axᵀ</c>, where row <c>ph</c> of
/// <c>Ay</c> (out_h × H) holds the summed bilinear weights of that bin's sample rows divided by the bin's row-sample
/// count, and likewise for <c>Ax</c>. Sample positions, validity (a sample outside [−1, size] contributes 0), the
/// clamps and the adaptive grid <c>ceil(roi/out)</c> are computed in the feature map's dtype exactly as torchvision's
/// CPU kernel does, so only the summation order differs.
/// </para>
/// </summary>
public static class RoiAlign
{
    /// <summary>How far (in feature-map sizes) a box may reach beyond the map before it is rejected as garbage.</summary>
    public const double MaxOutsideFactor = 4.0;

    /// <summary>
    /// <paramref name="input"/> N×C×H×W; <paramref name="rois"/> K×5 rows <c>[batch_index, x1, y1, x2, y2]</c> in input
    /// image coordinates (multiplied by <paramref name="spatialScale"/>). Returns K×C×out_h×out_w.
    /// <paramref name="samplingRatio"/> ≤ 0 means adaptive (<c>ceil(roi_size / out_size)</c> samples per bin and axis).
    /// Throws <see cref="ArgumentException"/> on malformed input: wrong shapes, non-finite coordinates, x2 &lt; x1 or
    /// y2 &lt; y1, a batch index that is not an integer in [0, N), or a box reaching more than
    /// <see cref="MaxOutsideFactor"/> map sizes beyond the map.
    /// </summary>
    /// <param name="hostRois">The same RoIs already on the host (K·5 values, row-major), when the caller has them: the
    /// checks and the sample-grid size are then computed from them, without copying <paramref name="rois"/> back from
    /// a GPU (each copy waits for all the work queued before it).</param>
    public static Tensor Apply(Tensor input, Tensor rois, (long Height, long Width) outputSize, double spatialScale = 1.0,
        int samplingRatio = -1, bool aligned = false, double[]? hostRois = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(rois);
        if (input.dim() != 4) throw new ArgumentException($"RoIAlign input must be N×C×H×W, got shape [{string.Join(", ", input.shape)}].", nameof(input));
        if (!input.is_floating_point()) throw new ArgumentException("RoIAlign input must be a floating-point tensor.", nameof(input));
        if (rois.dim() != 2 || rois.shape[1] != 5) throw new ArgumentException($"RoIs must be K×5 [batch_index, x1, y1, x2, y2], got shape [{string.Join(", ", rois.shape)}].", nameof(rois));
        if (outputSize.Height < 1 || outputSize.Width < 1) throw new ArgumentException("RoIAlign output size must be positive.", nameof(outputSize));
        if (!double.IsFinite(spatialScale) || spatialScale <= 0) throw new ArgumentException("spatialScale must be finite and > 0.", nameof(spatialScale));

        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        long k = rois.shape[0];
        if (h < 1 || w < 1 || n < 1) throw new ArgumentException("RoIAlign input has an empty batch or spatial dimension.", nameof(input));
        if (hostRois is not null && hostRois.Length != k * 5)
            throw new ArgumentException($"hostRois has {hostRois.Length} values for {k} RoIs.", nameof(hostRois));
        var batchIndex = Validate(hostRois ?? HostCopy(rois), k, n, h, w, spatialScale);

        using var scope = NewDisposeScope();
        var dt = input.dtype;
        var dev = input.device;
        long oh = outputSize.Height, ow = outputSize.Width;

        // Coordinates: torchvision computes `roi * spatial_scale - offset` in double and stores it as T.
        var r64 = rois.detach().to(float64).to(dev);
        double offset = aligned ? 0.5 : 0.0;
        // Scalars are explicit (ExplicitScalars): implicit ones can be finalised during the native call.
        var x1 = r64[.., 1].Mul(spatialScale).Sub(offset).to(dt);
        var y1 = r64[.., 2].Mul(spatialScale).Sub(offset).to(dt);
        var x2 = r64[.., 3].Mul(spatialScale).Sub(offset).to(dt);
        var y2 = r64[.., 4].Mul(spatialScale).Sub(offset).to(dt);
        var roiW = x2 - x1;
        var roiH = y2 - y1;
        if (!aligned)
        {
            roiW = roiW.ClampMin(1.0);
            roiH = roiH.ClampMin(1.0);
        }

        long? gy = null, gx = null;
        if (hostRois is not null && samplingRatio <= 0 && k > 0 && (dt == float32 || dt == float64))
        {
            gy = HostGridMax(hostRois, 2, spatialScale, offset, aligned, oh, dt);
            gx = HostGridMax(hostRois, 1, spatialScale, offset, aligned, ow, dt);
        }
        var ay = AxisWeights(y1, roiH, oh, h, samplingRatio, dt, dev, gy); // K×oh×H
        var ax = AxisWeights(x1, roiW, ow, w, samplingRatio, dt, dev, gx); // K×ow×W

        Tensor result;
        if (k == 0)
        {
            // Empty but still connected to the graph, like torchvision's empty output.
            var f0 = input.narrow(0, 0, 1).permute(0, 2, 1, 3).reshape(1, h, c * w);
            var t0 = ay.view(1, 0, h).bmm(f0).view(0, oh * c, w);
            result = t0.bmm(ax.transpose(1, 2)).view(0, oh, c, ow).permute(0, 2, 1, 3).contiguous();
        }
        else
        {
            // F as [N, H, C·W]: one matrix product per image handles all of its RoIs at once.
            var fp = input.permute(0, 2, 1, 3).reshape(n, h, c * w);
            long per = k % n == 0 ? k / n : -1;
            bool uniform = per > 0;
            for (long i = 0; uniform && i < k; i++) uniform = batchIndex[i] == i / per;
            if (uniform)
            {
                var t = ay.view(n, per * oh, h).bmm(fp).view(k, oh * c, w);
                result = t.bmm(ax.transpose(1, 2)).view(k, oh, c, ow).permute(0, 2, 1, 3).contiguous();
            }
            else
            {
                var parts = new List<Tensor>();
                var order = new List<long>();
                foreach (var group in Enumerable.Range(0, (int)k).GroupBy(i => batchIndex[i]).OrderBy(g => g.Key))
                {
                    var idx = group.Select(i => (long)i).ToArray();
                    var sel = tensor(idx, device: dev);
                    long m = idx.Length;
                    var t = ay.index_select(0, sel).view(m * oh, h).mm(fp[group.Key]).view(m, oh * c, w);
                    parts.Add(t.bmm(ax.index_select(0, sel).transpose(1, 2)).view(m, oh, c, ow));
                    order.AddRange(idx);
                }
                var inverse = new long[k];
                for (int j = 0; j < order.Count; j++) inverse[order[j]] = j;
                result = cat(parts, 0).index_select(0, tensor(inverse, device: dev)).permute(0, 2, 1, 3).contiguous();
            }
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same RoIAlign as <see cref="Apply"/> for a detector's many RoIs on large maps (docs/detector-c4.md §Speed):
    /// <see cref="Apply"/> multiplies dense K×out×H and K×out×W interpolation matrices with the whole map, which costs
    /// K·out·H·C·W — for 1000 proposals on an 800×1216 image's P2 about 50 GFLOP and a 1 GB intermediate. Here each
    /// sample point's four neighbours and bilinear weights are computed on the host in float32 exactly as torchvision's
    /// CPU kernel computes them (its <c>pre_calc</c>), the neighbours are gathered from the map (C values each) and summed
    /// with their weights, then divided by the sample count: work ∝ samples × C. Differentiable with respect to the map
    /// (the gather's backward scatters). Only the summation order differs from torchvision. float32 maps only (others
    /// go to <see cref="Apply"/>).
    /// </summary>
    public static Tensor ApplySparse(Tensor input, Tensor rois, long outputSize, double spatialScale, int samplingRatio, bool aligned)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(rois);
        if (input.dim() != 4 || input.dtype != float32 || rois.dim() != 2 || rois.shape[1] != 5 || rois.shape[0] == 0)
            return Apply(input, rois, outputSize, spatialScale, samplingRatio, aligned);
        if (!double.IsFinite(spatialScale) || spatialScale <= 0) throw new ArgumentException("spatialScale must be finite and > 0.", nameof(spatialScale));
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3], k = rois.shape[0];
        if (h < 1 || w < 1) throw new ArgumentException("RoIAlign input has an empty spatial dimension.", nameof(input));
        var r = HostCopy(rois);
        var batchIndex = Validate(r, k, n, h, w, spatialScale);
        int o = (int)outputSize;
        float offset = aligned ? 0.5f : 0f;

        // Per RoI: sample counts along each axis (torchvision's adaptive grid), then per bin the neighbours and weights.
        var gy = new int[k];
        var gx = new int[k];
        var start = new float[k * 4];
        int maxSamples = 1;
        for (long i = 0; i < k; i++)
        {
            // torchvision: roi * spatial_scale - offset in double, stored as T.
            float x1 = (float)(r[i * 5 + 1] * spatialScale - offset), y1 = (float)(r[i * 5 + 2] * spatialScale - offset);
            float x2 = (float)(r[i * 5 + 3] * spatialScale - offset), y2 = (float)(r[i * 5 + 4] * spatialScale - offset);
            float rw = x2 - x1, rh = y2 - y1;
            if (!aligned) { rw = Math.Max(rw, 1f); rh = Math.Max(rh, 1f); }
            gy[i] = samplingRatio > 0 ? samplingRatio : (int)MathF.Ceiling(rh / o);
            gx[i] = samplingRatio > 0 ? samplingRatio : (int)MathF.Ceiling(rw / o);
            (start[i * 4], start[i * 4 + 1], start[i * 4 + 2], start[i * 4 + 3]) = (x1, y1, rw / o, rh / o);
            maxSamples = Math.Max(maxSamples, gy[i] * gx[i]);
        }
        long bins = k * o * o, taps = 4L * maxSamples;
        var index = new long[bins * taps];
        var weight = new float[bins * taps];
        var count = new float[bins];
        for (long i = 0; i < k; i++)
        {
            float x1 = start[i * 4], y1 = start[i * 4 + 1], binW = start[i * 4 + 2], binH = start[i * 4 + 3];
            long baseIndex = batchIndex[i] * h * w;
            for (int ph = 0; ph < o; ph++)
                for (int pw = 0; pw < o; pw++)
                {
                    long bin = (i * o + ph) * o + pw, t = bin * taps;
                    count[bin] = Math.Max(gy[i] * gx[i], 1);
                    for (int iy = 0; iy < gy[i]; iy++)
                    {
                        float y = y1 + ph * binH + (iy + .5f) * binH / gy[i];
                        for (int ix = 0; ix < gx[i]; ix++, t += 4)
                        {
                            float x = x1 + pw * binW + (ix + .5f) * binW / gx[i];
                            if (y < -1.0 || y > h || x < -1.0 || x > w) continue;   // weights stay 0
                            if (y <= 0) y = 0;
                            if (x <= 0) x = 0;
                            long yl = (long)y, xl = (long)x, yh, xh;
                            float yy = y, xx = x;
                            if (yl >= h - 1) { yh = yl = h - 1; yy = yl; } else yh = yl + 1;
                            if (xl >= w - 1) { xh = xl = w - 1; xx = xl; } else xh = xl + 1;
                            float ly = yy - yl, lx = xx - xl, hy = 1f - ly, hx = 1f - lx;
                            index[t] = baseIndex + yl * w + xl; weight[t] = hy * hx;
                            index[t + 1] = baseIndex + yl * w + xh; weight[t + 1] = hy * lx;
                            index[t + 2] = baseIndex + yh * w + xl; weight[t + 2] = ly * hx;
                            index[t + 3] = baseIndex + yh * w + xh; weight[t + 3] = ly * lx;
                        }
                    }
                }
        }
        using var scope = NewDisposeScope();
        var dev = input.device;
        var flat = input.permute(0, 2, 3, 1).reshape(n * h * w, c);
        var idx = tensor(index, device: dev);
        var wt = tensor(weight, [bins, 1, taps], device: dev);
        var cnt = tensor(count, [bins, 1, 1], device: dev);
        // Bins in chunks, so the gathered neighbours (chunk × taps × C floats) stay near 64 MB.
        long chunk = Math.Max(1, (16L << 20) / Math.Max(1, taps * c));
        var parts = new List<Tensor>();
        for (long b0 = 0; b0 < bins; b0 += chunk)
        {
            long m = Math.Min(chunk, bins - b0);
            var g = flat.index_select(0, idx.narrow(0, b0 * taps, m * taps)).view(m, taps, c);
            parts.Add(wt.narrow(0, b0, m).bmm(g).div(cnt.narrow(0, b0, m)));
        }
        var pooled = (parts.Count == 1 ? parts[0] : cat(parts, 0)).view(k, o, o, c).permute(0, 3, 1, 2).contiguous();
        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>Module-style overload: <paramref name="outputSize"/> square.</summary>
    public static Tensor Apply(Tensor input, Tensor rois, long outputSize, double spatialScale = 1.0, int samplingRatio = -1, bool aligned = false)
        => Apply(input, rois, (outputSize, outputSize), spatialScale, samplingRatio, aligned);

    /// <summary>
    /// Per-RoI interpolation matrix along one axis (K×out×size), already divided by the sample count along that
    /// axis. <paramref name="start"/> and <paramref name="extent"/> are the RoI's start and (clamped) size in map units.
    /// </summary>
    static Tensor AxisWeights(Tensor start, Tensor extent, long outSize, long size, int samplingRatio, ScalarType dt, Device dev, long? hostGridMax = null)
    {
        var bin = extent.Div((double)outSize);
        // torchvision: grid = sampling_ratio > 0 ? sampling_ratio : ceil(roi_size / pooled_size), computed in T.
        var grid = samplingRatio > 0 ? ExplicitScalars.FullLike(extent, samplingRatio) : extent.Div((double)outSize).ceil();
        long gmax = samplingRatio > 0 || grid.numel() == 0 ? Math.Max(1, samplingRatio)
            : hostGridMax ?? Math.Max(1L, (long)grid.max().to(float64).item<double>());
        var gridSafe = grid.ClampMin(1.0);

        long k = start.shape[0];
        var p = ExplicitScalars.Arange(outSize, dt, dev).view(1, outSize, 1);
        var s = ExplicitScalars.Arange(gmax, dt, dev).view(1, 1, gmax);
        var start3 = start.view(k, 1, 1);
        var bin3 = bin.view(k, 1, 1);
        var grid3 = grid.view(k, 1, 1);
        var gridSafe3 = gridSafe.view(k, 1, 1);

        // start + p·bin + (s + 0.5)·bin / grid, in this evaluation order (as the C++ kernel).
        var pos = start3.Plus(p * bin3).Plus((s.Add(0.5) * bin3) / gridSafe3); // K×out×G
        var valid = s.lt(grid3).logical_and(pos.Ge(-1.0)).logical_and(pos.Le((double)size));

        var clamped = pos.ClampMin(0.0);
        var low = clamped.floor().ClampMax(size - 1);
        var atEdge = clamped.floor().Ge(size - 1);
        clamped = where(atEdge, low, clamped);
        var high = low.Add(1).ClampMax(size - 1);
        var frac = clamped - low;
        var mask = valid.to(dt);
        var wLow = frac.SubtractedFrom(1.0) * mask / gridSafe3;
        var wHigh = frac * mask / gridSafe3;

        var weights = zeros(k, outSize, size, dtype: dt, device: dev);
        weights.scatter_add_(2, low.to(int64), wLow);
        weights.scatter_add_(2, high.to(int64), wHigh);
        return weights;
    }

    static double[] HostCopy(Tensor rois)
    {
        if (rois.shape[0] == 0) return [];
        using var cpu = rois.detach().to(float64).cpu().contiguous();
        return cpu.data<double>().ToArray();
    }

    /// <summary>The largest adaptive grid <c>ceil(roi_size / out)</c> along one axis (column <paramref name="c1"/> and
    /// <paramref name="c1"/> + 2 of the RoIs), evaluated in the map's dtype exactly as <see cref="Apply"/> does on the
    /// device: coordinates in double, stored as T, then T arithmetic.</summary>
    static long HostGridMax(double[] r, int c1, double scale, double offset, bool aligned, long outSize, ScalarType dt)
    {
        long k = r.Length / 5, best = 1;
        for (long i = 0; i < k; i++)
        {
            double a = r[i * 5 + c1] * scale - offset, b = r[i * 5 + c1 + 2] * scale - offset, g;
            if (dt == float32)
            {
                float e = (float)b - (float)a;
                if (!aligned) e = Math.Max(e, 1f);
                g = MathF.Ceiling(e / outSize);
            }
            else
            {
                double e = b - a;
                if (!aligned) e = Math.Max(e, 1.0);
                g = Math.Ceiling(e / outSize);
            }
            best = Math.Max(best, (long)g);
        }
        return best;
    }

    /// <summary>Checks RoIs (K·5 values on the host); returns the batch index of each RoI.</summary>
    static long[] Validate(double[] v, long k, long n, long h, long w, double scale)
    {
        if (k == 0) return [];
        var batch = new long[k];
        double limX = MaxOutsideFactor * w, limY = MaxOutsideFactor * h;
        for (long i = 0; i < k; i++)
        {
            double b = v[i * 5], bx1 = v[i * 5 + 1], by1 = v[i * 5 + 2], bx2 = v[i * 5 + 3], by2 = v[i * 5 + 4];
            if (!double.IsFinite(b) || !double.IsFinite(bx1) || !double.IsFinite(by1) || !double.IsFinite(bx2) || !double.IsFinite(by2))
                throw new ArgumentException($"RoI {i} has a non-finite value: [{b}, {bx1}, {by1}, {bx2}, {by2}].", "rois");
            if (b != Math.Floor(b) || b < 0 || b >= n)
                throw new ArgumentException($"RoI {i} has batch index {b}; it must be an integer in [0, {n}).", "rois");
            if (bx2 < bx1 || by2 < by1)
                throw new ArgumentException($"RoI {i} is inverted (x2 < x1 or y2 < y1): [{bx1}, {by1}, {bx2}, {by2}].", "rois");
            double sx1 = bx1 * scale, sx2 = bx2 * scale, sy1 = by1 * scale, sy2 = by2 * scale;
            if (sx1 < -limX || sx2 > w + limX || sy1 < -limY || sy2 > h + limY)
                throw new ArgumentException(
                    $"RoI {i} [{bx1}, {by1}, {bx2}, {by2}] (× spatial scale {scale}) reaches more than {MaxOutsideFactor} map sizes " +
                    $"outside the {h}×{w} feature map; check the box coordinates and spatial scale.", "rois");
            batch[i] = (long)b;
        }
        return batch;
    }
}
