using System.Text.Json;
using Soco.Data.Coco;

namespace Soco.Data.Lvis;

/// <summary>
/// Reads LVIS-format ground truth (docs/lvis.md §Format): the COCO reader reads images, categories and annotations
/// (same layout, same checks, same per-record messages); this adds the LVIS fields. The LVIS API stops on an image
/// without <c>neg_category_ids</c> / <c>not_exhaustive_category_ids</c> or a category without a known
/// <c>frequency</c>; here such a record is kept with a note naming it (lists taken as empty, frequency unknown: the
/// category counts in AP but in none of APr/APc/APf).
/// </summary>
public static class LvisReader
{
    /// <summary>The evaluation protocols <c>soco evaluate --protocol</c> accepts.</summary>
    public static readonly string[] Protocols = ["auto", "coco", "lvis"];

    /// <summary>Whether a parsed file carries LVIS's fields: an image with <c>neg_category_ids</c> or
    /// <c>not_exhaustive_category_ids</c>, or a category with <c>frequency</c>.</summary>
    public static bool IsLvis(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return false;
        static bool Any(JsonElement root, string list, params string[] keys) =>
            root.TryGetProperty(list, out var a) && a.ValueKind == JsonValueKind.Array &&
            a.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.Object && keys.Any(k => e.TryGetProperty(k, out _)));
        return Any(root, "images", "neg_category_ids", "not_exhaustive_category_ids") || Any(root, "categories", "frequency");
    }

    /// <summary>Reads an LVIS file; a file without LVIS's fields is an error naming it.</summary>
    public static LvisDataset Read(string path)
    {
        ReadGroundTruth(path, "lvis", out var lvis);
        return lvis!;
    }

    /// <summary>
    /// Reads ground truth once for either protocol: "coco" → COCO only (<paramref name="lvis"/> null), "lvis" → LVIS
    /// (an error if the file lacks LVIS's fields), "auto" → LVIS when the file carries its fields.
    /// </summary>
    public static CocoDataset ReadGroundTruth(string path, string protocol, out LvisDataset? lvis)
    {
        if (!Protocols.Contains(protocol)) throw new ArgumentException($"protocol '{protocol}': expected one of {string.Join(", ", Protocols)}");
        using var doc = CocoJson.Load(path);
        var root = doc.RootElement;
        var coco = WithFileNamesFromUrls(CocoInstancesReader.Read(path, root), root);
        lvis = null;
        if (protocol == "coco") return coco;
        bool isLvis = IsLvis(root);
        if (protocol == "lvis" && !isLvis)
            throw new InvalidDataException($"{path}: not an LVIS-format file (no image has \"neg_category_ids\" or \"not_exhaustive_category_ids\" and no category has \"frequency\"); evaluate it with the COCO protocol");
        if (isLvis) lvis = ReadLvisFields(path, root, coco);
        return coco;
    }

    /// <summary>
    /// LVIS v1 images have no <c>file_name</c>, only <c>coco_url</c> (e.g. <c>http://images.cocodataset.org/val2017/000000397133.jpg</c>),
    /// and its val set draws images from COCO's train2017 and val2017: as Detectron2's LVIS loader does
    /// (docs/lvis.md §Format), such an image's file is the URL's last two parts (<c>val2017/000000397133.jpg</c>) under
    /// the image folder, which is then COCO's image root (the folder holding train2017/ and val2017/).
    /// </summary>
    static CocoDataset WithFileNamesFromUrls(CocoDataset coco, JsonElement root)
    {
        if (!coco.Images.Any(i => i.FileName.Length == 0)) return coco;
        var urls = new Dictionary<long, string>();
        foreach (var e in root.GetProperty("images").EnumerateArray())
            if (e.ValueKind == JsonValueKind.Object && CocoJson.TryId(e, "id", out long id, out _) &&
                e.TryGetProperty("coco_url", out var u) && u.ValueKind == JsonValueKind.String && u.GetString() is string url)
            {
                var parts = url.Split('/', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2) urls.TryAdd(id, parts[^2] + "/" + parts[^1]);
            }
        var images = coco.Images.Select(i => i.FileName.Length == 0 && urls.TryGetValue(i.Id, out var f) ? i with { FileName = f } : i).ToList();
        return new CocoDataset(coco.Source, images, coco.Categories, coco.Annotations, coco.Skipped, coco.Notes);
    }

    static LvisDataset ReadLvisFields(string path, JsonElement root, CocoDataset coco)
    {
        var notes = new List<string>();
        var neg = new Dictionary<long, long[]>();
        var nel = new Dictionary<long, long[]>();
        int n = 0;
        foreach (var e in root.GetProperty("images").EnumerateArray())
        {
            string where = $"{path}: image #{n++}";
            if (e.ValueKind != JsonValueKind.Object || !CocoJson.TryId(e, "id", out long id, out _) || !coco.ImagesById.ContainsKey(id) || neg.ContainsKey(id)) continue;
            where += $" (id {id})";
            neg[id] = IdList(e, "neg_category_ids", where, notes);
            nel[id] = IdList(e, "not_exhaustive_category_ids", where, notes);
        }

        var freq = new Dictionary<long, LvisFrequency>();
        var counts = new Dictionary<long, int>();
        n = 0;
        foreach (var e in root.GetProperty("categories").EnumerateArray())
        {
            string where = $"{path}: category #{n++}";
            if (e.ValueKind != JsonValueKind.Object || !CocoJson.TryId(e, "id", out long id, out _) || !coco.CategoriesById.ContainsKey(id) || freq.ContainsKey(id)) continue;
            where += $" (id {id}, {coco.CategoriesById[id].Name})";
            var f = LvisFrequency.Unknown;
            if (e.TryGetProperty("frequency", out var fr) && fr.ValueKind == JsonValueKind.String)
                f = fr.GetString() switch { "r" => LvisFrequency.Rare, "c" => LvisFrequency.Common, "f" => LvisFrequency.Frequent, _ => LvisFrequency.Unknown };
            if (f == LvisFrequency.Unknown)
                notes.Add($"{where}: \"frequency\" {(e.TryGetProperty("frequency", out fr) ? CocoJson.Short(fr) : "missing")} is not \"r\", \"c\" or \"f\"; the category counts in AP but in none of APr/APc/APf");
            freq[id] = f;
            counts[id] = e.TryGetProperty("image_count", out var ic) && ic.ValueKind == JsonValueKind.Number && ic.TryGetInt32(out int c) ? c : 0;
        }

        var kept = coco.Annotations.Select(a => a.Id).ToHashSet();
        var ignored = new HashSet<long>();
        foreach (var e in root.GetProperty("annotations").EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("ignore", out var ig) || !CocoJson.TryId(e, "id", out long id, out _) || !kept.Contains(id)) continue;
            // The LVIS API tests the field for truth (eval.py: `if g["ignore"] or ...`).
            bool on = ig.ValueKind == JsonValueKind.True || (ig.ValueKind == JsonValueKind.Number && ig.TryGetDouble(out double v) && v != 0);
            if (on) ignored.Add(id);
        }
        return new LvisDataset(coco, neg, nel, freq, counts, ignored, notes);
    }

    static long[] IdList(JsonElement image, string name, string where, List<string> notes)
    {
        if (!image.TryGetProperty(name, out var a))
        {
            notes.Add($"{where}: no \"{name}\"; taken as empty");
            return [];
        }
        if (a.ValueKind != JsonValueKind.Array)
        {
            notes.Add($"{where}: \"{name}\" {CocoJson.Short(a)} is not a list; taken as empty");
            return [];
        }
        var ids = new List<long>(a.GetArrayLength());
        foreach (var v in a.EnumerateArray())
        {
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long id)) ids.Add(id);
            else notes.Add($"{where}: \"{name}\" holds {CocoJson.Short(v)}, not an integer category id; left out");
        }
        return ids.ToArray();
    }
}
