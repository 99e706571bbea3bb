using Soco.Data.Coco;

namespace Soco.Evaluation;

/// <summary>Which IoU types an evaluation scores (<c>soco evaluate --iou-type</c>), and how they are read from text.</summary>
public static class CocoIouTypes
{
    /// <summary>
    /// The IoU types to evaluate: as <paramref name="asked"/> ("bbox", "segm", "bbox,segm"; a box evaluation of
    /// results that have no bbox is refused: their boxes would be the masks'), or by default (null) bbox when the
    /// detections have boxes, and segm too when every detection and every ground-truth object has a mask
    /// (<paramref name="notes"/> then gets why segm is left out when only some have one).
    /// </summary>
    public static List<CocoIouType> Choose(string? asked, CocoDataset gt, IReadOnlyList<CocoDetection> dets, ICollection<string> notes)
    {
        int withMask = dets.Count(d => d.Segmentation is not null);
        int boxFromMask = dets.Count(d => d.BoxFromMask);
        var types = new List<CocoIouType>();
        if (asked is not null)
        {
            foreach (var part in asked.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var t = part switch
                {
                    "bbox" => CocoIouType.Bbox,
                    "segm" => CocoIouType.Segm,
                    _ => throw new ArgumentException($"--iou-type: unknown type \"{part}\"; use bbox, segm or bbox,segm"),
                };
                if (!types.Contains(t)) types.Add(t);
            }
            if (types.Count == 0) throw new ArgumentException("--iou-type: give bbox, segm or bbox,segm");
            if (types.Contains(CocoIouType.Bbox) && boxFromMask > 0)
            {
                int first = dets.ToList().FindIndex(d => d.BoxFromMask);
                throw new ArgumentException($"--iou-type bbox: {boxFromMask} of the {dets.Count} detections have no \"bbox\" (the first: detection #{first}); evaluate them with --iou-type segm");
            }
            return types;
        }
        if (boxFromMask < dets.Count || dets.Count == 0) types.Add(CocoIouType.Bbox);
        int gtWithoutMask = gt.Annotations.Count(a => a.Segmentation is null);
        if (withMask == dets.Count && dets.Count > 0 && gtWithoutMask == 0) types.Add(CocoIouType.Segm);
        else if (withMask > 0)
            notes.Add(withMask < dets.Count
                ? $"segm not evaluated: {withMask} of the {dets.Count} detections have a segmentation (--iou-type segm names the first without one)"
                : $"segm not evaluated: {gtWithoutMask} of the {gt.Annotations.Count} ground-truth objects have no segmentation");
        if (types.Count == 0) throw new ArgumentException("nothing to evaluate: the detections have no bbox, and segm needs every detection and ground-truth object to have a mask");
        return types;
    }

    /// <summary>"mask" or "box" (<c>--segm-area</c>).</summary>
    public static SegmDetectionArea ParseSegmArea(string text) => text switch
    {
        "mask" => SegmDetectionArea.Mask,
        "box" => SegmDetectionArea.Box,
        var x => throw new ArgumentException($"--segm-area must be mask or box, got \"{x}\""),
    };
}
