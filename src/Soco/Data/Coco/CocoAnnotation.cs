namespace Soco.Data.Coco;

/// <summary>
/// One ground-truth object: <c>bbox</c> as COCO's [x, y, w, h] in pixels, the <c>area</c> field as given (COCO's
/// evaluation uses it, not w·h, for the area ranges), <c>iscrowd</c>, and <c>segmentation</c> read and checked
/// (polygons, uncompressed or compressed RLE; <see cref="CocoSegmentation.ToRle"/> makes the mask); null when the
/// file has none (absent, <c>null</c> or <c>[]</c>).
/// </summary>
public sealed record CocoAnnotation(long Id, long ImageId, long CategoryId, double X, double Y, double W, double H,
                                    double Area, bool IsCrowd, CocoSegmentation? Segmentation);
