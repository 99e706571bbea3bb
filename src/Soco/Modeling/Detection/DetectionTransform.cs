using Soco.Data;
using Soco.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// The detector's image batching (torchvision 0.14 <c>GeneralizedRCNNTransform</c>; docs/detection-parts.md
/// §Transform): per image normalise ((x − mean)/std), resize bilinearly so the short side is the target size unless the
/// long side would exceed the maximum (scale computed in float32, output size floor(in·scale)), then pad bottom/right
/// with zeros to a multiple of 32. Boxes and instance masks follow the resize; detections are mapped back to the original size.
/// </summary>
public sealed class DetectionTransform
{
    public DetectionTransform(IReadOnlyList<int> minSizes, int maxSize, IReadOnlyList<float> mean, IReadOnlyList<float> std, int sizeDivisible = 32)
    {
        if (minSizes.Count == 0 || minSizes.Any(s => s < 1)) throw new ArgumentException("need at least one positive short-side size.", nameof(minSizes));
        if (maxSize < 1) throw new ArgumentException("max size must be positive.", nameof(maxSize));
        if (mean.Count != std.Count || std.Any(s => !(s > 0))) throw new ArgumentException("mean and std need one positive std per channel.");
        if (sizeDivisible < 1) throw new ArgumentException("size divisor must be ≥ 1.", nameof(sizeDivisible));
        MinSizes = minSizes.ToArray();
        MaxSize = maxSize;
        Mean = mean.ToArray();
        Std = std.ToArray();
        SizeDivisible = sizeDivisible;
    }

    /// <summary>torchvision's detection defaults: short side 800, max 1333, ImageNet mean / std on RGB in [0, 1].</summary>
    public static DetectionTransform TorchvisionDefault() => new([800], 1333, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    public int[] MinSizes { get; }
    public int MaxSize { get; }
    public float[] Mean { get; }
    public float[] Std { get; }
    public int SizeDivisible { get; }
    /// <summary>The ranks of a data-parallel training (null: one process); see <see cref="DataParallelLoss"/>.</summary>
    public Soco.Distributed.ProcessGroup? Group { get; set; }

    /// <summary>
    /// The resized size of an H×W image for short side <paramref name="minSize"/>: scale = min(min/short, max/long) in
    /// float32, each side floor(side·scale) (torchvision: 427×640 → 799×1199 at 800/1333).
    /// </summary>
    public (long Height, long Width) ResizedSize(long height, long width, int minSize)
    {
        float shortSide = Math.Min(height, width), longSide = Math.Max(height, width);
        // torchvision writes `min_size / tensor`, which PyTorch evaluates as reciprocal(tensor) · min_size in float32.
        float scale = Math.Min(1f / shortSide * minSize, 1f / longSide * MaxSize);
        return ((long)Math.Floor(height * (double)scale), (long)Math.Floor(width * (double)scale));
    }

    /// <summary>
    /// Normalises and resizes each image (C×H×W float, RGB in [0, 1] for the default mean/std), pads them into one
    /// batch. Eval uses the last short-side size; training (<paramref name="random"/> set) draws one size per image from
    /// <see cref="MinSizes"/>. <paramref name="boxes"/> (optional, one K×4 per image) are resized alongside.
    /// </summary>
    public (ImageList Images, Tensor[]? Boxes) Apply(IReadOnlyList<Tensor> images, IReadOnlyList<Tensor>? boxes = null, IReadOnlyList<SampleRandom>? random = null)
    {
        var (batch, outBoxes, _) = Apply(images, boxes, null, random);
        return (batch, outBoxes);
    }

    /// <summary>
    /// As <see cref="Apply(IReadOnlyList{Tensor}, IReadOnlyList{Tensor}?, IReadOnlyList{SampleRandom}?)"/>, with each
    /// image's full-image instance masks (<paramref name="masks"/>: G×H×W, 0/1) resized to the image's new size by
    /// nearest neighbour in the same step (torchvision's <c>_resize_image_and_masks</c>; uint8, not padded), so pixels,
    /// boxes and masks always move together.
    /// </summary>
    public (ImageList Images, Tensor[]? Boxes, Tensor[]? Masks) Apply(IReadOnlyList<Tensor> images, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? masks,
        IReadOnlyList<SampleRandom>? random)
    {
        if (images.Count == 0) throw new ArgumentException("an image batch needs at least one image.", nameof(images));
        if (boxes is not null && boxes.Count != images.Count) throw new ArgumentException($"{boxes.Count} box lists for {images.Count} images.", nameof(boxes));
        if (masks is not null && masks.Count != images.Count) throw new ArgumentException($"{masks.Count} mask lists for {images.Count} images.", nameof(masks));
        using var scope = NewDisposeScope();
        var resized = new Tensor[images.Count];
        var sizes = new (long, long)[images.Count];
        var outBoxes = boxes is null ? null : new Tensor[images.Count];
        var outMasks = masks is null ? null : new Tensor[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var img = images[i];
            if (img.dim() != 3 || img.shape[0] != Mean.Length)
                throw new ArgumentException($"image {i} must be {Mean.Length}×H×W, got shape [{string.Join(", ", img.shape)}].", nameof(images));
            if (!img.is_floating_point()) throw new ArgumentException($"image {i} must be a floating-point tensor (RGB in [0, 1]).", nameof(images));
            int minSize = random is null ? MinSizes[^1] : MinSizes[random[i].NextInt(MinSizes.Length)];
            var norm = Normalize(img);
            var (h, w) = (img.shape[1], img.shape[2]);
            var size = ResizedSize(h, w, minSize);
            // PyTorch 1.13's bilinear arithmetic (LibTorch 2.x's interpolate rounds differently, see BilinearResize).
            resized[i] = norm.dtype == float32
                ? Soco.Ops.BilinearResize.Apply(norm, size.Height, size.Width)
                : nn.functional.interpolate(norm.unsqueeze(0), size: [size.Height, size.Width], mode: InterpolationMode.Bilinear, align_corners: false).squeeze(0);
            sizes[i] = size;
            if (outBoxes is not null) outBoxes[i] = Soco.Ops.BoxOps.ResizeBoxes(boxes![i], (h, w), size).MoveToOuterDisposeScope();
            if (outMasks is not null)
            {
                var m = masks![i];
                if (m.dim() != 3 || m.shape[1] != h || m.shape[2] != w)
                    throw new ArgumentException($"image {i}: masks must be G×{h}×{w} (the image's size), got shape [{string.Join(", ", m.shape)}].", nameof(masks));
                outMasks[i] = MaskOps.ResizeNearest(m, size.Height, size.Width).MoveToOuterDisposeScope();
            }
        }
        // Under data parallelism the batch is padded to the whole batch's largest image, as one process pads it.
        long maxH = DataParallelLoss.Max(Group, sizes.Max(s => s.Item1)), maxW = DataParallelLoss.Max(Group, sizes.Max(s => s.Item2));
        long padH = (maxH + SizeDivisible - 1) / SizeDivisible * SizeDivisible;
        long padW = (maxW + SizeDivisible - 1) / SizeDivisible * SizeDivisible;
        var batch = zeros(images.Count, Mean.Length, padH, padW, dtype: resized[0].dtype, device: resized[0].device);
        for (int i = 0; i < images.Count; i++)
            batch[i].narrow(1, 0, sizes[i].Item1).narrow(2, 0, sizes[i].Item2).copy_(resized[i]);
        return (new ImageList(batch.MoveToOuterDisposeScope(), sizes), outBoxes, outMasks);
    }

    /// <summary>(x − mean) / std per channel, in the image's dtype.</summary>
    public Tensor Normalize(Tensor image)
    {
        using var scope = NewDisposeScope();
        var mean = tensor(Mean, device: image.device).to(image.dtype).view(-1, 1, 1);
        var std = tensor(Std, device: image.device).to(image.dtype).view(-1, 1, 1);
        return ((image - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Maps detections from the resized image back to the original image's pixels (no clipping, as torchvision).</summary>
    public static Tensor BoxesToOriginal(Tensor boxes, (long Height, long Width) resized, (long Height, long Width) original)
        => Soco.Ops.BoxOps.ResizeBoxes(boxes, resized, original);
}
