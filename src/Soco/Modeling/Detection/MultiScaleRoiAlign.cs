using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// The detector's multi-level RoI pooler (torchvision 0.14 <c>MultiScaleRoIAlign</c> with <c>LevelMapper</c>;
/// docs/detection-parts.md §Pooler): each box is pooled with <see cref="RoiAlign"/> (aligned = false, fixed sampling
/// ratio) on one level, level = floor(4 + log2(√area / 224) + 1e-6) clamped to the pyramid, and each level's scale is
/// 2^round(log2(feature height / largest image height)). Levels are the feature maps given, finest first.
/// <para><c>aligned: true</c> with sampling ratio 0 on one level is Detectron2's <c>ROIAlignV2</c> pooler of an R-C4
/// detector (14×14 on C4, scale 1/16; docs/detector-c4.md §Pooler).</para>
/// </summary>
public sealed class MultiScaleRoiAlign
{
    public MultiScaleRoiAlign(int outputSize = 7, int samplingRatio = 2, double canonicalScale = 224, int canonicalLevel = 4, double eps = 1e-6, bool aligned = false)
    {
        Aligned = aligned;
        if (outputSize < 1) throw new ArgumentException("pooler output size must be ≥ 1.", nameof(outputSize));
        OutputSize = outputSize;
        SamplingRatio = samplingRatio;
        CanonicalScale = canonicalScale;
        CanonicalLevel = canonicalLevel;
        Eps = eps;
    }

    public int OutputSize { get; }
    public int SamplingRatio { get; }
    public double CanonicalScale { get; }
    public int CanonicalLevel { get; }
    public double Eps { get; }
    /// <summary>RoIAlign's half-pixel offset (torchvision's <c>aligned</c>; false in torchvision's pooler, true in Detectron2's ROIAlignV2).</summary>
    public bool Aligned { get; }

    /// <summary>torchvision's <c>_infer_scale</c>: 2^round(log2(feature / image)), the ratio rounded to float32 first.</summary>
    public static double InferScale(long featureSize, long imageSize)
    {
        float approx = (float)((double)featureSize / imageSize);
        return Math.Pow(2, Math.Round(MathF.Log2(approx), MidpointRounding.ToEven));
    }

    /// <summary>Spatial scale of each level for a batch whose largest (unpadded) image height is <paramref name="maxImageHeight"/> (torchvision uses heights only).</summary>
    public static double[] Scales(IReadOnlyList<Tensor> features, long maxImageHeight)
        => features.Select(f => InferScale(f.shape[^2], maxImageHeight)).ToArray();

    /// <summary>Level index (0 = finest level given) of each box (K×4 image pixels), for a pyramid whose levels are k_min..k_max.</summary>
    public Tensor Levels(Tensor boxes, int kMin, int kMax)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var s = BoxOps.BoxArea(boxes).sqrt();
        // lvl0 + log2(s / s0) + eps, in the boxes' dtype, then floor and clamp (torchvision LevelMapper.__call__).
        var eps = tensor(Eps, dtype: s.dtype, device: s.device);
        var lvl = s.Div(CanonicalScale).log2().Add(CanonicalLevel).Plus(eps).floor().Clamp(kMin, kMax);
        return lvl.to(int64).Sub(kMin).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pools the boxes of each image (<paramref name="boxes"/>[i]: K_i×4 in resized-image pixels) from the levels in
    /// <paramref name="features"/> (N×C×H×W each, finest first). <paramref name="imageSizes"/> are the unpadded sizes.
    /// Returns (ΣK_i)×C×S×S in image-then-box order.
    /// </summary>
    public Tensor Forward(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> boxes, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        if (features.Count == 0) throw new ArgumentException("pooler needs at least one feature map.", nameof(features));
        if (boxes.Count != imageSizes.Count || boxes.Count != features[0].shape[0])
            throw new ArgumentException($"pooler: {boxes.Count} box lists, {imageSizes.Count} image sizes and a batch of {features[0].shape[0]} must agree.");
        using var scope = NewDisposeScope();
        long maxH = imageSizes.Max(s => s.Height);
        var scales = Scales(features, maxH);
        int kMin = (int)(-Math.Log2(scales[0]));
        int kMax = (int)(-Math.Log2(scales[^1]));
        var all = cat(boxes.Select(b => b.detach()).ToList(), 0);
        var ids = cat(boxes.Select((b, i) => ExplicitScalars.Full([b.shape[0], 1], i, all.dtype, all.device)).ToList(), 0);
        var rois = cat([ids, all], 1);
        Tensor result;
        if (features.Count == 1)
            result = RoiAlign.ApplySparse(features[0], rois, OutputSize, scales[0], SamplingRatio, Aligned);
        else
        {
            var levels = Levels(all, kMin, kMax).cpu().data<long>().ToArray();
            result = RoiPooling.PoolAssigned(features, rois, scales, levels, OutputSize, aligned: Aligned, samplingRatio: SamplingRatio, sparse: true);
        }
        return result.MoveToOuterDisposeScope();
    }
}
