using System.Text.Json;

namespace Soco.Data.Coco;

/// <summary>
/// Reads a COCO instances file (<c>images</c>, <c>annotations</c>, <c>categories</c>). The file's structure must be
/// right (an error names the file); single bad records are skipped with a message naming the record and the problem
/// (<see cref="CocoDataset.Skipped"/>), so one broken annotation does not cost a whole dataset.
/// </summary>
public static class CocoInstancesReader
{
    /// <summary>How far (pixels) a box may reach past the image edge before it counts as outside the image:
    /// annotation tools and float rounding leave boxes a fraction of a pixel over.</summary>
    public const double EdgeTolerance = 1.0;

    /// <summary>What is wrong with a ground-truth box [x, y, w, h] on <paramref name="image"/>, or null: a value that
    /// is not finite, zero or negative size, or reaching past the image by more than <see cref="EdgeTolerance"/>
    /// (checked only where the image size is known).</summary>
    public static string? BoxProblem(double x, double y, double w, double h, CocoImage image)
    {
        string box = CocoJson.Box(x, y, w, h);
        if (!double.IsFinite(x) || !double.IsFinite(y) || !double.IsFinite(w) || !double.IsFinite(h)) return $"bbox {box} holds a value that is not a finite number";
        if (w <= 0 || h <= 0) return $"bbox {box} has zero or negative size";
        if (image.Width > 0 && image.Height > 0 &&
            (x < -EdgeTolerance || y < -EdgeTolerance || x + w > image.Width + EdgeTolerance || y + h > image.Height + EdgeTolerance))
            return $"bbox {box} lies outside image {image.Id} ({image.Width}x{image.Height})";
        return null;
    }

    public static CocoDataset Read(string path)
    {
        using var doc = CocoJson.Load(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object with \"images\", \"annotations\" and \"categories\"");
        JsonElement Array(string name)
        {
            if (!root.TryGetProperty(name, out var a)) throw new InvalidDataException($"{path}: no \"{name}\" list (is this a COCO instances file?)");
            if (a.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: \"{name}\" must be a list");
            return a;
        }
        var jsImages = Array("images");
        var jsCats = Array("categories");
        var jsAnns = Array("annotations");

        var skipped = new List<string>();
        var notes = new List<string>();

        var images = new List<CocoImage>(jsImages.GetArrayLength());
        var imageById = new Dictionary<long, CocoImage>(jsImages.GetArrayLength());
        int n = 0;
        foreach (var e in jsImages.EnumerateArray())
        {
            string where = $"{path}: image #{n++}";
            if (e.ValueKind != JsonValueKind.Object) { skipped.Add($"{where}: not an object — skipped"); continue; }
            if (!CocoJson.TryId(e, "id", out long id, out string? err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            string file = e.TryGetProperty("file_name", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : "";
            where = $"{where} (id {id}{(file.Length > 0 ? ", " + file : "")})";
            if (imageById.ContainsKey(id)) { skipped.Add($"{where}: image id {id} is listed twice — the second listing is skipped"); continue; }
            int Size(string name)
            {
                if (!e.TryGetProperty(name, out var s)) return 0;
                if (s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int v) && v > 0) return v;
                notes.Add($"{where}: \"{name}\" {CocoJson.Short(s)} is not a positive integer — its boxes are not checked against the image size");
                return 0;
            }
            var img = new CocoImage(id, file, Size("width"), Size("height"));
            images.Add(img);
            imageById[id] = img;
        }

        var categories = new List<CocoCategory>();
        var catIds = new HashSet<long>();
        n = 0;
        foreach (var e in jsCats.EnumerateArray())
        {
            string where = $"{path}: category #{n++}";
            if (e.ValueKind != JsonValueKind.Object) { skipped.Add($"{where}: not an object — skipped"); continue; }
            if (!CocoJson.TryId(e, "id", out long id, out string? err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            string name = e.TryGetProperty("name", out var nm) && nm.ValueKind == JsonValueKind.String ? nm.GetString()! : id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!catIds.Add(id)) { skipped.Add($"{where} (id {id}, {name}): category id {id} is listed twice — the second listing is skipped"); continue; }
            string? super = e.TryGetProperty("supercategory", out var sc) && sc.ValueKind == JsonValueKind.String ? sc.GetString() : null;
            categories.Add(new CocoCategory(id, name, super));
        }

        var annotations = new List<CocoAnnotation>(jsAnns.GetArrayLength());
        var annIds = new HashSet<long>();
        n = 0;
        foreach (var e in jsAnns.EnumerateArray())
        {
            string where = $"{path}: annotation #{n++}";
            if (e.ValueKind != JsonValueKind.Object) { skipped.Add($"{where}: not an object — skipped"); continue; }
            if (!CocoJson.TryId(e, "id", out long id, out string? err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            where = $"{where} (id {id})";
            if (!annIds.Add(id)) { skipped.Add($"{where}: annotation id {id} is used twice — the second one is skipped"); continue; }
            if (!CocoJson.TryId(e, "image_id", out long imageId, out err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            if (!imageById.TryGetValue(imageId, out var image)) { skipped.Add($"{where}: names image_id {imageId}, which is not in \"images\" — skipped"); continue; }
            if (!CocoJson.TryId(e, "category_id", out long catId, out err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            if (!catIds.Contains(catId)) { skipped.Add($"{where}: names category_id {catId}, which is not in \"categories\" — skipped"); continue; }
            if (!CocoJson.TryBox(e, out double x, out double y, out double w, out double h, out err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
            if (BoxProblem(x, y, w, h, image) is string problem) { skipped.Add($"{where}: {problem} — skipped"); continue; }
            double area;
            if (!e.TryGetProperty("area", out var ar))
            {
                area = w * h;
                notes.Add($"{where}: no \"area\"; using the box's w·h = {area:R}");
            }
            else if (!CocoJson.TryNumber(ar, out area) || area < 0)
            {
                skipped.Add($"{where}: \"area\" {CocoJson.Short(ar)} is not a non-negative number — skipped");
                continue;
            }
            bool crowd = false;
            if (e.TryGetProperty("iscrowd", out var c))
            {
                if (c.ValueKind == JsonValueKind.True || (c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out int ci) && ci == 1)) crowd = true;
                else if (!(c.ValueKind == JsonValueKind.False || (c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out ci) && ci == 0)))
                {
                    skipped.Add($"{where}: \"iscrowd\" must be 0 or 1, got {CocoJson.Short(c)} — skipped");
                    continue;
                }
            }
            CocoSegmentation? seg = null;
            if (e.TryGetProperty("segmentation", out var s))
            {
                if (!CocoSegmentation.TryRead(s, out seg, out err)) { skipped.Add($"{where}: {err} — skipped"); continue; }
                // pycocotools scores an RLE at its own size; one that differs from the image's can match nothing.
                if (seg?.Rle is { } rle && image.Width > 0 && image.Height > 0 && (rle.Height != image.Height || rle.Width != image.Width))
                    notes.Add($"{where}: segmentation RLE is {rle.Height}x{rle.Width} (h x w), image {imageId} is {image.Height}x{image.Width}; kept, but in segm evaluation it matches no detection");
            }
            annotations.Add(new CocoAnnotation(id, imageId, catId, x, y, w, h, area, crowd, seg));
        }
        return new CocoDataset(path, images, categories, annotations, skipped, notes);
    }
}
