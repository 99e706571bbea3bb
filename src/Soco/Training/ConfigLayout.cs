namespace Soco.Training;

/// <summary>
/// Where each key of a config record lives in its nested JSON form (<c>model</c>, <c>data</c>, <c>input</c>,
/// <c>solver</c>, <c>checkpoint</c>, <c>test</c> — detectron2's grouping, docs/engine.md §Nested config), and the
/// flat key that SoCo.NET's configs used before: the one flat→nested table. The reader takes either form (a run
/// folder or checkpoint written before the nesting still loads) and flat <c>--set</c> keys as aliases; the writer
/// writes the nested form.
/// </summary>
public sealed class ConfigLayout
{
    readonly Dictionary<string, string> _byPath = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _byFlat = new(StringComparer.Ordinal);

    /// <param name="entries">(flat key, path) in the order the nested form is written; a path is a top-level key
    /// (<c>seed</c>) or <c>section.key</c>.</param>
    public ConfigLayout(params (string Flat, string Path)[] entries)
    {
        Entries = entries;
        foreach (var (flat, path) in entries)
        {
            if (path.Count(c => c == '.') > 1) throw new ArgumentException($"config path '{path}' is nested more than one level");
            if (!_byPath.TryAdd(path, flat)) throw new ArgumentException($"config path '{path}' appears twice");
            if (!_byFlat.TryAdd(flat, path)) throw new ArgumentException($"flat config key '{flat}' appears twice");
        }
        Sections = entries.Select(e => SectionOf(e.Path)).OfType<string>().Distinct().ToList();
        foreach (var s in Sections)
            if (_byPath.ContainsKey(s)) throw new ArgumentException($"'{s}' is both a section and a top-level key");
    }

    /// <summary>(flat key, path) in writing order.</summary>
    public IReadOnlyList<(string Flat, string Path)> Entries { get; }

    /// <summary>The section names, in writing order.</summary>
    public IReadOnlyList<string> Sections { get; }

    public bool IsSection(string name) => Sections.Contains(name);

    /// <summary>The flat key of a path (null when none).</summary>
    public string? FlatOf(string path) => _byPath.GetValueOrDefault(path);

    /// <summary>The path of a flat key (null when none).</summary>
    public string? PathOf(string flat) => _byFlat.GetValueOrDefault(flat);

    /// <summary>Every path.</summary>
    public IEnumerable<string> Paths => Entries.Select(e => e.Path);

    /// <summary>Every flat key (the aliases).</summary>
    public IEnumerable<string> FlatKeys => Entries.Select(e => e.Flat);

    /// <summary>The section of a path (null for a top-level key).</summary>
    public static string? SectionOf(string path) => path.IndexOf('.') is > 0 and var dot ? path[..dot] : null;

    /// <summary>The key of a path inside its section (the path itself for a top-level key).</summary>
    public static string LeafOf(string path) => path[(path.IndexOf('.') + 1)..];
}
