using System.Text.Json;

namespace Soco.Data.Coco;

/// <summary>Field access for COCO JSON records that says what is wrong instead of throwing from deep inside.</summary>
internal static class CocoJson
{
    /// <summary>Parses <paramref name="path"/>; a missing file or invalid JSON is an error naming the file.</summary>
    public static JsonDocument Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>An integer id (a JSON number with no fraction), or an error text.</summary>
    public static bool TryId(JsonElement obj, string name, out long id, out string? error)
    {
        id = 0;
        error = null;
        if (!obj.TryGetProperty(name, out var v)) { error = $"no \"{name}\""; return false; }
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out id)) return true;
            if (v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) { id = (long)d; return true; }
        }
        error = $"\"{name}\" must be an integer, got {Short(v)}";
        return false;
    }

    /// <summary>A JSON number as a double (NaN/Inf cannot appear in JSON, so any number is finite), or an error text.</summary>
    public static bool TryNumber(JsonElement v, out double x)
    {
        x = 0;
        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out x) && double.IsFinite(x);
    }

    /// <summary>A <c>bbox</c> [x, y, w, h] of four finite numbers, or an error text.</summary>
    public static bool TryBox(JsonElement obj, out double x, out double y, out double w, out double h, out string? error)
    {
        x = y = w = h = 0;
        error = null;
        if (!obj.TryGetProperty("bbox", out var b)) { error = "no \"bbox\""; return false; }
        if (b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 4)
        {
            error = $"\"bbox\" must be [x, y, w, h], got {Short(b)}";
            return false;
        }
        if (!TryNumber(b[0], out x) || !TryNumber(b[1], out y) || !TryNumber(b[2], out w) || !TryNumber(b[3], out h))
        {
            error = $"\"bbox\" holds a value that is not a finite number: {Short(b)}";
            return false;
        }
        return true;
    }

    public static string Box(double x, double y, double w, double h) => FormattableString.Invariant($"[{x:R}, {y:R}, {w:R}, {h:R}]");

    /// <summary>A value as JSON text, cut to a readable length for a message.</summary>
    public static string Short(JsonElement v)
    {
        string s = v.GetRawText();
        return s.Length <= 80 ? s : s[..77] + "...";
    }
}
