using Soco.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Ops;

/// <summary>
/// Functional box operations on (N, 4) <c>[x1, y1, x2, y2]</c> tensors with torchvision 0.14's semantics
/// (<c>torchvision/ops/boxes.py</c>; docs/detection-parts.md §Box ops): sizes are <c>x2 − x1</c> with no +1, and every result
/// is computed in the boxes' own dtype with the same operations in the same order, so values are bit-identical.
/// </summary>
public static class BoxOps
{
    /// <summary>Area <c>(x2 − x1)·(y2 − y1)</c> of each box, shape (N).</summary>
    public static Tensor BoxArea(Tensor boxes)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var w = boxes[.., 2] - boxes[.., 0];
        var h = boxes[.., 3] - boxes[.., 1];
        return (w * h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pairwise IoU (N, M) = inter / (area1 + area2 − inter); a pair with zero union gives NaN, as in torchvision.
    /// </summary>
    public static Tensor BoxIou(Tensor boxes1, Tensor boxes2)
    {
        CheckBoxes(boxes1, nameof(boxes1));
        CheckBoxes(boxes2, nameof(boxes2));
        using var scope = NewDisposeScope();
        var (inter, union) = InterUnion(boxes1, boxes2);
        return (inter / union).MoveToOuterDisposeScope();
    }

    static (Tensor Inter, Tensor Union) InterUnion(Tensor boxes1, Tensor boxes2)
    {
        var area1 = BoxArea(boxes1);
        var area2 = BoxArea(boxes2);
        var lt = maximum(boxes1.narrow(1, 0, 2).unsqueeze(1), boxes2.narrow(1, 0, 2));
        var rb = minimum(boxes1.narrow(1, 2, 2).unsqueeze(1), boxes2.narrow(1, 2, 2));
        var wh = (rb - lt).ClampMin(0.0);
        var inter = wh[.., .., 0] * wh[.., .., 1];
        var union = area1.unsqueeze(1).Plus(area2) - inter;
        return (inter, union);
    }

    /// <summary>
    /// Clamps x to [0, width] and y to [0, height]. Works on any (…, 4k) layout (per-class boxes too), like torchvision's
    /// <c>clip_boxes_to_image</c>.
    /// </summary>
    public static Tensor ClipBoxesToImage(Tensor boxes, (long Height, long Width) size)
    {
        if (boxes.dim() < 1 || boxes.shape[^1] % 4 != 0)
            throw new ArgumentException($"boxes must have a last dimension that is a multiple of 4, got shape [{string.Join(", ", boxes.shape)}].", nameof(boxes));
        using var scope = NewDisposeScope();
        var x = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 2)].ClampRange(0, size.Width);
        var y = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(1, null, 2)].ClampRange(0, size.Height);
        return stack([x, y], boxes.dim()).reshape(boxes.shape).MoveToOuterDisposeScope();
    }

    /// <summary>Indices (int64, ascending) of the boxes with width ≥ <paramref name="minSize"/> and height ≥ <paramref name="minSize"/>.</summary>
    public static Tensor RemoveSmallBoxes(Tensor boxes, double minSize)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        var w = boxes[.., 2] - boxes[.., 0];
        var h = boxes[.., 3] - boxes[.., 1];
        var keep = w.Ge(minSize).logical_and(h.Ge(minSize));
        return keep.WhereTrue().MoveToOuterDisposeScope();
    }

    /// <summary>Multiplies x coordinates by <paramref name="scaleX"/> and y by <paramref name="scaleY"/> (float32 factors, as torchvision's <c>resize_boxes</c>).</summary>
    public static Tensor ScaleBoxes(Tensor boxes, double scaleX, double scaleY)
    {
        CheckBoxes(boxes, nameof(boxes));
        using var scope = NewDisposeScope();
        // torchvision builds the ratios as float32 tensors, so the factor is rounded to float32 before multiplying.
        var f = tensor(new[] { (float)scaleX, (float)scaleY, (float)scaleX, (float)scaleY }, device: boxes.device).to(boxes.dtype);
        return (boxes * f).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Maps boxes from an image of size <paramref name="from"/> to one of size <paramref name="to"/> (torchvision's
    /// <c>resize_boxes</c>: per-axis ratio new/old computed in float32, then multiplied).
    /// </summary>
    public static Tensor ResizeBoxes(Tensor boxes, (long Height, long Width) from, (long Height, long Width) to)
    {
        float ry = (float)to.Height / (float)from.Height;
        float rx = (float)to.Width / (float)from.Width;
        return ScaleBoxes(boxes, rx, ry);
    }

    internal static void CheckBoxes(Tensor boxes, string name)
    {
        ArgumentNullException.ThrowIfNull(boxes, name);
        if (boxes.dim() != 2 || boxes.shape[1] != 4)
            throw new ArgumentException($"boxes must be N×4 [x1, y1, x2, y2], got shape [{string.Join(", ", boxes.shape)}].", name);
        if (!boxes.is_floating_point())
            throw new ArgumentException("boxes must be a floating-point tensor.", name);
    }
}
