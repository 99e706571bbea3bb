using System.Text.Json;

namespace Soco.Data.Coco;

/// <summary>Field access for COCO JSON records that says what is wrong instead of throwing from deep inside.</summary>
internal static class CocoJson
{
    /// <summary>Parses <paramref name="path"/>; a missing file or invalid JSON is an error naming the file.</summary>
    public static JsonDocument Load(string path)
    {
        byte[] bytes = ReadBytes(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>The file's bytes with bare NaN/Infinity turned into null; a missing file is an error naming it.</summary>
    public static byte[] ReadBytes(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        return NamedFloatsToNull(File.ReadAllBytes(path));
    }

    /// <summary>
    /// Python's json.dump writes NaN and ±Infinity as bare tokens, which JSON does not allow and System.Text.Json
    /// refuses for the whole file. They become null here, so the record holding one is reported by name as having a
    /// value that is not a finite number, instead of the file failing at a byte offset. Strings are left alone.
    /// </summary>
    internal static byte[] NamedFloatsToNull(byte[] b)
    {
        List<byte>? o = null;
        int copied = 0;
        for (int i = 0; i < b.Length; i++)
        {
            byte c = b[i];
            if (c == (byte)'"')
            {
                for (i++; i < b.Length && b[i] != (byte)'"'; i++) if (b[i] == (byte)'\\') i++;
                continue;
            }
            int len = Match(b, i, "NaN") ? 3 : Match(b, i, "Infinity") ? 8 : Match(b, i, "-Infinity") ? 9 : 0;
            if (len == 0) continue;
            o ??= new List<byte>(b.Length + 16);
            for (int j = copied; j < i; j++) o.Add(b[j]);
            o.AddRange("null"u8.ToArray());
            copied = i + len;
            i += len - 1;
        }
        if (o is null) return b;
        for (int j = copied; j < b.Length; j++) o.Add(b[j]);
        return o.ToArray();

        static bool Match(byte[] b, int i, string word)
        {
            if (i + word.Length > b.Length) return false;
            for (int k = 0; k < word.Length; k++) if (b[i + k] != (byte)word[k]) return false;
            return true;
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
