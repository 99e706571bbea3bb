using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// R-CNN box parametrisation (torchvision 0.14 <c>BoxCoder</c>; docs/detection-parts.md §Box coder): for a reference
/// box with width <c>w = x2 − x1</c> (no +1) and centre <c>x1 + 0.5·w</c>, a target is encoded as
/// <c>(wx·dx/w, wy·dy/h, ww·log(gw/w), wh·log(gh/h))</c>; decoding divides by the weights, clamps dw and dh above at
/// <see cref="DefaultScaleClamp"/> = log(1000/16) (no lower clamp) and returns <c>ctr ± 0.5·size</c>.
/// Weights (1, 1, 1, 1) for the RPN, (10, 10, 5, 5) for the box head.
/// </summary>
public sealed class BoxCoder
{
    /// <summary>log(1000 / 16): the largest dw / dh decoded, so exp cannot overflow.</summary>
    public static readonly double DefaultScaleClamp = Math.Log(1000.0 / 16);

    public BoxCoder(double wx, double wy, double ww, double wh, double? scaleClamp = null)
    {
        if (!(wx > 0 && wy > 0 && ww > 0 && wh > 0)) throw new ArgumentException("box coder weights must be positive.");
        Weights = (wx, wy, ww, wh);
        ScaleClamp = scaleClamp ?? DefaultScaleClamp;
    }

    public static BoxCoder Rpn() => new(1, 1, 1, 1);
    public static BoxCoder Roi() => new(10, 10, 5, 5);

    public (double Wx, double Wy, double Ww, double Wh) Weights { get; }
    public double ScaleClamp { get; }

    /// <summary>Regression targets (N×4) of <paramref name="referenceBoxes"/> (the matched ground truth) relative to <paramref name="proposals"/>.</summary>
    public Tensor Encode(Tensor referenceBoxes, Tensor proposals)
    {
        BoxOps.CheckBoxes(referenceBoxes, nameof(referenceBoxes));
        BoxOps.CheckBoxes(proposals, nameof(proposals));
        if (referenceBoxes.shape[0] != proposals.shape[0])
            throw new ArgumentException($"encode needs one reference box per proposal ({referenceBoxes.shape[0]} vs {proposals.shape[0]}).");
        using var scope = NewDisposeScope();
        var dt = referenceBoxes.dtype;
        var p = proposals.to(dt);
        var g = referenceBoxes;
        var exW = p[.., 2] - p[.., 0];
        var exH = p[.., 3] - p[.., 1];
        var exX = p[.., 0].Plus(exW.Mul(0.5));
        var exY = p[.., 1].Plus(exH.Mul(0.5));
        var gtW = g[.., 2] - g[.., 0];
        var gtH = g[.., 3] - g[.., 1];
        var gtX = g[.., 0].Plus(gtW.Mul(0.5));
        var gtY = g[.., 1].Plus(gtH.Mul(0.5));
        // torchvision: wx * (gt_ctr − ex_ctr) / ex_w, with the weight a tensor of the boxes' dtype.
        var dx = (gtX - exX).Mul(Weights.Wx) / exW;
        var dy = (gtY - exY).Mul(Weights.Wy) / exH;
        var dw = (gtW / exW).log().Mul(Weights.Ww);
        var dh = (gtH / exH).log().Mul(Weights.Wh);
        return stack([dx, dy, dw, dh], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Decodes <paramref name="relCodes"/> (N×4k: k boxes per reference box, e.g. one per class) against
    /// <paramref name="boxes"/> (N×4); returns N×k×4 boxes in the codes' dtype.
    /// </summary>
    public Tensor Decode(Tensor relCodes, Tensor boxes)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        if (relCodes.dim() != 2 || relCodes.shape[1] % 4 != 0 || relCodes.shape[0] != boxes.shape[0])
            throw new ArgumentException($"codes must be N×4k with N = {boxes.shape[0]} boxes, got shape [{string.Join(", ", relCodes.shape)}].", nameof(relCodes));
        using var scope = NewDisposeScope();
        var b = boxes.to(relCodes.dtype);
        var widths = (b[.., 2] - b[.., 0]).unsqueeze(1);
        var heights = (b[.., 3] - b[.., 1]).unsqueeze(1);
        var ctrX = b[.., 0].unsqueeze(1).Plus(widths.Mul(0.5));
        var ctrY = b[.., 1].unsqueeze(1).Plus(heights.Mul(0.5));
        var dx = relCodes[.., TensorIndex.Slice(0, null, 4)].Div(Weights.Wx);
        var dy = relCodes[.., TensorIndex.Slice(1, null, 4)].Div(Weights.Wy);
        var dw = relCodes[.., TensorIndex.Slice(2, null, 4)].Div(Weights.Ww).ClampMaxScalar(ScaleClamp);
        var dh = relCodes[.., TensorIndex.Slice(3, null, 4)].Div(Weights.Wh).ClampMaxScalar(ScaleClamp);
        var px = (dx * widths).Plus(ctrX);
        var py = (dy * heights).Plus(ctrY);
        var pw = dw.exp() * widths;
        var ph = dh.exp() * heights;
        var halfW = pw.Mul(0.5);
        var halfH = ph.Mul(0.5);
        var result = stack([px - halfW, py - halfH, px.Plus(halfW), py.Plus(halfH)], 2);
        return result.MoveToOuterDisposeScope();
    }
}
