namespace Soco.Ops;

/// <summary>
/// IoU of [x, y, w, h] boxes exactly as pycocotools' <c>bbIou</c> (common/maskApi.c) computes it, operation for
/// operation in double: no overlap (width or height ≤ 0) gives 0; against a crowd region the union is the
/// detection's own area, so a detection inside a crowd scores 1 (docs/coco-evaluation.md §IoU).
/// </summary>
public static class BoxIou
{
    public static double Iou(double dx, double dy, double dw, double dh, double gx, double gy, double gw, double gh, bool crowd)
    {
        double w = Math.Min(dw + dx, gw + gx) - Math.Max(dx, gx);
        if (w <= 0) return 0;
        double h = Math.Min(dh + dy, gh + gy) - Math.Max(dy, gy);
        if (h <= 0) return 0;
        double i = w * h;
        double da = dw * dh;
        double u = crowd ? da : da + gw * gh - i;
        return i / u;
    }
}
