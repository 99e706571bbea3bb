using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace Soco.Tests.Architecture;

/// <summary>
/// Dependencies in the library point one way, from the file formats and image decoding up to training (README,
/// "Layout"). The test reads every source file of <c>src/Soco</c>, finds the top-level types each namespace declares,
/// and reports every use of a type from a namespace on a higher layer (or from an unrelated namespace on the same
/// layer). It reads identifiers rather than <c>using</c> lines, so a global using, a fully qualified name or a
/// namespace-relative name (<c>Structures.ImageList</c>) cannot hide an edge.
/// </summary>
public sealed class LayeringTests
{
    /// <summary>Lower numbers are lower layers. A namespace may use its own types and those of any lower layer.
    /// A new namespace must be placed here (the test fails until it is).</summary>
    public static readonly IReadOnlyDictionary<string, int> Layers = new Dictionary<string, int>
    {
        ["IO"] = 0, ["Runtime"] = 0,
        ["Imaging"] = 1, ["Ops"] = 1, ["Distributed"] = 1,
        ["Geometry"] = 2,
        ["Structures"] = 3,
        ["Proposals"] = 4,
        ["Data"] = 5,
        ["Modeling"] = 6, ["Solver"] = 6,
        ["Evaluation"] = 7, ["Interop"] = 7,
        ["Engine"] = 8,
        ["Training"] = 9,
        ["Api"] = 10,
    };

    sealed record SourceFile(string Path, string Namespace, string Code);

    [Fact]
    public void No_namespace_uses_a_type_from_a_higher_layer()
    {
        var files = ReadSources();
        var unknown = files.Select(f => f.Namespace).Distinct().Where(n => !Layers.ContainsKey(n)).ToList();
        Assert.True(unknown.Count == 0, $"namespaces with no layer in LayeringTests.Layers: {string.Join(", ", unknown)}");

        var owners = DeclaredTypes(files);
        var violations = new List<string>();
        var edges = new HashSet<(string, string)>();
        foreach (var f in files)
            foreach (var (type, owner) in UsedTypes(f.Code, owners))
            {
                if (owner == f.Namespace) continue;
                edges.Add((f.Namespace, owner));
                if (Layers[owner] < Layers[f.Namespace]) continue;
                violations.Add($"{f.Path}: {f.Namespace} (layer {Layers[f.Namespace]}) uses {owner}.{type} (layer {Layers[owner]})");
            }
        // A scanner gone blind would pass everything: it must see edges the code certainly has.
        foreach (var edge in new[] { ("Training", "Engine"), ("Modeling", "Structures"), ("Engine", "Solver"), ("Data", "Imaging"), ("Training", "Interop") })
            Assert.True(edges.Contains(edge), $"the scanner did not see {edge.Item1} → {edge.Item2}");
        Assert.True(violations.Count == 0, "backward dependencies:\n" + string.Join("\n", violations.Distinct().Order()));
    }

    [Fact]
    public void The_scanner_sees_qualified_relative_and_interpolated_uses_but_not_comments_strings_or_member_names()
    {
        var owners = new Dictionary<string, string> { ["Fpn"] = "Modeling", ["Boxes"] = "Structures", ["Pth"] = "Interop", ["Trainer"] = "Engine" };
        string code = """
            // Trainer in a comment, /* Trainer */ and "Trainer" in a string are not uses.
            var a = Soco.Interop.Pth.Load(p);
            var b = Structures.Boxes.Empty;
            var c = $"holds {Fpn.Describe(x)} and {{Trainer}}";
            var d = recipe.Fpn;
            """;
        string member = """
            public static ViewRecipe Fpn { get; }
            IReadOnlyList<ViewRecipe> All = [C4, Fpn];
            """;
        Assert.Empty(UsedTypes(StripCommentsAndStrings(member), owners));
        var used = UsedTypes(StripCommentsAndStrings(code), owners).Select(u => u.Type).Order().ToList();
        Assert.Equal(["Boxes", "Fpn", "Pth"], used);
        Assert.DoesNotContain("Trainer", used);
    }

    static List<SourceFile> ReadSources()
    {
        string root = Path.Combine(TestPaths.RepoRoot, "src", "Soco");
        var files = new List<SourceFile>();
        foreach (var path in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, path);
            if (rel.StartsWith("bin" + Path.DirectorySeparatorChar) || rel.StartsWith("obj" + Path.DirectorySeparatorChar)) continue;
            string code = StripCommentsAndStrings(File.ReadAllText(path));
            var m = Regex.Match(code, @"^namespace\s+Soco\.(\w+)", RegexOptions.Multiline);
            if (!m.Success) continue; // assembly attributes
            files.Add(new SourceFile("src/Soco/" + rel.Replace('\\', '/'), m.Groups[1].Value, code));
        }
        Assert.True(files.Count > 50, $"found only {files.Count} source files under {root}");
        return files;
    }

    /// <summary>Top-level type name → namespace. Names declared in two namespaces are left out (a use cannot be
    /// attributed); nested types are not top-level (they are indented in file-scoped namespaces).</summary>
    static Dictionary<string, string> DeclaredTypes(List<SourceFile> files)
    {
        var seen = new Dictionary<string, HashSet<string>>();
        var decl = new Regex(@"^(?:(?:public|internal|static|sealed|abstract|partial|readonly|file|unsafe|ref)\s+)*(?:class|struct|interface|enum|record(?:\s+struct|\s+class)?|delegate\s+[\w<>\[\],?\s]+?)\s+(\w+)",
            RegexOptions.Multiline);
        foreach (var f in files)
            foreach (Match m in decl.Matches(f.Code))
            {
                if (!seen.TryGetValue(m.Groups[1].Value, out var set)) seen[m.Groups[1].Value] = set = [];
                set.Add(f.Namespace);
            }
        return seen.Where(kv => kv.Value.Count == 1).ToDictionary(kv => kv.Key, kv => kv.Value.Single());
    }

    static readonly HashSet<string> KeywordsBeforeAType =
    [
        "new", "return", "is", "as", "in", "out", "ref", "params", "readonly", "static", "const", "await", "throw", "case",
        "when", "else", "public", "private", "internal", "protected", "sealed", "override", "virtual", "abstract",
        "partial", "extern", "unsafe", "volatile", "async", "not", "and", "or", "typeof", "nameof", "sizeof", "default",
        "where", "select", "from", "yield", "required", "init", "get", "set", "scoped", "file", "var", "using", "class",
        "struct", "record", "interface",
    ];

    /// <summary>The known types a piece of code (already stripped of comments and strings) refers to. An identifier
    /// right after a dot counts only when the dots before it spell a namespace (<c>Soco.Interop.Pth</c>,
    /// <c>Structures.Boxes</c>), since <c>x.Fpn</c> is a member; an identifier right after another identifier is a
    /// declared name (<c>ViewRecipe Fpn</c>), not a use, unless that word is a keyword such as <c>new</c>.</summary>
    static IEnumerable<(string Type, string Owner)> UsedTypes(string code, IReadOnlyDictionary<string, string> owners)
    {
        var namespaces = Layers.Keys.Append("Soco").ToHashSet();
        var found = new HashSet<(string, string)>();
        // Names the file itself declares as members (`ViewRecipe Fpn { get; }`): a bare `Fpn` in that file is the
        // member, not the type.
        var members = Regex.Matches(code, @"(\w+)[>\]?]?\s+([A-Z]\w*)\s*(?:\{|=>|=|;|\(|,|\))")
            .Where(m => !KeywordsBeforeAType.Contains(m.Groups[1].Value)).Select(m => m.Groups[2].Value).ToHashSet();
        foreach (Match m in Regex.Matches(code, @"\b[A-Z]\w*\b"))
        {
            if (!owners.TryGetValue(m.Value, out var owner) || members.Contains(m.Value)) continue;
            int i = m.Index - 1;
            if (i >= 0 && code[i] == '.')
            {
                // Walk back over the qualifier: every segment must be a namespace name.
                var qualifier = Regex.Match(code[..i], @"((?:\w+\.)*\w+)$").Groups[1].Value;
                if (qualifier.Length == 0 || !qualifier.Split('.').All(namespaces.Contains)) continue;
            }
            else
            {
                while (i >= 0 && code[i] is ' ' or '\t') i--;
                if (i >= 0 && (char.IsLetterOrDigit(code[i]) || code[i] is '_' or '>' or ']' or '?'))
                {
                    var before = Regex.Match(code[..(i + 1)], @"(\w+)$").Groups[1].Value;
                    if (!KeywordsBeforeAType.Contains(before)) continue;
                }
            }
            // `using` and `namespace` lines name namespaces, not types.
            int lineStart = code.LastIndexOf('\n', m.Index) + 1;
            var line = code.AsSpan(lineStart).TrimStart();
            if (line.StartsWith("namespace ") || (line.StartsWith("using ") && !line.StartsWith("using var") && !line.StartsWith("using ("))) continue;
            found.Add((m.Value, owner));
        }
        return found;
    }

    /// <summary>Blanks comments, character literals and the text of string literals (verbatim, raw and interpolated
    /// ones included), keeping the expressions inside interpolation holes.</summary>
    public static string StripCommentsAndStrings(string s)
    {
        var o = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '/') { while (i < s.Length && s[i] != '\n') i++; continue; }
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? s.Length : end + 2;
                o.Append(' ');
                continue;
            }
            if (c == '\'')
            {
                i++;
                while (i < s.Length && s[i] != '\'') i += s[i] == '\\' ? 2 : 1;
                i++;
                o.Append("' '");
                continue;
            }
            if (c is '"' or '$' or '@')
            {
                int j = i;
                int dollars = 0;
                bool verbatim = false;
                while (j < s.Length && s[j] is '$' or '@') { if (s[j] == '$') dollars++; else verbatim = true; j++; }
                if (j < s.Length && s[j] == '"')
                {
                    i = SkipString(s, j, dollars, verbatim, o);
                    continue;
                }
            }
            o.Append(c);
            i++;
        }
        return o.ToString();
    }

    /// <summary>Skips the string literal whose first quote is at <paramref name="q"/>; appends "" plus the code of its
    /// interpolation holes (each recursively stripped). Returns the index after the literal.</summary>
    static int SkipString(string s, int q, int dollars, bool verbatim, StringBuilder o)
    {
        int quotes = 0;
        while (q + quotes < s.Length && s[q + quotes] == '"') quotes++;
        bool raw = quotes >= 3;
        if (!raw && quotes == 2) { o.Append("\"\""); return q + 2; } // empty string
        int i = q + (raw ? quotes : 1);
        int braces = Math.Max(dollars, 1);
        o.Append("\"\"");
        while (i < s.Length)
        {
            char c = s[i];
            if (raw)
            {
                if (string.CompareOrdinal(s, i, new string('"', quotes), 0, quotes) == 0) return i + quotes;
            }
            else if (c == '"')
            {
                if (verbatim && i + 1 < s.Length && s[i + 1] == '"') { i += 2; continue; }
                return i + 1;
            }
            else if (c == '\\' && !verbatim) { i += 2; continue; }
            if (dollars > 0 && c == '{')
            {
                int run = 0;
                while (i + run < s.Length && s[i + run] == '{') run++;
                if (!raw && run >= 2) { i += run; continue; } // {{ is a literal brace
                if (run >= braces)
                {
                    int start = i + run, depth = 1, k = start;
                    while (k < s.Length && depth > 0)
                    {
                        if (s[k] == '{') depth++;
                        else if (s[k] == '}') depth--;
                        else if (s[k] == '"') { k = SkipString(s, k, 0, false, new StringBuilder()) - 1; }
                        k++;
                    }
                    o.Append(' ').Append(StripCommentsAndStrings(s[start..Math.Max(start, k - 1)])).Append(' ');
                    i = k;
                    continue;
                }
            }
            i++;
        }
        return i;
    }
}
