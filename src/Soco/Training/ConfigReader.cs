using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Soco.Training;

/// <summary>
/// The one reader of SoCo.NET's JSON config records (pretraining and fine-tuning): JSON text or an object, the
/// <c>key=value</c> overrides of <c>--set</c>, and the messages a user sees — an unknown key with the nearest known
/// one, a derived key with what to set instead, a value of the wrong type. Keys are snake_case; an override's key may
/// use dashes or capitals. Numbers and booleans are read with the invariant culture; lists (<c>steps=[4,5]</c>) as JSON.
/// </summary>
public sealed class ConfigReader<T> where T : class
{
    readonly JsonSerializerOptions _json;
    readonly IReadOnlyDictionary<string, string> _derived;
    readonly Action<T> _validate;

    /// <param name="json">The record's serializer options (they need a type-info resolver).</param>
    /// <param name="derived">Keys computed from others: setting one would be accepted and ignored, so it is refused
    /// with the text saying what to set instead.</param>
    /// <param name="validate">Throws <see cref="ArgumentException"/> on bad values.</param>
    public ConfigReader(JsonSerializerOptions json, Action<T> validate, IReadOnlyDictionary<string, string>? derived = null)
    {
        _json = json;
        _validate = validate;
        _derived = derived ?? new Dictionary<string, string>();
    }

    JsonTypeInfo Info => _json.GetTypeInfo(typeof(T));

    /// <summary>Every settable key and its type (as words).</summary>
    public IReadOnlyList<(string Key, string Type)> Keys =>
        Info.Properties.Where(p => !_derived.ContainsKey(p.Name)).Select(p => (p.Name, TypeWord(p.PropertyType))).ToList();

    /// <summary>JSON text (a preset, a run's saved config) with overrides, validated.</summary>
    public T Parse(string json, string what, IEnumerable<string>? overrides = null)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new ArgumentException($"config {what} is not valid JSON: {e.Message}", e); }
        if (node is not JsonObject obj) throw new ArgumentException($"config {what} must be a JSON object of key: value");
        return FromObject(obj, what, overrides);
    }

    /// <summary>A JSON object with overrides (applied in order; the object is changed), validated.</summary>
    public T FromObject(JsonObject obj, string what, IEnumerable<string>? overrides = null)
    {
        var known = Info.Properties.Where(p => !_derived.ContainsKey(p.Name)).ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var (key, _) in obj)
        {
            if (_derived.TryGetValue(key, out var instead)) throw new ArgumentException($"config {what}: '{key}' is derived and cannot be set; {instead}");
            if (!known.ContainsKey(key)) throw new ArgumentException($"config {what}: unknown key '{key}'{Suggest(key, known.Keys)}");
        }
        foreach (var o in overrides ?? [])
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"override '{o}' must be key=value (e.g. epochs=10)");
            string key = Normalize(o[..eq]);
            string value = o[(eq + 1)..].Trim();
            if (_derived.TryGetValue(key, out var instead)) throw new ArgumentException($"config key '{key}' is derived and cannot be set; {instead}");
            if (!known.TryGetValue(key, out var prop)) throw new ArgumentException($"unknown config key '{o[..eq].Trim()}'{Suggest(key, known.Keys)}");
            obj[key] = ParseValue(key, value, prop.PropertyType);
        }
        T config;
        try
        {
            config = obj.Deserialize<T>(_json) ?? throw new ArgumentException($"config {what} is empty");
        }
        catch (JsonException e)
        {
            string key = e.Path?.TrimStart('$', '.') ?? "?";
            int bracket = key.IndexOf('[');
            if (bracket > 0) key = key[..bracket];
            string type = known.TryGetValue(key, out var p) ? TypeWord(p.PropertyType) : "another type";
            throw new ArgumentException($"config {what}: key '{key}' has the wrong type (expected {type}; got {obj[key]?.ToJsonString() ?? "null"})");
        }
        _validate(config);
        return config;
    }

    /// <summary>Keys whose values differ between two configs, as <c>key: old → new</c>.</summary>
    public IReadOnlyList<string> Differences(T a, T b)
    {
        var ja = JsonSerializer.SerializeToNode(a, _json)!.AsObject();
        var jb = JsonSerializer.SerializeToNode(b, _json)!.AsObject();
        return ja.Where(kv => !JsonNode.DeepEquals(kv.Value, jb[kv.Key])).Select(kv => $"{kv.Key}: {kv.Value?.ToJsonString()} → {jb[kv.Key]?.ToJsonString()}").ToList();
    }

    static string Normalize(string key) => key.Trim().Replace('-', '_').ToLowerInvariant();

    static JsonNode? ParseValue(string key, string value, Type type)
    {
        var inv = CultureInfo.InvariantCulture;
        if (type == typeof(int))
            return int.TryParse(value, NumberStyles.Integer, inv, out var i) ? JsonValue.Create(i) : throw WrongType(key, value, type);
        if (type == typeof(long))
            return long.TryParse(value, NumberStyles.Integer, inv, out var l) ? JsonValue.Create(l) : throw WrongType(key, value, type);
        if (type == typeof(double))
            return double.TryParse(value, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? JsonValue.Create(d) : throw WrongType(key, value, type);
        if (type == typeof(bool))
            return bool.TryParse(value, out var b) ? JsonValue.Create(b) : throw WrongType(key, value, type);
        if (type == typeof(string)) return JsonValue.Create(value);
        // Lists and other structured values: JSON (its type is checked when the record is read).
        try { return JsonNode.Parse(value); }
        catch (JsonException) { throw WrongType(key, value, type); }
    }

    static ArgumentException WrongType(string key, string value, Type type) =>
        new($"config key '{key}' takes {TypeWord(type)}; '{value}' is not one");

    static string TypeWord(Type t) =>
        t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(double) ? "a number" : t == typeof(bool) ? "true or false"
        : t == typeof(string) ? "a string" : t.IsArray ? $"a JSON list of {Plural(t.GetElementType()!)} (e.g. [4,5] or [])" : t.Name;

    static string Plural(Type t) =>
        t == typeof(int) || t == typeof(long) ? "integers" : t == typeof(double) ? "numbers" : t == typeof(string) ? "strings" : t.Name;

    static string Suggest(string key, IEnumerable<string> known)
    {
        var best = known.Select(k => (k, d: Distance(key, k))).OrderBy(x => x.d).First();
        return best.d <= Math.Max(2, key.Length / 3) ? $" (did you mean '{best.k}'?)" : $"; known keys: {string.Join(", ", known)}";
    }

    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
