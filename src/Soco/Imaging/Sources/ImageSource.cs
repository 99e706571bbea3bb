
namespace Soco.Imaging;

/// <summary>
/// One image of an <see cref="IImageSource"/>.
/// </summary>
/// <param name="Index">Position in <see cref="IImageSource.Entries"/>.</param>
/// <param name="Key">SoCo's key: the file name up to its first '.' (<c>basename.split('.')[0]</c>); proposal JSON keys
/// match it. Unique within a source.</param>
/// <param name="RelativePath">Path inside the source with '/' separators: relative to the folder, the zip entry as
/// written in the map file, or the list-file line.</param>
/// <param name="Location">Where it is, for messages: a full file path, or <c>train.zip@/n01/x.JPEG</c> (SoCo's
/// notation) for a zip entry.</param>
/// <param name="ClassIndex">The class index from the map file; -1 where the source has none.</param>
public sealed record ImageEntry(int Index, string Key, string RelativePath, string Location, int ClassIndex = -1)
{
    // A zip entry's Location is made when asked for (messages, failure records) from a prefix all entries share: kept
    // as a string per entry it was a third of an open 1.28 M-image zip's memory (docs/scale.md).
    readonly string? _location = Location;
    readonly string? _prefix, _name;

    /// <summary>An entry whose <see cref="Location"/> is <paramref name="prefix"/> + <paramref name="name"/>, made on demand.</summary>
    internal ImageEntry(int index, string key, string relativePath, string prefix, string name, int cls)
        : this(index, key, relativePath, null!, cls)
    {
        _prefix = prefix;
        _name = ReferenceEquals(name, relativePath) || name == relativePath ? null : name;
    }

    public string Location
    {
        get => _location ?? string.Concat(_prefix, _name ?? RelativePath);
        init => _location = value;
    }

    /// <summary>The <see cref="ImageTable"/> that made this entry (null for one made directly): a source checks that an
    /// entry is its own by this, as a table makes a new entry object on every access.</summary>
    internal ImageTable? Owner { get; init; }
}

/// <summary>A fixed, ordered set of images whose encoded bytes can be read from any thread.</summary>
public interface IImageSource : IDisposable
{
    /// <summary>Short description for logs, e.g. "folder /data/imgs (1,234 images)".</summary>
    string Description { get; }

    /// <summary>
    /// The images, in a deterministic order: sorted (ordinal, by relative path) for a folder, file order for a map
    /// or list file (SoCo indexes its dataset in map-file order), sorted entry names for a zip without map.
    /// </summary>
    IReadOnlyList<ImageEntry> Entries { get; }

    /// <summary>
    /// The encoded bytes of <paramref name="entry"/>. Thread-safe. A file that has gone missing or cannot be read
    /// gives an <see cref="ImageDecodeException"/> (a per-image failure, like a corrupt image).
    /// </summary>
    byte[] ReadBytes(ImageEntry entry);

    /// <summary>
    /// Parts of the source that hold no entry because they could not be read as a whole: a subfolder that cannot be
    /// listed, a symbolic-link loop. Never dropped silently: generation records each like an unreadable image.
    /// </summary>
    IReadOnlyList<SourceProblem> Problems => [];
}

/// <summary>A part of an image source that yields no image (see <see cref="IImageSource.Problems"/>).</summary>
/// <param name="RelativePath">Folder path inside the source ('/' separators).</param>
/// <param name="Location">Full path, for messages.</param>
/// <param name="Reason">What went wrong.</param>
public sealed record SourceProblem(string RelativePath, string Location, string Reason)
{
    /// <summary>The key it is recorded under in a proposal store: the path with a trailing '/', which no image key
    /// (a file name up to its first '.') can equal.</summary>
    public string Key => RelativePath + "/";
}

/// <summary>A source that cannot be opened: missing folder or file, no images, bad map line, duplicate keys.</summary>
public sealed class ImageSourceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Picking and using image sources.</summary>
public static class ImageSources
{
    /// <summary>File extensions (lower case) taken as images by folder and zip sources.</summary>
    public static readonly IReadOnlySet<string> ImageExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp" };

    /// <summary>
    /// Opens the source that <paramref name="spec"/> names:
    /// a directory → <see cref="FolderImageSource"/> (recursive);
    /// <c>x.zip</c> → <see cref="ZipImageSource"/> with the map file <c>x_map.txt</c> beside it (SoCo's
    /// <c>train.zip</c> + <c>train_map.txt</c>) or, without one, every image entry of the zip;
    /// <c>x.zip:map.txt</c> → that zip with that map (relative to the zip's folder);
    /// a <c>.txt</c> / <c>.lst</c> file → <see cref="ListFileImageSource"/>.
    /// </summary>
    public static IImageSource Open(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        if (Directory.Exists(spec)) return new FolderImageSource(spec);

        int zipColon = spec.IndexOf(".zip:", StringComparison.OrdinalIgnoreCase);
        if (zipColon >= 0)
        {
            string zip = spec[..(zipColon + 4)];
            string map = spec[(zipColon + 5)..];
            if (!Path.IsPathRooted(map)) map = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(zip))!, map);
            return new ZipImageSource(zip, map);
        }
        string ext = Path.GetExtension(spec).ToLowerInvariant();
        if (ext == ".zip")
        {
            string beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(spec))!,
                Path.GetFileNameWithoutExtension(spec) + "_map.txt");
            return new ZipImageSource(spec, File.Exists(beside) ? beside : null);
        }
        if (ext is ".txt" or ".lst") return new ListFileImageSource(spec);
        if (File.Exists(spec))
            throw new ImageSourceException(
                $"cannot tell what kind of image source {spec} is: give a folder, a .zip (with its _map.txt), or a .txt/.lst list of image paths");
        throw new ImageSourceException($"images folder not found: {spec}");
    }

    /// <summary>Reads and decodes one entry (PIL <c>convert('RGB')</c> parity, see <see cref="ImageDecoder"/>).</summary>
    public static RgbImage Decode(this IImageSource source, ImageEntry entry, DecodeOptions? options = null) =>
        ImageDecoder.Decode(source.ReadBytes(entry), entry.Location, options);

    /// <summary>SoCo's key of a path: the file name up to its first '.'.</summary>
    public static string KeyOf(string path)
    {
        string name = path.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        int dot = name.IndexOf('.');
        return dot >= 0 ? name[..dot] : name;
    }

    /// <summary>Throws when two entries share a key (listing the first few) or when there are none.</summary>
    internal static void Validate(IReadOnlyList<ImageEntry> entries, string what)
    {
        if (entries.Count == 0) throw new ImageSourceException($"no images in {what}");
        var dups = new List<(ImageEntry A, ImageEntry B)>();
        int emptyKeys = 0;
        if (entries is ImageTable table)
        {
            // on the table's own key index: no entry or key string per image (a 1.28 M-image source stays compact)
            for (int i = 0; i < table.Count; i++)
            {
                int f = table.FirstWithKeyOf(i, out bool empty);
                if (empty) emptyKeys++;
                if (f != i) dups.Add((table[f], table[i]));
            }
        }
        else
        {
            var first = new Dictionary<string, ImageEntry>(StringComparer.Ordinal);
            foreach (var e in entries)
            {
                if (e.Key.Length == 0) emptyKeys++;
                if (!first.TryAdd(e.Key, e)) dups.Add((first[e.Key], e));
            }
        }
        if (emptyKeys > 0)
        {
            var ex = entries.First(e => e.Key.Length == 0);
            throw new ImageSourceException(
                $"{emptyKeys} image(s) in {what} have an empty key (the file name starts with '.'), e.g. {ex.Location}");
        }
        if (dups.Count > 0)
        {
            var shown = dups.Take(5).Select(d => $"'{d.B.Key}' ({d.A.RelativePath}, {d.B.RelativePath})");
            throw new ImageSourceException(
                $"{dups.Count} duplicate image key(s) in {what}: {string.Join("; ", shown)}{(dups.Count > 5 ? "; …" : "")}. " +
                "Keys (the file name up to its first '.') must be unique: proposals are looked up by key.");
        }
    }

    internal static void CheckOwner(IImageSource source, ImageEntry entry)
    {
        var list = source.Entries;
        if ((uint)entry.Index >= (uint)list.Count || !(list is ImageTable t ? t.Owns(entry) : ReferenceEquals(list[entry.Index], entry)))
            throw new ArgumentException($"entry {entry.Location} does not belong to {source.Description}", nameof(entry));
    }

    internal static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ImageDecodeException(path, "file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, $"cannot read the file ({e.Message})", e);
        }
    }
}
