using Soco.Modeling;
using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Structures;

/// <summary>
/// A list of N boxes as one (N, 4) <c>[x1, y1, x2, y2]</c> floating-point tensor (pixels, no +1 in sizes), the type
/// proposals, anchors, ground truth and detections share. Operations return new <see cref="Boxes"/>; the wrapper owns
/// its tensor (dispose it, or let a dispose scope collect the tensor).
/// </summary>
public sealed class Boxes : IDisposable
{
    /// <summary>Wraps <paramref name="tensor"/> (N×4, floating point); an empty tensor of any shape with no elements becomes 0×4.</summary>
    public Boxes(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.numel() == 0 && tensor.dim() != 2) tensor = tensor.reshape(0, 4);
        BoxOps.CheckBoxes(tensor, nameof(tensor));
        Tensor = tensor;
    }

    /// <summary>The (N, 4) tensor.</summary>
    public Tensor Tensor { get; }

    public long Count => Tensor.shape[0];

    /// <summary>Area of each box, (N).</summary>
    public Tensor Area() => BoxOps.BoxArea(Tensor);

    /// <summary>Boxes clamped to an image of the given size (x to [0, width], y to [0, height]).</summary>
    public Boxes Clip((long Height, long Width) imageSize) => new(BoxOps.ClipBoxesToImage(Tensor, imageSize));

    /// <summary>Mask (N) of boxes whose width and height are both greater than <paramref name="threshold"/> (Detectron2's <c>nonempty</c>).</summary>
    public Tensor NonEmpty(double threshold = 0.0)
    {
        using var scope = NewDisposeScope();
        var w = Tensor[.., 2] - Tensor[.., 0];
        var h = Tensor[.., 3] - Tensor[.., 1];
        return w.GtScalar(threshold).logical_and(h.GtScalar(threshold)).MoveToOuterDisposeScope();
    }

    /// <summary>Indices of the boxes with width and height ≥ <paramref name="minSize"/> (torchvision's <c>remove_small_boxes</c>).</summary>
    public Tensor KeepAtLeast(double minSize) => BoxOps.RemoveSmallBoxes(Tensor, minSize);

    /// <summary>The boxes at <paramref name="indices"/> (int64) in that order.</summary>
    public Boxes Select(Tensor indices) => new(Tensor.index_select(0, indices));

    /// <summary>IoU matrix (N, M) against <paramref name="other"/>.</summary>
    public Tensor Iou(Boxes other) => BoxOps.BoxIou(Tensor, other.Tensor);

    /// <summary>x × <paramref name="scaleX"/>, y × <paramref name="scaleY"/>.</summary>
    public Boxes Scale(double scaleX, double scaleY) => new(BoxOps.ScaleBoxes(Tensor, scaleX, scaleY));

    public void Dispose() => Tensor.Dispose();
}
