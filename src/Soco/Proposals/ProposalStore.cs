using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Soco.IO;

namespace Soco.Proposals;

/// <summary>One image's entry in a proposal store: its proposals, or the reason it failed.</summary>
/// <param name="Key">SoCo's image key (file basename up to the first '.'), the key of the official JSON files.</param>
/// <param name="Location">Where the image was read from (path, or zip entry), for messages.</param>
/// <param name="Width">Image width in pixels (0 when unknown, e.g. imported from a JSON file).</param>
/// <param name="Height">Image height in pixels (0 when unknown).</param>
/// <param name="Rects">Proposals in the generator's order; empty for a failure.</param>
/// <param name="FailureReason">Null for a success; otherwise a short user-facing reason.</param>
public sealed record ProposalRecord(string Key, string Location, int Width, int Height, ProposalRect[] Rects, string? FailureReason = null)
{
    public bool IsFailure => FailureReason is not null;

    public static ProposalRecord Failure(string key, string location, string reason) => new(key, location, 0, 0, [], reason);
}

/// <summary>What a store holds and how it was made (store.json). Two runs may only add to one store when these agree.</summary>
public sealed record ProposalStoreInfo
{
    public string Format { get; init; } = ProposalStore.FormatName;
    public int Version { get; init; } = 1;
    /// <summary>"soco", "fast", "quality", "imported", or "filtered".</summary>
    public string Generator { get; init; } = "";
    /// <summary>The generator's parameters (and for a filtered store the filter strategy), as strings.</summary>
    public SortedDictionary<string, string> Parameters { get; init; } = new(StringComparer.Ordinal);
    /// <summary>"soco" (w = max−min) or "opencv" (w = pixel extent): how w and h of the rects are meant.</summary>
    public string RectConvention { get; init; } = "soco";
    public string? CreatedBy { get; init; }

    /// <summary>Whether results made with <paramref name="other"/> may go into a store made with these settings.</summary>
    public bool IsCompatibleWith(ProposalStoreInfo other) =>
        Generator == other.Generator && RectConvention == other.RectConvention &&
        Parameters.Count == other.Parameters.Count && Parameters.All(kv => other.Parameters.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public string Describe() => Generator + (Parameters.Count == 0 ? "" : " (" + string.Join(", ", Parameters.Select(kv => $"{kv.Key}={kv.Value}")) + ")");
}

/// <summary>
/// A compact, sharded proposal store: a folder with <c>store.json</c> and immutable part files
/// (<c>parts/part-*.bin</c>), each holding a batch of image records, deflate-compressed, written atomically
/// (temporary file, fsync, rename). A killed run leaves only whole parts; a re-run skips the keys they hold.
/// Parts from several machines (<c>--shard i/n</c>) can be copied into one folder: names never collide.
/// Only (W, H) and the rects are stored, never a per-pixel label map (docs/soco-reference.md §1.2).
/// </summary>
public sealed class ProposalStore
{
    public const string FormatName = "soco-proposals";
    const string InfoFile = "store.json";
    const string PartsDir = "parts";
    static readonly byte[] Magic = "SOCOPRP1"u8.ToArray();
    const byte TagOk = 0, TagFailed = 1, TagEnd = 0xFF;

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    ProposalStore(string directory, ProposalStoreInfo info)
    {
        Directory = directory;
        Info = info;
    }

    public string Directory { get; }
    public ProposalStoreInfo Info { get; }
    string PartsPath => Path.Combine(Directory, PartsDir);

    /// <summary>True when <paramref name="directory"/> holds a proposal store.</summary>
    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, InfoFile));

    /// <summary>Opens an existing store; clear errors for a missing or foreign folder.</summary>
    public static ProposalStore Open(string directory)
    {
        string infoPath = Path.Combine(directory, InfoFile);
        if (!System.IO.Directory.Exists(directory))
            throw new ProposalStoreException($"proposal store not found: {directory} (no such folder)");
        if (!File.Exists(infoPath))
            throw new ProposalStoreException($"{directory} is not a proposal store (it has no {InfoFile}); make one with `soco proposals generate` or `soco proposals import`");
        ProposalStoreInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<ProposalStoreInfo>(File.ReadAllText(infoPath), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ProposalStoreException($"{infoPath}: malformed store description ({e.Message})");
        }
        if (info is null || info.Format != FormatName)
            throw new ProposalStoreException($"{infoPath}: not a {FormatName} store description");
        if (info.Version != 1)
            throw new ProposalStoreException($"{infoPath}: store format version {info.Version} is not supported (this build reads version 1)");
        return new ProposalStore(directory, info);
    }

    /// <summary>
    /// Opens the store at <paramref name="directory"/>, creating it with <paramref name="info"/> if absent. An existing
    /// store made with other settings is refused (mixing two generators in one store would corrupt it silently).
    /// </summary>
    public static ProposalStore OpenOrCreate(string directory, ProposalStoreInfo info)
    {
        if (Exists(directory))
        {
            var existing = Open(directory);
            if (!existing.Info.IsCompatibleWith(info))
                throw new ProposalStoreException(
                    $"{directory} holds proposals made with {existing.Info.Describe()}, not {info.Describe()}; use another --out folder or the same settings");
            existing.RemoveStaleTemporaries();
            return existing;
        }
        System.IO.Directory.CreateDirectory(Path.Combine(directory, PartsDir));
        AtomicFile.WriteAllText(Path.Combine(directory, InfoFile), JsonSerializer.Serialize(info, JsonOptions));
        return new ProposalStore(directory, info);
    }

    /// <summary>Temporary files of a killed writer: never read, removed when a writer opens the store again.</summary>
    void RemoveStaleTemporaries()
    {
        if (!System.IO.Directory.Exists(PartsPath)) return;
        foreach (var f in System.IO.Directory.EnumerateFiles(PartsPath))
            if (AtomicFile.IsTemp(f))
                try { File.Delete(f); } catch (IOException) { }
    }

    /// <summary>Part files in name order (the order records are read in).</summary>
    public string[] PartFiles()
    {
        if (!System.IO.Directory.Exists(PartsPath)) return [];
        var parts = System.IO.Directory.GetFiles(PartsPath, "part-*.bin");
        Array.Sort(parts, StringComparer.Ordinal);
        return parts;
    }

    /// <summary>
    /// Streams every record once, part by part. When a key occurs in several parts (two overlapping runs merged by
    /// hand), the first one read wins and later ones are skipped.
    /// </summary>
    public IEnumerable<ProposalRecord> ReadAll() => ReadAll(withRects: true);

    /// <summary><see cref="ReadAll()"/>; without <paramref name="withRects"/>, records carry no boxes (read and skipped).</summary>
    IEnumerable<ProposalRecord> ReadAll(bool withRects)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in PartFiles())
            foreach (var r in ReadPart(part, withRects))
                if (seen.Add(r.Key))
                    yield return r;
    }

    /// <summary>
    /// The images whose record (the one <see cref="ReadAll"/> keeps: the first read) is a failure. Streams the parts
    /// without their boxes and holds only the failed keys (the end of every `proposals generate`: reading the whole
    /// store through <see cref="ReadAll"/> held a key set of the whole store, +8 MB of peak RSS at 100k images).
    /// </summary>
    public int CountFailures()
    {
        var failed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in PartFiles())
            foreach (var r in StreamPart(part, withRects: false))
                if (r.IsFailure) failed.Add(r.Key);
        if (failed.Count == 0) return 0;
        // A failed key read earlier as a success (parts of two runs merged by hand) is not a failure: the first wins.
        var decided = new HashSet<string>(StringComparer.Ordinal);
        int n = 0;
        foreach (var part in PartFiles())
            foreach (var r in StreamPart(part, withRects: false))
                if (failed.Contains(r.Key) && decided.Add(r.Key) && r.IsFailure) n++;
        return n;
    }

    /// <summary>
    /// Keys present in the store (successes, and failures too when <paramref name="includeFailures"/>), as
    /// <see cref="ReadAll()"/> keeps them (the first record of a key decides); the boxes are skipped, not decoded.
    /// </summary>
    public HashSet<string> ReadKeys(bool includeFailures = true)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in ReadAll(withRects: false))
            if (includeFailures || !r.IsFailure)
                keys.Add(r.Key);
        return keys;
    }

    /// <summary>Loads the successful records into memory, keyed by image key.</summary>
    public Dictionary<string, ProposalRecord> LoadIndex()
    {
        var index = new Dictionary<string, ProposalRecord>(StringComparer.Ordinal);
        foreach (var r in ReadAll())
            if (!r.IsFailure)
                index[r.Key] = r;
        return index;
    }

    /// <summary>The successful records in the compact form training holds for a whole run (<see cref="ProposalIndex"/>);
    /// with <paramref name="keys"/> (the image source's), held under the source's own key strings.</summary>
    public ProposalIndex LoadCompactIndex(IEnumerable<string>? keys = null) => new(ReadAll(), keys);

    /// <summary>The compact index for the images of a source: looked up through the source's <see cref="ImageTable"/>
    /// when its list is one (no key string per image), else under the entries' key strings.</summary>
    public ProposalIndex LoadCompactIndex(IReadOnlyList<Soco.Imaging.ImageEntry> images) =>
        images is Soco.Imaging.ImageTable table ? new(ReadAll(), table) : new(ReadAll(), images.Select(e => e.Key));

    /// <summary>Opens a writer whose part names start with <paramref name="partPrefix"/> (made unique per run).</summary>
    public ProposalStoreWriter OpenWriter(string partPrefix = "") => new(this, partPrefix);

    /// <summary>Writes a part encoded into <paramref name="encoded"/> (<see cref="PartEncoder"/>) atomically.</summary>
    internal void WritePart(string name, MemoryStream encoded)
    {
        System.IO.Directory.CreateDirectory(PartsPath);
        AtomicFile.Write(Path.Combine(PartsPath, name), s => s.Write(encoded.GetBuffer(), 0, (int)encoded.Length));
    }

    internal static void WritePartTo(Stream stream, IReadOnlyList<ProposalRecord> records)
    {
        using var part = new PartEncoder(stream);
        foreach (var r in records) part.Add(r);
        part.Finish();
    }

    /// <summary>
    /// One part's encoding, a record at a time: the magic number, then deflate(records, end tag, record count). A
    /// writer that encodes each record as it comes holds bytes, not the records (see <see cref="ProposalStoreWriter"/>).
    /// </summary>
    internal sealed class PartEncoder : IDisposable
    {
        readonly DeflateStream _z;
        readonly BinaryWriter _w;

        public PartEncoder(Stream stream)
        {
            stream.Write(Magic);
            _z = new DeflateStream(stream, CompressionLevel.Fastest, leaveOpen: true);
            _w = new BinaryWriter(_z, Encoding.UTF8, leaveOpen: true);
        }

        public int Count { get; private set; }

        public void Add(ProposalRecord r)
        {
            var w = _w;
            w.Write(r.IsFailure ? TagFailed : TagOk);
            w.Write(r.Key);
            w.Write(r.Location);
            w.Write7BitEncodedInt(r.Width);
            w.Write7BitEncodedInt(r.Height);
            Count++;
            if (r.IsFailure)
            {
                w.Write(r.FailureReason!);
                return;
            }
            w.Write7BitEncodedInt(r.Rects.Length);
            foreach (var b in r.Rects)
            {
                WriteSigned(w, b.X);
                WriteSigned(w, b.Y);
                WriteSigned(w, b.W);
                WriteSigned(w, b.H);
            }
        }

        /// <summary>Writes the end tag and the count and completes the compressed stream.</summary>
        public void Finish()
        {
            _w.Write(TagEnd);
            _w.Write(Count);
            Dispose();
        }

        bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _w.Dispose();
            _z.Dispose();
        }
    }

    /// <summary>Reads one part file; a damaged part is an error naming the file, never silently half-read.</summary>
    public static IEnumerable<ProposalRecord> ReadPart(string path) => ReadPart(path, withRects: true);

    static IEnumerable<ProposalRecord> ReadPart(string path, bool withRects)
    {
        List<ProposalRecord> records;
        try
        {
            records = DecodePart(path, withRects).ToList();
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or IOException)
        {
            throw new ProposalStoreException($"{path}: damaged proposal part ({e.Message}); delete it and re-run `soco proposals generate` to redo its images");
        }
        return records;
    }


    /// <summary>
    /// Streams one part file's records without holding the part (a merge over many parts, <see cref="ProposalJson.Export"/>).
    /// A damaged part throws, naming the file, when the damage is reached; records before it have been yielded.
    /// </summary>
    internal static IEnumerable<ProposalRecord> StreamPart(string path) => StreamPart(path, withRects: true);

    /// <summary><see cref="StreamPart(string)"/>; without <paramref name="withRects"/>, records carry no boxes (read and skipped).</summary>
    internal static IEnumerable<ProposalRecord> StreamPart(string path, bool withRects)
    {
        using var e = DecodePart(path, withRects).GetEnumerator();
        while (true)
        {
            try
            {
                if (!e.MoveNext()) yield break;
            }
            catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or FormatException or IOException)
            {
                throw new ProposalStoreException($"{path}: damaged proposal part ({ex.Message}); delete it and re-run `soco proposals generate` to redo its images");
            }
            yield return e.Current;
        }
    }

    static IEnumerable<ProposalRecord> DecodePart(string path, bool withRects = true)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var magic = new byte[8];
        fs.ReadExactly(magic);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("wrong magic number");
        using var z = new DeflateStream(fs, CompressionMode.Decompress);
        using var r = new BinaryReader(z, Encoding.UTF8);
        int read = 0;
        while (true)
        {
            byte tag = r.ReadByte();
            if (tag == TagEnd)
            {
                int count = r.ReadInt32();
                if (count != read) throw new InvalidDataException($"trailer says {count} records, found {read}");
                yield break;
            }
            if (tag != TagOk && tag != TagFailed) throw new InvalidDataException($"unknown record tag {tag}");
            string key = r.ReadString(), location = r.ReadString();
            int width = r.Read7BitEncodedInt(), height = r.Read7BitEncodedInt();
            read++;
            if (tag == TagFailed)
            {
                yield return new ProposalRecord(key, location, width, height, [], r.ReadString());
                continue;
            }
            int n = r.Read7BitEncodedInt();
            if (!withRects)
            {
                for (int i = 0; i < 4 * n; i++) ReadSigned(r);
                yield return new ProposalRecord(key, location, width, height, []);
                continue;
            }
            var rects = new ProposalRect[n];
            for (int i = 0; i < n; i++)
                rects[i] = new ProposalRect(ReadSigned(r), ReadSigned(r), ReadSigned(r), ReadSigned(r));
            yield return new ProposalRecord(key, location, width, height, rects);
        }
    }

    static void WriteSigned(BinaryWriter w, int v) => w.Write7BitEncodedInt((v << 1) ^ (v >> 31));

    static int ReadSigned(BinaryReader r)
    {
        uint u = (uint)r.Read7BitEncodedInt();
        return (int)(u >> 1) ^ -(int)(u & 1);
    }
}

/// <summary>
/// Encodes records as they come and writes them as whole parts. Not thread-safe: one writer thread owns it. Dispose
/// flushes what is buffered. A record is compressed into the pending part when it is added, so the writer holds a part's
/// bytes (~50 KB for 64 ImageNet-sized images), not its records: held until the flush, the records outlived the GC's
/// young generations and piled up in gen 2 between full collections, by ~1 MB per 1,000 images (docs/scale.md, "Peak
/// memory of selective search").
/// </summary>
public sealed class ProposalStoreWriter : IDisposable
{
    readonly ProposalStore _store;
    readonly string _prefix;
    readonly MemoryStream _pending = new();
    ProposalStore.PartEncoder? _part;
    int _sequence;

    internal ProposalStoreWriter(ProposalStore store, string partPrefix)
    {
        _store = store;
        // A run id keeps part names unique across runs and machines; names sort by prefix, then time.
        string run = $"{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
        _prefix = (string.IsNullOrEmpty(partPrefix) ? "" : partPrefix + "-") + run;
    }

    public int Buffered => _part?.Count ?? 0;
    public int PartsWritten => _sequence;

    public void Add(ProposalRecord record) => (_part ??= new ProposalStore.PartEncoder(_pending)).Add(record);

    /// <summary>Writes the buffered records as one part (atomically). No-op when empty.</summary>
    public void Flush()
    {
        if (_part is null) return;
        try
        {
            _part.Finish();
            _part = null;
            _store.WritePart($"part-{_prefix}-{_sequence:D6}.bin", _pending);
        }
        catch
        {
            _failed = true;
            throw;
        }
        _sequence++;
        _pending.SetLength(0);
    }

    bool _failed;

    /// <summary>Writes what is buffered, unless a write already failed (a full disk): then the error that stopped the
    /// run stands, and a rerun redoes those images.</summary>
    public void Dispose()
    {
        if (!_failed) Flush();
        _part?.Dispose();
    }
}

public sealed class ProposalStoreException(string message) : Exception(message);
