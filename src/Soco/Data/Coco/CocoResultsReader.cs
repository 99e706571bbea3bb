using System.Text.Json;

namespace Soco.Data.Coco;

/// <summary>What <see cref="CocoResultsReader.Read"/> gives: the detections in file order and the notes on records
/// kept as they are (e.g. boxes of zero size, which can never match but still count as false positives).</summary>
public sealed record CocoResults(string Source, IReadOnlyList<CocoDetection> Detections, IReadOnlyList<string> Notes);

/// <summary>
/// Reads a COCO results file (a list of <c>{image_id, category_id, bbox, score}</c>) against its ground truth.
/// Any record that would make the score wrong stops the read with an error naming it: an image or category the
/// ground truth lacks (pycocotools asserts on the first and silently drops the second), a missing or non-numeric
/// field. Nothing is skipped silently.
/// </summary>
public static class CocoResultsReader
{
    public static CocoResults Read(string path, CocoDataset truth)
    {
        using var doc = CocoJson.Load(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: expected a list of detections [{{\"image_id\", \"category_id\", \"bbox\", \"score\"}}, ...] (COCO results format)");
        var dets = new List<CocoDetection>(root.GetArrayLength());
        var notes = new List<string>();
        int n = 0;
        foreach (var e in root.EnumerateArray())
        {
            string where = $"{path}: detection #{n++}";
            InvalidDataException Bad(string what) => new($"{where}: {what}");
            if (e.ValueKind != JsonValueKind.Object) throw Bad("not an object");
            if (!CocoJson.TryId(e, "image_id", out long imageId, out string? err)) throw Bad(err!);
            if (!truth.ImagesById.ContainsKey(imageId))
                throw Bad($"image_id {imageId} is not an image of the ground truth {truth.Source}; scoring would be wrong (detections for another set?)");
            if (!CocoJson.TryId(e, "category_id", out long catId, out err)) throw Bad(err!);
            if (!truth.CategoriesById.ContainsKey(catId))
                throw Bad($"category_id {catId} is not a category of the ground truth {truth.Source} (its ids: {CategoryList(truth)}); contiguous class indices instead of dataset ids?");
            if (!CocoJson.TryBox(e, out double x, out double y, out double w, out double h, out err)) throw Bad(err!);
            if (!e.TryGetProperty("score", out var s)) throw Bad("no \"score\"");
            if (!CocoJson.TryNumber(s, out double score)) throw Bad($"\"score\" must be a finite number, got {CocoJson.Short(s)}");
            if (w <= 0 || h <= 0) notes.Add($"{where} (image_id {imageId}): bbox {CocoJson.Box(x, y, w, h)} has zero or negative size; kept, as pycocotools keeps it (it matches nothing)");
            dets.Add(new CocoDetection(imageId, catId, x, y, w, h, score));
        }
        return new CocoResults(path, dets, notes);
    }

    static string CategoryList(CocoDataset truth)
    {
        var ids = truth.Categories.Select(c => c.Id).Order().ToArray();
        return ids.Length <= 12 ? string.Join(", ", ids) : string.Join(", ", ids.Take(10)) + $", ... ({ids.Length} in all)";
    }
}
