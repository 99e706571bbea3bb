using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Soco.Training;

/// <summary>
/// The one reader of SoCo.NET's JSON config records (pretraining and fine-tuning): JSON text or an object, the
/// <c>key=value</c> overrides of <c>--set</c>, and the messages a user sees — an unknown key with the nearest known
/// one, a derived key with what to set instead, a value of the wrong type. The canonical form is nested by
/// <see cref="ConfigLayout"/> (<c>{"model": {"arch": "fpn", …}, "solver": {…}}</c>, overrides <c>model.arch=c4</c>);
/// the flat form of the configs written before (<c>{"model": "fpn", …}</c>, <c>model=c4</c>) is read through the
/// layout's flat→nested table, so old run folders and checkpoints load. Keys are snake_case; an override's key may
/// use dashes or capitals. Numbers and booleans are read with the invariant culture; lists (<c>steps=[4,5]</c>) as JSON.
/// </summary>
public sealed class ConfigReader<T> where T : class
{
    readonly JsonSerializerOptions _json;
    readonly ConfigLayout _layout;
    readonly IReadOnlyDictionary<string, string> _derived;
    readonly Action<T> _validate;
    readonly Dictionary<string, JsonPropertyInfo> _known;

    /// <param name="json">The record's serializer options (they need a type-info resolver).</param>
    /// <param name="layout">Where each of the record's keys lives in the nested form; it must name every settable
    /// property once.</param>
    /// <param name="derived">Keys computed from others (flat names): setting one would be accepted and ignored, so it
    /// is refused with the text saying what to set instead.</param>
    /// <param name="validate">Throws <see cref="ArgumentException"/> on bad values.</param>
    public ConfigReader(JsonSerializerOptions json, ConfigLayout layout, Action<T> validate, IReadOnlyDictionary<string, string>? derived = null)
    {
        _json = json;
        _layout = layout;
        _validate = validate;
        _derived = derived ?? new Dictionary<string, string>();
        // The type info lists [JsonIgnore] properties too (computed values such as model_kind): they are not keys.
        _known = Info.Properties.Where(p => !_derived.ContainsKey(p.Name) && p.AttributeProvider?.IsDefined(typeof(JsonIgnoreAttribute), true) != true)
            .ToDictionary(p => p.Name, StringComparer.Ordinal);
        // A property without a place would be dropped by the writer; a place without a property would be refused by the reader.
        var missing = _known.Keys.Except(layout.FlatKeys).ToList();
        var extra = layout.FlatKeys.Except(_known.Keys).ToList();
        if (missing.Count + extra.Count > 0)
            throw new InvalidOperationException($"the config layout of {typeof(T).Name} does not match its keys: " +
                $"without a place: {string.Join(", ", missing)}; not a key: {string.Join(", ", extra)}");
    }

    JsonTypeInfo Info => _json.GetTypeInfo(typeof(T));

    /// <summary>Every settable key as its nested path (<c>solver.base_lr</c>) and its type (as words).</summary>
    public IReadOnlyList<(string Key, string Type)> Keys =>
        _layout.Entries.Select(e => (e.Path, TypeWord(_known[e.Flat].PropertyType))).ToList();

    /// <summary>JSON text (a preset, a run's saved config, nested or flat) with overrides, validated.</summary>
    public T Parse(string json, string what, IEnumerable<string>? overrides = null)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new ArgumentException($"config {what} is not valid JSON: {e.Message}", e); }
        if (node is not JsonObject obj) throw new ArgumentException($"config {what} must be a JSON object of key: value");
        return FromObject(obj, what, overrides);
    }

    /// <summary>A JSON object (nested or flat) with overrides (applied in order), validated.</summary>
    public T FromObject(JsonObject obj, string what, IEnumerable<string>? overrides = null)
    {
        var flat = new JsonObject();
        var written = new Dictionary<string, string>(StringComparer.Ordinal);   // flat key → the key as the user wrote it
        void Put(string key, string asWritten, JsonNode? value)
        {
            if (written.TryGetValue(key, out var first))
                throw new ArgumentException($"config {what}: '{first}' and '{asWritten}' both set {_layout.PathOf(key)}; keep one");
            written[key] = asWritten;
            flat[key] = value?.DeepClone();
        }
        foreach (var (key, value) in obj)
        {
            if (value is JsonObject section && _layout.IsSection(key))
            {
                foreach (var (leaf, v) in section)
                {
                    string path = $"{key}.{leaf}";
                    Put(_layout.FlatOf(path) ?? throw Refused(path, path, what), path, v);
                }
            }
            else if (Resolve(key) is { } f) Put(f, key, value);
            else if (_layout.IsSection(key))
                throw new ArgumentException($"config {what}: '{key}' is a section and must be a JSON object of its keys (e.g. \"{key}\": {{\"{ConfigLayout.LeafOf(_layout.Paths.First(p => ConfigLayout.SectionOf(p) == key))}\": …}})");
            else throw Refused(key, key, what);
        }
        foreach (var o in overrides ?? [])
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"override '{o}' must be key=value (e.g. solver.epochs=10)");
            string key = Normalize(o[..eq]);
            string value = o[(eq + 1)..].Trim();
            string f = Resolve(key) ?? throw Refused(key, o[..eq].Trim(), null);
            flat[f] = ParseValue(key, value, _known[f].PropertyType);
            written[f] = key;
        }
        T config;
        try
        {
            config = flat.Deserialize<T>(_json) ?? throw new ArgumentException($"config {what} is empty");
        }
        catch (JsonException e)
        {
            string key = e.Path?.TrimStart('$', '.') ?? "?";
            int bracket = key.IndexOf('[');
            if (bracket > 0) key = key[..bracket];
            string type = _known.TryGetValue(key, out var p) ? TypeWord(p.PropertyType) : "another type";
            throw new ArgumentException($"config {what}: key '{written.GetValueOrDefault(key, key)}' has the wrong type (expected {type}; got {flat[key]?.ToJsonString() ?? "null"})");
        }
        _validate(config);
        return config;
    }

    /// <summary>The config in the canonical nested form (what <see cref="Parse"/> reads back; a run's config.json).</summary>
    public string Write(T config)
    {
        var flat = JsonSerializer.SerializeToNode(config, _json)!.AsObject();
        var root = new JsonObject();
        foreach (var (key, path) in _layout.Entries)
        {
            var value = flat[key]?.DeepClone();
            if (ConfigLayout.SectionOf(path) is { } s)
            {
                if (root[s] is not JsonObject section) root[s] = section = new JsonObject();
                section[ConfigLayout.LeafOf(path)] = value;
            }
            else root[path] = value;
        }
        return root.ToJsonString(_json);
    }

    /// <summary>Keys whose values differ between two configs, as <c>section.key: old → new</c>.</summary>
    public IReadOnlyList<string> Differences(T a, T b)
    {
        var ja = JsonSerializer.SerializeToNode(a, _json)!.AsObject();
        var jb = JsonSerializer.SerializeToNode(b, _json)!.AsObject();
        return _layout.Entries.Where(e => !JsonNode.DeepEquals(ja[e.Flat], jb[e.Flat]))
            .Select(e => $"{e.Path}: {ja[e.Flat]?.ToJsonString()} → {jb[e.Flat]?.ToJsonString()}").ToList();
    }

    /// <summary>The record's key for a nested path (<c>solver.epochs</c>, <c>seed</c>) or an old flat key (<c>epochs</c>).</summary>
    string? Resolve(string key) => _layout.FlatOf(key) ?? (!key.Contains('.') && _layout.PathOf(key) is not null ? key : null);

    /// <summary>A key that is not settable: a derived one with what to set instead, else unknown with the nearest key —
    /// a dotted key gets the nearest path, a flat one the nearest flat key or the path whose last part is nearest.</summary>
    ArgumentException Refused(string key, string asWritten, string? file)
    {
        if (_derived.TryGetValue(ConfigLayout.LeafOf(key), out var instead))
            return new ArgumentException(file is null ? $"config key '{key}' is derived and cannot be set; {instead}"
                : $"config {file}: '{key}' is derived and cannot be set; {instead}");
        // (name, distance): a dotted key against every path and, by its last part, every path's last part (a key put in
        // the wrong section); a flat key against the flat keys and the paths' last parts (and the sections, in a file).
        string leaf = ConfigLayout.LeafOf(key);
        var byLeaf = _layout.Paths.Where(p => p.Contains('.')).Select(p => (p, Distance(leaf, ConfigLayout.LeafOf(p))));
        var candidates = key.Contains('.')
            ? _layout.Paths.Select(p => (p, Distance(key, p))).Concat(byLeaf)
            : _layout.FlatKeys.Select(k => (k, Distance(key, k))).Concat(byLeaf);
        if (file is not null && !key.Contains('.')) candidates = candidates.Concat(_layout.Sections.Select(s => (s, Distance(key, s))));
        string hint = Suggest(leaf.Length, candidates.ToList());
        return new ArgumentException(file is null ? $"unknown config key '{asWritten}'{hint}" : $"config {file}: unknown key '{key}'{hint}");
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

    string Suggest(int length, IReadOnlyList<(string Name, int Distance)> candidates)
    {
        var best = candidates.OrderBy(x => x.Distance).First();
        return best.Distance <= Math.Max(2, length / 3) ? $" (did you mean '{best.Name}'?)" : $"; known keys: {string.Join(", ", _layout.Paths)}";
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
