namespace Soco.Data.Coco;

/// <summary>One record of a COCO results file: <c>{image_id, category_id, bbox: [x, y, w, h], score}</c>.</summary>
public readonly record struct CocoDetection(long ImageId, long CategoryId, double X, double Y, double W, double H, double Score);
