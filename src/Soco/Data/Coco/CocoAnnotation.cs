using System.Text.Json;

namespace Soco.Data.Coco;

/// <summary>
/// One ground-truth object: <c>bbox</c> as COCO's [x, y, w, h] in pixels, the <c>area</c> field as given (COCO's
/// evaluation uses it, not w·h, for the area ranges), <c>iscrowd</c>, and <c>segmentation</c> kept as the raw JSON
/// (polygons or RLE) for the mask issue; <see cref="JsonValueKind.Undefined"/> when absent.
/// </summary>
public sealed record CocoAnnotation(long Id, long ImageId, long CategoryId, double X, double Y, double W, double H,
                                    double Area, bool IsCrowd, JsonElement Segmentation);
