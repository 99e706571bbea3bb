namespace Soco.Imaging;

/// <summary>
/// A text file listing image paths, one per line, relative to the list file's folder (or absolute); lines starting
/// with '#' and blank lines are ignored. Entries keep the file's order. Every listed file must exist.
/// </summary>
public sealed class ListFileImageSource : FileImageSource
{
    public ListFileImageSource(string listFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(listFile);
        if (!File.Exists(listFile))
            throw new ImageSourceException(Directory.Exists(listFile)
                ? $"image list file not found: {listFile} is a folder"
                : $"image list file not found: {listFile}");
        ListFile = Path.GetFullPath(listFile);
        string dir = Path.GetDirectoryName(ListFile)!;
        var entries = new ImageTable.Builder(""); // each entry's location is its full path (the compact image list, docs/scale.md)
        var missing = new List<string>();
        int lineNo = 0, missingCount = 0;
        foreach (var raw in File.ReadLines(ListFile))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string rel = line.Replace('\\', '/');
            string full = Path.GetFullPath(Path.IsPathRooted(rel) ? rel : Path.Combine(dir, rel));
            if (!File.Exists(full))
            {
                if (missing.Count < 5) missing.Add($"line {lineNo}: {full}");
                missingCount++;
                continue;
            }
            entries.Add(rel, -1, full);
        }
        string what = $"list file {ListFile}";
        if (missingCount > 0)
            throw new ImageSourceException(
                $"{missingCount} image(s) listed in {ListFile} not found: {string.Join("; ", missing)}{(missingCount > 5 ? "; …" : "")}");
        if (entries.Count == 0) throw new ImageSourceException($"no images in {what} (it lists no paths)");
        SetEntries(entries.Build(), what, what);
    }

    public string ListFile { get; }}
