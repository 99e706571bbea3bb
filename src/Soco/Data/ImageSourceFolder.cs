namespace Soco.Data;

/// <summary>
/// The image files of a folder (and its subfolders when <c>recursive</c>), sorted ordinal by relative path.
/// Hidden files and folders (name starting with '.', e.g. macOS "._x.jpg") are skipped.
/// </summary>
public sealed class FolderImageSource : FileImageSource
{
    public FolderImageSource(string root, bool recursive = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        if (!Directory.Exists(root))
            throw new ImageSourceException(File.Exists(root)
                ? $"images folder not found: {root} is a file"
                : $"images folder not found: {root}");
        Root = Path.GetFullPath(root);
        var rels = new List<string>();
        Collect(Root, "", recursive, rels);
        rels.Sort(StringComparer.Ordinal);
        var entries = new ImageEntry[rels.Count];
        for (int i = 0; i < rels.Count; i++)
            entries[i] = new ImageEntry(i, ImageSources.KeyOf(rels[i]), rels[i], Path.Combine(Root, rels[i]));
        string what = $"folder {Root}";
        if (entries.Length == 0)
            throw new ImageSourceException(
                $"no images in {what}{(recursive ? " or its subfolders" : "")} (looked for {string.Join(", ", ImageSources.ImageExtensions)})");
        SetEntries(entries, what, what);
    }

    public string Root { get; }
    private static void Collect(string dir, string rel, bool recursive, List<string> into)
    {
        var opts = new EnumerationOptions { IgnoreInaccessible = true, RecurseSubdirectories = false, AttributesToSkip = 0 };
        foreach (var f in Directory.EnumerateFiles(dir, "*", opts))
        {
            string name = Path.GetFileName(f);
            if (name.StartsWith('.') || !ImageSources.ImageExtensions.Contains(Path.GetExtension(name))) continue;
            into.Add(rel.Length == 0 ? name : rel + "/" + name);
        }
        if (!recursive) return;
        foreach (var d in Directory.EnumerateDirectories(dir, "*", opts))
        {
            string name = Path.GetFileName(d);
            if (name.StartsWith('.')) continue;
            Collect(d, rel.Length == 0 ? name : rel + "/" + name, true, into);
        }
    }
}
