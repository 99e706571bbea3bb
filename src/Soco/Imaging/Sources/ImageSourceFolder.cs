using System.Runtime.InteropServices;

namespace Soco.Imaging;

/// <summary>
/// The image files of a folder (and its subfolders when <c>recursive</c>), sorted ordinal by relative path.
/// Hidden files and folders (name starting with '.', e.g. macOS "._x.jpg") are skipped. A subfolder that cannot be
/// listed (no permission, removed while listing) and a symbolic link that leads back into an enclosing folder (a
/// loop) are not dropped silently: each becomes a <see cref="SourceProblem"/>, which proposal generation records like
/// an unreadable image. A folder reached twice through links is listed once, so each real file is visited once.
/// </summary>
public sealed class FolderImageSource : FileImageSource
{
    readonly List<SourceProblem> _problems = new();

    public FolderImageSource(string root, bool recursive = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        if (!Directory.Exists(root))
            throw new ImageSourceException(File.Exists(root)
                ? $"images folder not found: {root} is a file"
                : $"images folder not found: {root}");
        Root = Path.GetFullPath(root);
        var rels = new List<string>();
        var visited = new Dictionary<string, string>(StringComparer.Ordinal) { [RealPath(Root)] = "" };
        var chain = new List<string> { RealPath(Root) };
        if (!TryList(Root, "", files: true, out var top, out var why))
            throw new ImageSourceException($"images folder {Root} cannot be listed ({why})");
        Collect(Root, "", recursive, rels, visited, chain, top!);
        rels.Sort(StringComparer.Ordinal);
        _problems.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        // Location = Path.Combine(Root, rel), made on demand from one prefix (the compact image list, docs/scale.md)
        var table = new ImageTable.Builder(Path.EndsInDirectorySeparator(Root) ? Root : Root + Path.DirectorySeparatorChar);
        foreach (var rel in rels) table.Add(rel);
        var entries = table.Build();
        string what = $"folder {Root}";
        if (entries.Count == 0)
            throw new ImageSourceException(
                $"no images in {what}{(recursive ? " or its subfolders" : "")} (looked for {string.Join(", ", ImageSources.ImageExtensions)})" +
                (_problems.Count > 0 ? $"; {_problems.Count} folder(s) could not be listed, e.g. {_problems[0].Location}: {_problems[0].Reason}" : ""));
        SetEntries(entries, what, what);
    }

    public string Root { get; }

    /// <summary>Subfolders that could not be listed and link loops, in path order.</summary>
    public override IReadOnlyList<SourceProblem> Problems => _problems;

    void Collect(string dir, string rel, bool recursive, List<string> into, Dictionary<string, string> visited, List<string> chain, List<string> files)
    {
        foreach (var f in files)
        {
            string name = Path.GetFileName(f);
            if (name.StartsWith('.') || !ImageSources.ImageExtensions.Contains(Path.GetExtension(name))) continue;
            into.Add(rel.Length == 0 ? name : rel + "/" + name);
        }
        if (!recursive) return;
        if (!TryList(dir, rel, files: false, out var dirs, out var why))
        {
            _problems.Add(new SourceProblem(rel, dir, $"cannot list the folder ({why})"));
            return;
        }
        // Real folders before links, then by name: a folder reached both ways is listed under its real path.
        foreach (var d in dirs!.OrderBy(d => new DirectoryInfo(d).LinkTarget is not null).ThenBy(d => d, StringComparer.Ordinal))
        {
            string name = Path.GetFileName(d);
            if (name.StartsWith('.')) continue;
            string childRel = rel.Length == 0 ? name : rel + "/" + name;
            string real = RealPath(d);
            if (chain.Contains(real))
            {
                string target = visited.TryGetValue(real, out var r) ? (r.Length == 0 ? "the images folder itself" : $"'{r}'") : real;
                _problems.Add(new SourceProblem(childRel, d, $"symbolic link loop: it leads back to {target}, which encloses it; not followed"));
                continue;
            }
            if (!visited.TryAdd(real, childRel)) continue; // the same folder reached again through a link: its files are taken once
            if (!TryList(d, childRel, files: true, out var childFiles, out var whyChild))
            {
                _problems.Add(new SourceProblem(childRel, d, $"cannot list the folder ({whyChild})"));
                continue;
            }
            chain.Add(real);
            Collect(d, childRel, true, into, visited, chain, childFiles!);
            chain.RemoveAt(chain.Count - 1);
        }
    }

    /// <summary>Files (or subfolders) of <paramref name="dir"/>; false with the reason when the folder cannot be listed.</summary>
    static bool TryList(string dir, string rel, bool files, out List<string>? items, out string? why)
    {
        var opts = new EnumerationOptions { IgnoreInaccessible = false, RecurseSubdirectories = false, AttributesToSkip = 0 };
        try
        {
            items = (files ? Directory.EnumerateFiles(dir, "*", opts) : Directory.EnumerateDirectories(dir, "*", opts)).ToList();
            why = null;
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            items = null;
            why = e is UnauthorizedAccessException ? "permission denied" : e.Message;
            return false;
        }
    }

    /// <summary>The folder's canonical path (links resolved), to recognise a folder reached twice.</summary>
    static string RealPath(string dir)
    {
        if (!OperatingSystem.IsWindows())
        {
            IntPtr p = realpath(dir, IntPtr.Zero);
            if (p != IntPtr.Zero)
            {
                try { return Marshal.PtrToStringUTF8(p)!; }
                finally { free(p); }
            }
        }
        var info = new DirectoryInfo(dir);
        return (info.LinkTarget is not null ? info.ResolveLinkTarget(true)?.FullName : null) ?? info.FullName;
    }

    [DllImport("libc", SetLastError = true)]
    static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc")]
    static extern void free(IntPtr p);
}
