using System.Text.Json;
using Soco.Structures;

namespace Soco.Data.Coco;

/// <summary>Which of COCO's three ways of writing a mask a <see cref="CocoSegmentation"/> came in.</summary>
public enum CocoSegmentationKind
{
    /// <summary>A list of polygons <c>[[x1, y1, x2, y2, ...], ...]</c> in image pixels.</summary>
    Polygons,
    /// <summary><c>{"size": [h, w], "counts": [n0, n1, ...]}</c>: run lengths as numbers (crowd regions).</summary>
    UncompressedRle,
    /// <summary><c>{"size": [h, w], "counts": "..."}</c>: the compressed counts string (results files, LVIS).</summary>
    CompressedRle,
}

/// <summary>
/// The <c>segmentation</c> of a COCO annotation or result, read and checked. RLEs are decoded when read (they carry
/// their size); polygons are kept as given and become a mask with the image's size (<see cref="ToRle"/>, which is
/// pycocotools' <c>COCO.annToRLE</c>; docs/masks-rle.md).
/// </summary>
public sealed class CocoSegmentation
{
    CocoSegmentation(CocoSegmentationKind kind, IReadOnlyList<double[]> polygons, Rle? rle)
    {
        Kind = kind;
        Polygons = polygons;
        Rle = rle;
    }

    public CocoSegmentationKind Kind { get; }

    /// <summary>The polygons (<see cref="CocoSegmentationKind.Polygons"/>), each [x1, y1, x2, y2, ...]; empty otherwise.</summary>
    public IReadOnlyList<double[]> Polygons { get; }

    /// <summary>The mask of an RLE segmentation, with the size the RLE states; null for polygons.</summary>
    public Rle? Rle { get; }

    /// <summary>
    /// pycocotools reads a polygon list whose <b>first</b> polygon has exactly 4 numbers as a list of boxes
    /// [x, y, w, h] (<c>frPyObjects</c>); true for such a list (docs/masks-rle.md).
    /// </summary>
    public bool PolygonsReadAsBoxes => Kind == CocoSegmentationKind.Polygons && Polygons[0].Length == 4;

    public static CocoSegmentation FromPolygons(IReadOnlyList<double[]> polygons)
    {
        ArgumentNullException.ThrowIfNull(polygons);
        if (PolygonProblem(polygons) is string p) throw new ArgumentException(p);
        return new(CocoSegmentationKind.Polygons, polygons, null);
    }

    /// <summary>An RLE segmentation; <paramref name="compressed"/> says how it is written (results use the string).</summary>
    public static CocoSegmentation FromRle(Rle rle, bool compressed = true) =>
        new(compressed ? CocoSegmentationKind.CompressedRle : CocoSegmentationKind.UncompressedRle, [], rle ?? throw new ArgumentNullException(nameof(rle)));

    /// <summary>
    /// The mask as pycocotools' <c>COCO.annToRLE</c> makes it: polygons rasterised at the image's size and merged
    /// (union), or as boxes when the first polygon has 4 numbers; an RLE as it is, at its own size (an RLE whose size
    /// differs from the image's then has IoU −1 with every detection whose box overlaps it, as in pycocotools).
    /// </summary>
    public Rle ToRle(int imageHeight, int imageWidth)
    {
        if (Rle is not null) return Rle;
        if (imageHeight <= 0 || imageWidth <= 0)
            throw new ArgumentException($"a polygon segmentation needs the image size, and it is {imageWidth}x{imageHeight}");
        if (!PolygonsReadAsBoxes) return Structures.Rle.FromPolygons(Polygons, imageHeight, imageWidth);
        var boxes = new Rle[Polygons.Count];
        for (int i = 0; i < boxes.Length; i++)
        {
            var b = Polygons[i];
            boxes[i] = Structures.Rle.FromBox(b[0], b[1], b[2], b[3], imageHeight, imageWidth);
        }
        return Structures.Rle.Merge(boxes);
    }

    /// <summary>The JSON value as COCO writes it (for results files): polygons as lists, RLEs as {size, counts}.</summary>
    public void WriteTo(Utf8JsonWriter w)
    {
        if (Rle is null)
        {
            w.WriteStartArray();
            foreach (var p in Polygons)
            {
                w.WriteStartArray();
                foreach (double v in p) w.WriteNumberValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            return;
        }
        w.WriteStartObject();
        w.WriteStartArray("size");
        w.WriteNumberValue(Rle.Height);
        w.WriteNumberValue(Rle.Width);
        w.WriteEndArray();
        if (Kind == CocoSegmentationKind.CompressedRle) w.WriteString("counts", Rle.ToCountsString());
        else
        {
            w.WriteStartArray("counts");
            foreach (uint c in Rle.Counts) w.WriteNumberValue(c);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    static string? PolygonProblem(IReadOnlyList<double[]> polygons)
    {
        if (polygons.Count == 0) return "segmentation is an empty list of polygons";
        int first = polygons[0].Length;
        if (first < 4) return $"segmentation polygon #0 has {first} coordinates; a polygon needs at least 6 (3 points)";
        if (first == 4)
            for (int i = 1; i < polygons.Count; i++)
                if (polygons[i].Length != 4)
                    return $"segmentation polygon #0 has 4 numbers, so pycocotools reads the list as boxes [x, y, w, h], but polygon #{i} has {polygons[i].Length}";
        return null;
    }

    /// <summary>
    /// Reads a <c>segmentation</c> value starting at the reader's current token and leaves the reader on its last
    /// token. Gives null without an error for <c>null</c> and <c>[]</c> (no mask, which COCO files write for boxes-only
    /// data); an error text for anything else that is not a valid polygon list or RLE: wrong shapes, numbers that are
    /// not finite, RLE sizes that are not non-negative integers, counts that do not make an h×w mask.
    /// </summary>
    public static bool TryRead(ref Utf8JsonReader r, out CocoSegmentation? segmentation, out string? error)
    {
        segmentation = null;
        error = null;
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return true;
            case JsonTokenType.StartArray:
                return TryReadPolygons(ref r, out segmentation, out error);
            case JsonTokenType.StartObject:
                return TryReadRle(ref r, out segmentation, out error);
            default:
                error = $"\"segmentation\" must be a list of polygons or an RLE {{\"size\", \"counts\"}}, got a {r.TokenType}";
                r.Skip();
                return false;
        }
    }

    /// <summary><see cref="TryRead(ref Utf8JsonReader, out CocoSegmentation?, out string?)"/> on a parsed element.</summary>
    public static bool TryRead(JsonElement e, out CocoSegmentation? segmentation, out string? error)
    {
        if (e.ValueKind == JsonValueKind.Undefined) { segmentation = null; error = null; return true; }
        var r = new Utf8JsonReader(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e), new JsonReaderOptions { MaxDepth = 256 });
        r.Read();
        return TryRead(ref r, out segmentation, out error);
    }

    static bool TryReadPolygons(ref Utf8JsonReader r, out CocoSegmentation? segmentation, out string? error)
    {
        segmentation = null;
        error = null;
        var polygons = new List<double[]>();
        var coords = new List<double>();
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (r.TokenType != JsonTokenType.StartArray)
            {
                error = r.TokenType == JsonTokenType.StartObject
                    ? "\"segmentation\" is a list of RLE objects; a list holds polygons, an RLE is written as one {\"size\", \"counts\"} object"
                    : $"\"segmentation\" polygon #{polygons.Count} is not a list of numbers";
                r.Skip();
                return false;
            }
            coords.Clear();
            while (r.Read() && r.TokenType != JsonTokenType.EndArray)
            {
                if (r.TokenType != JsonTokenType.Number || !r.TryGetDouble(out double v) || !double.IsFinite(v))
                {
                    error = $"\"segmentation\" polygon #{polygons.Count} holds a value that is not a finite number (coordinate #{coords.Count})";
                    r.Skip();
                    return false;
                }
                coords.Add(v);
            }
            polygons.Add(coords.ToArray());
        }
        if (polygons.Count == 0) return true;
        if (PolygonProblem(polygons) is string p) { error = p; return false; }
        segmentation = new(CocoSegmentationKind.Polygons, polygons, null);
        return true;
    }

    static bool TryReadRle(ref Utf8JsonReader r, out CocoSegmentation? segmentation, out string? error)
    {
        segmentation = null;
        error = null;
        long h = -1, w = -1;
        string? text = null;
        List<long>? counts = null;
        bool bad = false;
        while (r.Read() && r.TokenType != JsonTokenType.EndObject)
        {
            if (r.ValueTextEquals("size"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartArray) { r.Skip(); bad = true; error ??= "RLE \"size\" must be [height, width]"; continue; }
                int n = 0;
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out long v) || v < 0 || v > int.MaxValue) { bad = true; error ??= "RLE \"size\" must be [height, width], two non-negative integers"; r.Skip(); }
                    else if (n == 0) h = v;
                    else if (n == 1) w = v;
                    n++;
                }
                if (n != 2) { bad = true; error ??= "RLE \"size\" must be [height, width], two non-negative integers"; }
            }
            else if (r.ValueTextEquals("counts"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.String) text = r.GetString();
                else if (r.TokenType == JsonTokenType.StartArray)
                {
                    counts = [];
                    while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                    {
                        if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out long v)) counts.Add(v);
                        else { bad = true; error ??= $"RLE count #{counts.Count} is not an integer"; r.Skip(); counts.Add(0); }
                    }
                }
                else { r.Skip(); bad = true; error ??= "RLE \"counts\" must be a string (compressed) or a list of integers"; }
            }
            else r.Skip();
        }
        if (bad) return false;
        if (h < 0 || w < 0) { error = "RLE segmentation has no \"size\" [height, width]"; return false; }
        if (text is null && counts is null) { error = "RLE segmentation has no \"counts\""; return false; }
        if (h * w > uint.MaxValue) { error = $"RLE size {h}x{w} has more than 2^32-1 pixels"; return false; }
        if (text is not null)
        {
            if (!Structures.Rle.TryFromCountsString(text, (int)h, (int)w, out var rle, out error)) return false;
            segmentation = new(CocoSegmentationKind.CompressedRle, [], rle);
            return true;
        }
        try
        {
            segmentation = new(CocoSegmentationKind.UncompressedRle, [], Structures.Rle.FromCounts(counts!.ToArray(), (int)h, (int)w));
            return true;
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }
    }
}
