using System.IO.Compression;
using System.IO.Enumeration;
using System.Text.Json.Serialization;
using System.Text.Json;
using System.Text;
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
    internal static ReadOnlySpan<byte> MagicBytes => "SOCOPRP1"u8;
    internal const byte TagOk = 0, TagFailed = 1, TagEnd = 0xFF;

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
    /// <see cref="PartFiles"/> held compactly for a pass over the whole store: the file names' UTF-8 bytes in 64 KB
    /// chunks, each path made when asked for. A 10M-image store has 156,000 parts of 64 images, whose path strings alone
    /// took ~30 MB (docs/scale.md, "Filter and export at scale").
    /// </summary>
    internal PartList Parts() => new(PartsPath);

    /// <summary>The part files of a store in name order (ordinal, as <see cref="PartFiles"/>), a path made per access.</summary>
    internal sealed class PartList
    {
        static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
        readonly string _directory;
        readonly ByteStrings _names = new(1 << 16); // the file names as UTF-8, in directory order
        readonly int[] _order = [];                 // name order: the parts' indexes in _names

        public PartList(string directory)
        {
            // Full once: a relative path would be made full again by every open.
            _directory = Path.GetFullPath(directory);
            if (!System.IO.Directory.Exists(directory)) return;
            // Each name goes from its directory entry into the chunks: no path string per part.
            // The options of Directory.GetFiles (PartFiles): no attribute skipped, an unreadable folder an error.
            var options = new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };
            var names = new FileSystemEnumerable<bool>(directory, (ref FileSystemEntry e) =>
            {
                Utf8.GetBytes(e.FileName, _names.Add(Utf8.GetByteCount(e.FileName)));
                return true;
            }, options)
            {
                // What Directory.GetFiles(dir, "part-*.bin") in PartFiles matches (case as the platform's default).
                ShouldIncludePredicate = static (ref FileSystemEntry e) => !e.IsDirectory &&
                    FileSystemName.MatchesWin32Expression("part-*.bin", e.FileName, ignoreCase: OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()),
            };
            foreach (var _ in names) { }
            _order = [.. Enumerable.Range(0, _names.Count)];
            // UTF-8 compared in the order string.CompareOrdinal gives, as PartFiles sorts.
            Array.Sort(_order, (x, y) => Utf8Ordinal.Compare(_names[x], _names[y]));
        }

        public int Count => _order.Length;

        /// <summary>The path of the <paramref name="index"/>-th part in name order (one string: no name string first).</summary>
        public string this[int index]
        {
            get
            {
                var name = _names[_order[index]];
                bool slash = !Path.EndsInDirectorySeparator(_directory);
                return string.Create(_directory.Length + (slash ? 1 : 0) + Utf8.GetCharCount(name), (this, index, slash), static (chars, s) =>
                {
                    var (list, i, slash) = s;
                    list._directory.CopyTo(chars);
                    if (slash) chars[list._directory.Length] = Path.DirectorySeparatorChar;
                    Utf8.GetChars(list._names[list._order[i]], chars[(list._directory.Length + (slash ? 1 : 0))..]);
                });
            }
        }
    }

    /// <summary>
    /// Streams every image's record once, part by part. When a key has several records (two runs merged by hand, or a
    /// `--retry-failed` run that redid an image that had failed), the first success is the image's record (later ones
    /// are skipped); a key with no success keeps its first failure.
    /// </summary>
    public IEnumerable<ProposalRecord> ReadAll()
    {
        foreach (var r in StreamDistinct())
            yield return r.ToRecord();
    }

    /// <summary>
    /// The records <see cref="ReadAll()"/> keeps, in part order, through one reader whose buffers are reused: the
    /// record is valid until the next one. Which records lose to another of their key is found first by sorting the keys
    /// in bounded memory (<see cref="Losers"/>, spilling to the temporary folder), so the pass holds the positions of
    /// duplicates only (none in the usual store; 16–24 B each), not a set of every key (docs/scale.md, "Filter and
    /// export at scale").
    /// </summary>
    internal IEnumerable<ProposalPartReader> StreamDistinct(bool withRects = true)
    {
        var parts = Parts();
        foreach (var r in Stream(parts, withRects, Losers(parts), check: null))
            yield return r;
    }

    /// <summary>
    /// Every record of <paramref name="parts"/> in order through one reused reader, skipping the positions in
    /// <paramref name="skip"/> (part index × 2³² + record index in the part) and telling <paramref name="check"/> of
    /// every record read: a caller that does not know the losers yet can make its pass and learn them at its end.
    /// </summary>
    internal static IEnumerable<ProposalPartReader> Stream(PartList parts, bool withRects, HashSet<long>? skip, DuplicateCheck? check)
    {
        using var reader = new ProposalPartReader { WithRects = withRects };
        for (int p = 0; p < parts.Count; p++)
        {
            reader.Open(parts[p]);
            for (long i = (long)p << 32; reader.Next(); i++)
            {
                check?.Add(reader, i);
                if (skip is null || skip.Count == 0 || !skip.Contains(i))
                    yield return reader;
            }
        }
    }

    /// <summary>Sort block of the duplicate check: ~8,000 ImageNet keys a run (a 10M-image store: ~1,300 runs, merged in
    /// two levels). A 1 MiB block took 2 MB of allocations to grow into and +1.5 MB of peak RSS at 100k images
    /// (docs/scale.md, "Filter and export at scale").</summary>
    internal const long KeySortBytes = 1 << 18;

    /// <summary>
    /// Positions of the records that are not their key's record (<see cref="DuplicateCheck"/> over a keys-only pass).
    /// Empty for a store without duplicate keys, the usual case.
    /// </summary>
    internal static HashSet<long> Losers(PartList parts)
    {
        if (parts.Count == 0) return [];
        using var check = new DuplicateCheck();
        foreach (var _ in Stream(parts, withRects: false, skip: null, check)) { }
        return check.Losers();
    }

    /// <summary>
    /// Which records lose to another of their key: the keys, failure flags and positions of the records read are sorted
    /// (<see cref="ProposalSort"/>, spilling to the temporary folder past <see cref="KeySortBytes"/>, removed on
    /// dispose) and every record after the first of its key (successes first, then in read order) is a loser.
    /// </summary>
    internal sealed class DuplicateCheck : IDisposable
    {
        readonly string _spill = Path.Combine(Path.GetTempPath(), $"soco-keys-{Guid.NewGuid():N}");
        readonly ProposalSort _sort;

        public DuplicateCheck() => _sort = new ProposalSort(_spill, KeySortBytes);

        public void Add(ProposalPartReader record, long position) => _sort.Add(record.Key, record.IsFailure, position, []);

        /// <summary>The losers' positions; call once, after the last <see cref="Add"/>.</summary>
        public HashSet<long> Losers()
        {
            var losers = new HashSet<long>();
            foreach (var r in _sort.Sorted())
                if (!r.FirstOfKey) losers.Add(r.Tag);
            return losers;
        }

        public void Dispose()
        {
            _sort.Dispose();
            if (System.IO.Directory.Exists(_spill)) System.IO.Directory.Delete(_spill, recursive: true);
        }
    }

    /// <summary>
    /// The images whose record (the one <see cref="ReadAll()"/> keeps) is a failure: keys with a failure and no success.
    /// Streams the parts without their boxes and holds only the failed keys (the end of every `proposals generate`:
    /// reading the whole store through <see cref="ReadAll()"/> held a key set of the whole store, +8 MB of peak RSS at
    /// 100k images); a second pass, only when there are failures, drops the keys that also have a success.
    /// </summary>
    public int CountFailures()
    {
        var failed = new HashSet<string>(StringComparer.Ordinal);
        var parts = Parts();
        foreach (var r in Stream(parts, withRects: false, skip: null, check: null))
            if (r.IsFailure) failed.Add(r.KeyString);
        if (failed.Count == 0) return 0;
        // Looked up as characters, not as a new string per record read.
        var lookup = failed.GetAlternateLookup<ReadOnlySpan<char>>();
        var chars = new char[256];
        foreach (var r in Stream(parts, withRects: false, skip: null, check: null))
        {
            if (r.IsFailure) continue;
            var key = r.Key;
            if (chars.Length < key.Length) chars = new char[key.Length];
            lookup.Remove(chars.AsSpan(0, Encoding.UTF8.GetChars(key, chars)));
            if (failed.Count == 0) break;
        }
        return failed.Count;
    }

    /// <summary>
    /// Keys present in the store (successes, and failures too when <paramref name="includeFailures"/>), as
    /// <see cref="ReadAll()"/> keeps them (a key with any success is a success); one pass, the boxes skipped.
    /// </summary>
    public HashSet<string> ReadKeys(bool includeFailures = true)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in Stream(Parts(), withRects: false, skip: null, check: null))
            if (includeFailures || !r.IsFailure)
                keys.Add(r.KeyString);
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
    /// <summary>A new part's temporary file. Buffered: the compressor hands over what it has after every record (~100
    /// bytes), and a write call each cost a 100k-image filter 6 % of its time.</summary>
    internal AtomicFile.Pending CreatePart(string name) => AtomicFile.Create(Path.Combine(PartsPath, name), bufferSize: 1 << 14);

    internal static void WritePartTo(Stream stream, IReadOnlyList<ProposalRecord> records)
    {
        using var part = new PartEncoder(stream);
        foreach (var r in records) part.Add(r);
        part.Finish();
    }

    /// <summary>
    /// One part's encoding, a record at a time: the magic number, then deflate(records, end tag, record count). A
    /// writer that encodes each record as it comes holds bytes, not the records (see <see cref="ProposalStoreWriter"/>).
    /// A record is laid out in a reused buffer (the layout of <c>BinaryWriter</c>: strings as a 7-bit UTF-8 byte count
    /// and the bytes, sizes and zig-zag box numbers as 7-bit integers) and handed to the compressor in one write.
    /// </summary>
    internal sealed class PartEncoder : IDisposable
    {
        static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
        readonly DeflateStream _z;
        byte[] _record;
        int _at;

        /// <param name="buffer">The record buffer to start with (a writer hands the last part's on); grown as needed.</param>
        public PartEncoder(Stream stream, byte[]? buffer = null)
        {
            _record = buffer ?? new byte[4096];
            stream.Write(MagicBytes);
            _z = new DeflateStream(stream, CompressionLevel.Fastest, leaveOpen: true);
        }

        /// <summary>The record buffer, for the next part.</summary>
        public byte[] Buffer => _record;

        public int Count { get; private set; }

        public void Add(ProposalRecord r)
        {
            _at = 0;
            Byte(r.IsFailure ? TagFailed : TagOk);
            String(r.Key);
            String(r.Location);
            Header(r.Width, r.Height);
            if (r.IsFailure) String(r.FailureReason!);
            else Boxes(r.Rects);
            Emit();
        }

        /// <summary>Adds the record <paramref name="source"/> holds, with <paramref name="rects"/> for its boxes (a
        /// failure keeps its reason and has none): the bytes <see cref="Add(ProposalRecord)"/> writes for the same record.</summary>
        public void Add(ProposalPartReader source, ReadOnlySpan<ProposalRect> rects)
        {
            _at = 0;
            Byte(source.IsFailure ? TagFailed : TagOk);
            Bytes(source.Key);
            Bytes(source.Location);
            Header(source.Width, source.Height);
            if (source.IsFailure) Bytes(source.FailureReason);
            else Boxes(rects);
            Emit();
        }

        void Header(int width, int height)
        {
            Varint((uint)width);
            Varint((uint)height);
            Count++;
        }

        void Boxes(ReadOnlySpan<ProposalRect> rects)
        {
            Varint((uint)rects.Length);
            Room(20L * rects.Length); // 4 numbers of at most 5 bytes
            foreach (var b in rects)
            {
                Signed(b.X);
                Signed(b.Y);
                Signed(b.W);
                Signed(b.H);
            }
        }

        void Emit() => _z.Write(_record, 0, _at);

        void Room(long more)
        {
            if (_at + more <= _record.Length) return;
            if (_at + more > Array.MaxLength) throw new InvalidOperationException("a proposal record larger than 2 GB");
            Array.Resize(ref _record, (int)Math.Min(Array.MaxLength, Math.Max(2L * _record.Length, _at + more)));
        }

        void Byte(byte b)
        {
            Room(1);
            _record[_at++] = b;
        }

        void Varint(uint v)
        {
            Room(5);
            Leb128.Write(_record, ref _at, v);
        }

        void Signed(int v) => Varint(Leb128.ZigZag(v));

        void String(string s)
        {
            int n = Utf8.GetByteCount(s);
            Varint((uint)n);
            Room(n);
            _at += Utf8.GetBytes(s, _record.AsSpan(_at));
        }

        void Bytes(ReadOnlySpan<byte> b)
        {
            Varint((uint)b.Length);
            Room(b.Length);
            b.CopyTo(_record.AsSpan(_at));
            _at += b.Length;
        }

        /// <summary>Writes the end tag and the count and completes the compressed stream.</summary>
        public void Finish()
        {
            Span<byte> trailer = stackalloc byte[5];
            trailer[0] = TagEnd;
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(trailer[1..], Count);
            _z.Write(trailer);
            Dispose();
        }

        bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _z.Dispose();
        }
    }

    /// <summary>Reads one part file; a damaged part is an error naming the file, never silently half-read.</summary>
    public static IEnumerable<ProposalRecord> ReadPart(string path)
    {
        var records = new List<ProposalRecord>();
        using var reader = new ProposalPartReader();
        reader.Open(path);
        while (reader.Next()) records.Add(reader.ToRecord());
        return records;
    }
}

/// <summary>
/// Encodes records as they come and writes them as whole parts. Not thread-safe: one writer thread owns it. Dispose
/// flushes what is buffered. A record is compressed into the pending part when it is added, and the compressed bytes go
/// straight to the part's temporary file (renamed into place at <see cref="Flush"/>), so the writer holds neither the
/// records nor the part's bytes: held until the flush, the records outlived the GC's young generations and piled up in
/// gen 2 between full collections, by ~1 MB per 1,000 images (docs/scale.md, "Peak memory of selective search"), and a
/// filter's part of 4,096 images buffered in memory grew to a few MB (docs/scale.md, "Filter and export at scale").
/// </summary>
public sealed class ProposalStoreWriter : IDisposable
{
    readonly ProposalStore _store;
    readonly string _prefix;
    AtomicFile.Pending? _file;
    ProposalStore.PartEncoder? _part;
    byte[] _record = new byte[4096]; // the encoder's record buffer, kept from part to part
    int _sequence;
    bool _failed;

    internal ProposalStoreWriter(ProposalStore store, string partPrefix)
    {
        _store = store;
        // A run id keeps part names unique across runs and machines; names sort by prefix, then time.
        string run = $"{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
        _prefix = (string.IsNullOrEmpty(partPrefix) ? "" : partPrefix + "-") + run;
    }

    public int Buffered => _part?.Count ?? 0;
    public int PartsWritten => _sequence;

    public void Add(ProposalRecord record)
    {
        try
        {
            Part().Add(record);
        }
        catch (IOException e)
        {
            // A write failed: the pending part is broken. (Any other error comes before a record's bytes are handed
            // over, the part stays whole.)
            var reported = Failed(e);
            if (ReferenceEquals(reported, e)) throw;
            throw reported;
        }
    }

    /// <summary>Adds the record <paramref name="source"/> holds with <paramref name="rects"/> as its boxes, straight from
    /// the reader's bytes (no record object).</summary>
    internal void Add(ProposalPartReader source, ReadOnlySpan<ProposalRect> rects)
    {
        try
        {
            Part().Add(source, rects);
        }
        catch (IOException e)
        {
            var reported = Failed(e);
            if (ReferenceEquals(reported, e)) throw;
            throw reported;
        }
    }

    ProposalStore.PartEncoder Part()
    {
        if (_part is not null) return _part;
        ObjectDisposedException.ThrowIf(_failed, this); // a write failed: the run stops with that error
        _file = _store.CreatePart($"part-{_prefix}-{_sequence:D6}.bin");
        return _part = new ProposalStore.PartEncoder(_file.Stream, _record);
    }

    /// <summary>Completes the pending part and renames it into place (atomically). No-op when empty.</summary>
    public void Flush()
    {
        if (_part is null) return;
        try
        {
            _part.Finish();
            _record = _part.Buffer;
            _part = null;
            _file!.Commit();
            _file = null;
        }
        catch (Exception e) // any error here (a full disk, a rename refused) leaves no part
        {
            var reported = Failed(e);
            if (ReferenceEquals(reported, e)) throw;
            throw reported;
        }
        _sequence++;
    }

    /// <summary>The pending part is dropped (its temporary file removed) and the writer writes no more; a rerun redoes
    /// its images. Returns what to report: a full disk said in words naming the part, else <paramref name="e"/>.</summary>
    Exception Failed(Exception e)
    {
        _failed = true;
        string path = _file?.Path ?? _store.Directory;
        Abandon();
        return e is IOException io ? AtomicFile.Explain(path, io) : e;
    }

    void Abandon()
    {
        try
        {
            _part?.Dispose();
        }
        catch (IOException)
        {
            // the compressor's last bytes could not be written either: the part is dropped anyway
        }
        _part = null;
        _file?.Dispose();
        _file = null;
    }

    /// <summary>Writes what is buffered, unless a write already failed (a full disk): then the error that stopped the
    /// run stands, and a rerun redoes those images.</summary>
    public void Dispose()
    {
        if (_failed) Abandon();
        else Flush();
    }
}

public sealed class ProposalStoreException(string message) : Exception(message);
