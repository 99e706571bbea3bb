namespace Soco.Data.Coco;

/// <summary>
/// One record of a COCO results file: <c>{image_id, category_id, bbox: [x, y, w, h], score}</c>, and for instance
/// segmentation its <c>segmentation</c> (usually a compressed RLE <c>{size, counts}</c>); null when it has none.
/// A result with a segmentation and no <c>bbox</c> gets the mask's box, as pycocotools' <c>loadRes</c> gives it
/// (<see cref="BoxFromMask"/> then says so).
/// </summary>
public readonly record struct CocoDetection(long ImageId, long CategoryId, double X, double Y, double W, double H, double Score)
{
    public CocoSegmentation? Segmentation { get; init; }

    /// <summary>The file had no <c>bbox</c> for this result: X, Y, W, H are the box of its mask.</summary>
    public bool BoxFromMask { get; init; }
}
