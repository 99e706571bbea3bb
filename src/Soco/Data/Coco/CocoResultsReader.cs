using System.Text.Json;
using Soco.Structures;

namespace Soco.Data.Coco;

/// <summary>What <see cref="CocoResultsReader.Read"/> gives: the detections in file order and the notes on records
/// kept as they are (e.g. boxes of zero size, which can never match but still count as false positives).</summary>
public sealed record CocoResults(string Source, IReadOnlyList<CocoDetection> Detections, IReadOnlyList<string> Notes);

/// <summary>
/// Reads a COCO results file (a list of <c>{image_id, category_id, bbox, score}</c>, and <c>segmentation</c> for
/// instance segmentation: an RLE <c>{size, counts}</c> or polygons; a result with a segmentation may lack the bbox)
/// against its ground truth.
/// Any record that would make the score wrong stops the read with an error naming it: an image or category the
/// ground truth lacks (pycocotools asserts on the first and silently drops the second), a missing or non-numeric
/// field. Nothing is skipped silently. An <c>image_id</c> may also be a string: the file name without extension of one
/// ground-truth image (what `soco detect` writes), refused when no image or several images have that stem. Records are read with a forward-only reader (a results file for COCO val
/// holds ~500,000 of them); a record that does not read cleanly is parsed again on its own to say what is wrong.
/// </summary>
public static class CocoResultsReader
{
    public static CocoResults Read(string path, CocoDataset truth)
    {
        byte[] bytes = CocoJson.ReadBytes(path);
        var dets = new List<CocoDetection>();
        var notes = new List<string>();
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 256 });
        Dictionary<string, List<CocoImage>>? stems = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                throw new InvalidDataException($"{path}: expected a list of detections [{{\"image_id\", \"category_id\", \"bbox\", \"score\"}}, ...] (COCO results format)");
            int n = 0;
            Span<double> box = stackalloc double[4];
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                string Where() => $"{path}: detection #{n}";
                if (reader.TokenType != JsonTokenType.StartObject) throw new InvalidDataException($"{Where()}: not an object");
                int start = (int)reader.TokenStartIndex;
                long imageId = 0, catId = 0;
                double score = 0;
                int have = 0;
                CocoSegmentation? seg = null;
                bool bad = false;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    if (reader.ValueTextEquals("image_id"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String) { imageId = ByStem(reader.GetString()!, truth, ref stems, Where()); have |= 1; }
                        else if (Id(ref reader, out imageId)) have |= 1;
                        else bad = true;
                    }
                    else if (reader.ValueTextEquals("category_id"u8)) { reader.Read(); if (Id(ref reader, out catId)) have |= 2; else bad = true; }
                    else if (reader.ValueTextEquals("score"u8)) { reader.Read(); if (Number(ref reader, out score)) have |= 4; else bad = true; }
                    else if (reader.ValueTextEquals("bbox"u8))
                    {
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.StartArray) { reader.Skip(); bad = true; continue; }
                        int c = 0;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (c < 4 && Number(ref reader, out double v)) box[c] = v;
                            else bad = true;
                            c++;
                        }
                        if (c == 4) have |= 8;
                        else bad = true;
                    }
                    else if (reader.ValueTextEquals("segmentation"u8))
                    {
                        reader.Read();
                        if (!CocoSegmentation.TryRead(ref reader, out seg, out string? err)) throw new InvalidDataException($"{Where()}: {err}");
                        if (seg is not null) have |= 16;
                    }
                    else reader.Skip();
                }
                // A result needs a bbox or a segmentation (then its box is the mask's, as in pycocotools' loadRes).
                if (bad || (have & 7) != 7 || (have & 24) == 0)
                    throw Explain(bytes.AsMemory(start, (int)reader.BytesConsumed - start), Where(), truth, ref stems);
                if (!truth.ImagesById.ContainsKey(imageId)) throw new InvalidDataException($"{Where()}: {UnknownImage(imageId, truth)}");
                if (!truth.CategoriesById.ContainsKey(catId)) throw new InvalidDataException($"{Where()}: {UnknownCategory(catId, truth)}");
                bool boxFromMask = (have & 8) == 0;
                if (boxFromMask)
                {
                    var img = truth.ImagesById[imageId];
                    Rle mask;
                    try { mask = seg!.ToRle(img.Height, img.Width); }
                    catch (ArgumentException e) { throw new InvalidDataException($"{Where()}: no \"bbox\", and its segmentation gives no mask: {e.Message} (image {imageId})"); }
                    box[0] = mask.Box.X; box[1] = mask.Box.Y; box[2] = mask.Box.Width; box[3] = mask.Box.Height;
                }
                else if (box[2] <= 0 || box[3] <= 0)
                    notes.Add($"{Where()} (image_id {imageId}): bbox {CocoJson.Box(box[0], box[1], box[2], box[3])} has zero or negative size; kept, as pycocotools keeps it (it matches nothing)");
                dets.Add(new CocoDetection(imageId, catId, box[0], box[1], box[2], box[3], score) { Segmentation = seg, BoxFromMask = boxFromMask });
                n++;
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        return new CocoResults(path, dets, notes);
    }

    static bool Id(ref Utf8JsonReader r, out long id)
    {
        id = 0;
        if (r.TokenType != JsonTokenType.Number) { r.Skip(); return false; }
        if (r.TryGetInt64(out id)) return true;
        if (r.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) { id = (long)d; return true; }
        return false;
    }

    static bool Number(ref Utf8JsonReader r, out double x)
    {
        x = 0;
        if (r.TokenType != JsonTokenType.Number) { r.Skip(); return false; }
        return r.TryGetDouble(out x) && double.IsFinite(x);
    }

    /// <summary>The error for a record that did not read cleanly, found by checking it field by field.</summary>
    static InvalidDataException Explain(ReadOnlyMemory<byte> record, string where, CocoDataset truth, ref Dictionary<string, List<CocoImage>>? stems)
    {
        using var doc = JsonDocument.Parse(record);
        var e = doc.RootElement;
        InvalidDataException Bad(string what) => new($"{where}: {what}");
        long imageId;
        string? err;
        if (e.TryGetProperty("image_id", out var idText) && idText.ValueKind == JsonValueKind.String) imageId = ByStem(idText.GetString()!, truth, ref stems, where);
        else if (!CocoJson.TryId(e, "image_id", out imageId, out err)) return Bad(err!);
        if (!truth.ImagesById.ContainsKey(imageId)) return Bad(UnknownImage(imageId, truth));
        if (!CocoJson.TryId(e, "category_id", out long catId, out err)) return Bad(err!);
        if (!truth.CategoriesById.ContainsKey(catId)) return Bad(UnknownCategory(catId, truth));
        bool hasSegm = e.TryGetProperty("segmentation", out var sg) && sg.ValueKind != JsonValueKind.Null && !(sg.ValueKind == JsonValueKind.Array && sg.GetArrayLength() == 0);
        if ((e.TryGetProperty("bbox", out _) || !hasSegm) && !CocoJson.TryBox(e, out _, out _, out _, out _, out err))
            return Bad(hasSegm || err != "no \"bbox\"" ? err! : "no \"bbox\" (and no \"segmentation\")");
        if (!e.TryGetProperty("score", out var s)) return Bad("no \"score\"");
        if (!CocoJson.TryNumber(s, out _)) return Bad($"\"score\" must be a finite number, got {CocoJson.Short(s)}");
        return Bad("could not be read (a field appears twice?)");
    }

    /// <summary>
    /// A string image_id (what `soco detect` writes for single files: the file name without extension) → the id of the
    /// ground-truth image whose file name has that stem; unknown or ambiguous stems stop the read, since guessing
    /// would score detections against the wrong image.
    /// </summary>
    static long ByStem(string stem, CocoDataset truth, ref Dictionary<string, List<CocoImage>>? stems, string where)
    {
        stems ??= truth.Images.GroupBy(i => Path.GetFileNameWithoutExtension(i.FileName), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        if (!stems.TryGetValue(stem, out var found))
        {
            string example = truth.Images.Count > 0 ? $" (e.g. \"{Path.GetFileNameWithoutExtension(truth.Images[0].FileName)}\" for {truth.Images[0].FileName})" : "";
            throw new InvalidDataException($"{where}: image_id \"{stem}\" is the file name stem of no image of the ground truth {truth.Source}{example}; " +
                "a string image_id is matched to the file name without extension");
        }
        if (found.Count > 1)
            throw new InvalidDataException($"{where}: image_id \"{stem}\" is ambiguous ({string.Join(", ", found.Take(4).Select(i => $"{i.FileName} id {i.Id}"))} " +
                $"have that file name stem in {truth.Source}); use the numeric image ids");
        return found[0].Id;
    }

    static string UnknownImage(long imageId, CocoDataset truth) =>
        $"image_id {imageId} is not an image of the ground truth {truth.Source}; scoring would be wrong (detections for another set?)";

    static string UnknownCategory(long catId, CocoDataset truth)
    {
        var ids = truth.Categories.Select(c => c.Id).Order().ToArray();
        string list = ids.Length <= 12 ? string.Join(", ", ids) : string.Join(", ", ids.Take(10)) + $", ... ({ids.Length} in all)";
        return $"category_id {catId} is not a category of the ground truth {truth.Source} (its ids: {list}); contiguous class indices instead of dataset ids?";
    }
}
