using Soco.Imaging;

namespace Soco.Geometry;

/// <summary>
/// The geometry of one view: crop <see cref="Crop"/> of the original image, resized to
/// <see cref="Size"/>×<see cref="Size"/> (PIL bilinear, aspect ignored), mirrored when <see cref="Flipped"/>.
/// One object moves pixels (<see cref="ApplyImage"/>) and boxes (<see cref="ClipToView"/> →
/// <see cref="Normalize"/> → <see cref="ApplyFlip"/>) together, with SoCo's conventions (docs/soco-reference.md §4.5–§4.9), and maps
/// view coordinates back to the original image (<see cref="BackProject"/>).
/// </summary>
public sealed record ViewTransform(CropParams Crop, int Size, bool Flipped = false)
{
    /// <summary>The crop resized to Size×Size (torchvision <c>resized_crop</c> = PIL crop + BILINEAR resize), then mirrored if flipped.</summary>
    public RgbImage ApplyImage(RgbImage original)
    {
        if (original.Width != Crop.ImageW || original.Height != Crop.ImageH)
            throw new ArgumentException($"view made for a {Crop.ImageW}×{Crop.ImageH} image, got {original.Width}×{original.Height}");
        // Crop, then resize the crop, as torchvision does: PIL's resize with a box would let the filter read pixels
        // outside the box at the view's edges when downscaling (a difference of up to 16 levels there, caught by
        // ViewsPipelineTests.FpnStarV4ReusesPair12 against PilResizeReference).
        bool whole = Crop.J == 0 && Crop.I == 0 && Crop.W == original.Width && Crop.H == original.Height;
        var view = PilResize.Bilinear(whole ? original : CropPixels(original), Size, Size);
        if (Flipped) ColorOps.FlipHorizontal(view);
        return view;
    }

    /// <summary>PIL's <c>Image.crop</c> of the crop rectangle (inside the image): its rows copied.</summary>
    RgbImage CropPixels(RgbImage original)
    {
        if (Crop.J < 0 || Crop.I < 0 || Crop.J + Crop.W > original.Width || Crop.I + Crop.H > original.Height)
            throw new ArgumentException($"crop {Crop.W}×{Crop.H}@({Crop.J},{Crop.I}) is not inside the {original.Width}×{original.Height} image");
        var px = new byte[Crop.W * Crop.H * 3];
        for (int r = 0; r < Crop.H; r++)
            Buffer.BlockCopy(original.Pixels, ((Crop.I + r) * original.Width + Crop.J) * 3, px, r * Crop.W * 3, Crop.W * 3);
        return new RgbImage(Crop.W, Crop.H, px);
    }

    /// <summary>
    /// Spec §4.5: keeps the box iff it overlaps the crop rectangle strictly; returns the intersection translated to
    /// the crop's top-left (crop-pixel coordinates, id kept), or null.
    /// </summary>
    public Box? ClipToView(Box box)
    {
        var rect = Crop.Rect;
        if (!rect.OverlapsStrictly(box)) return null;
        return box.Intersect(rect).Translate(-Crop.J, -Crop.I);
    }

    /// <summary>The whole view as a crop-relative box <c>[0, 0, w−1, h−1]</c> (the clipping fallback, docs/soco-reference.md §4.5).</summary>
    public Box WholeView(int id = 1) => new(0, 0, Crop.W - 1, Crop.H - 1, id);

    /// <summary>Spec §4.7: crop-relative box → <c>[x/w, y/h]</c> (before any flip).</summary>
    public NormBox Normalize(Box cropBox) =>
        new(cropBox.X1 / Crop.W, cropBox.Y1 / Crop.H, cropBox.X2 / Crop.W, cropBox.Y2 / Crop.H, cropBox.Id);

    /// <summary>Spec §4.7 "int-resized" box: <c>int(x·S/w)</c>, <c>int(y·S/h)</c> (truncation), before the flip.</summary>
    public (int X1, int Y1, int X2, int Y2) IntResized(Box cropBox) =>
        ((int)(cropBox.X1 * Size / Crop.W), (int)(cropBox.Y1 * Size / Crop.H),
         (int)(cropBox.X2 * Size / Crop.W), (int)(cropBox.Y2 * Size / Crop.H));

    /// <summary>Spec §4.9: the normalised box as the model sees it (mirrored when the view is flipped).</summary>
    public NormBox ApplyFlip(NormBox box) => Flipped ? box.FlipHorizontal() : box;

    /// <summary>Crop-relative pixel box → the final normalised (and flipped) box.</summary>
    public NormBox ApplyBox(Box cropBox) => ApplyFlip(Normalize(cropBox));

    /// <summary>A final normalised box in view pixels (×Size), for drawing and cutout.</summary>
    public (double X1, double Y1, double X2, double Y2) ToViewPixels(NormBox box) =>
        (box.X1 * Size, box.Y1 * Size, box.X2 * Size, box.Y2 * Size);

    /// <summary>
    /// A final (possibly flipped) normalised box mapped back to original-image pixel coordinates (inclusive indices,
    /// fractional). Undoes the flip with SoCo's formula, so it is the exact inverse of <see cref="ApplyBox"/>.
    /// </summary>
    public Box BackProject(NormBox box)
    {
        var b = Flipped ? box.FlipHorizontal() : box;
        return new Box(b.X1 * Crop.W + Crop.J, b.Y1 * Crop.H + Crop.I, b.X2 * Crop.W + Crop.J, b.Y2 * Crop.H + Crop.I, b.Id);
    }

    /// <summary>Where original pixel centre (x, y) lands in the view image, in view pixel units (centre convention).</summary>
    public (double X, double Y) MapPoint(double x, double y)
    {
        double vx = (x - Crop.J + 0.5) * Size / Crop.W - 0.5;
        double vy = (y - Crop.I + 0.5) * Size / Crop.H - 0.5;
        if (Flipped) vx = Size - 1 - vx;
        return (vx, vy);
    }

    /// <summary>The transform for the same crop seen at another output size (SoCo* V4 = V2 resized to 112).</summary>
    public ViewTransform Resized(int size) => this with { Size = size };
}
