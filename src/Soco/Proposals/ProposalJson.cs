using System.Buffers;
using System.Text;
using System.Text.Json;
using Soco.IO;

namespace Soco.Proposals;

/// <summary>
/// SoCo's proposal JSON (<c>train_ratio3size0308post.json</c>): one object <c>{ "&lt;key&gt;": [[x, y, w, h], ...] }</c>
/// with integer rects. Both directions stream: neither side holds the document in memory as a tree.
/// </summary>
public static class ProposalJson
{
    /// <summary>
    /// Writes every successful record of the store, keys in ordinal order, atomically. Returns the count. When a key has
    /// several records, the one <see cref="ProposalStore.ReadAll()"/> keeps is written (its first success in part-file
    /// order; none when it has only failures). Memory does not grow with the store (docs/scale.md, "Filter and export at scale"): records are packed and
    /// sorted in runs of at most <paramref name="runBytes"/> (<see cref="ProposalSort"/>); when there is more than one
    /// run, every run is spilled to a temporary file beside <paramref name="path"/> and they are merged, and the JSON writer is flushed as it goes.
    /// </summary>
    public static int Export(ProposalStore store, string path, long runBytes = DefaultRunBytes)
    {
        string full = Path.GetFullPath(path);
        string spill = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.runs-{Guid.NewGuid():N}");
        try
        {
            var parts = store.Parts();
            // The packed records take about 1.5 times the compressed parts (the same 7-bit numbers, without deflate):
            // twice is a hint with room.
            long expected = 0;
            for (int p = 0; p < parts.Count && expected < runBytes; p++) expected += 2 * new FileInfo(parts[p]).Length;
            using var sort = new ProposalSort(spill, runBytes, expected);
            foreach (var r in ProposalStore.Stream(parts, withRects: true, skip: null, check: null))
                sort.Add(r.Key, r.IsFailure, 0, r.Rects);
            int count = 0;
            AtomicFile.Write(path, s =>
            {
                using var w = new Utf8JsonWriter(s, new JsonWriterOptions { SkipValidation = true });
                w.WriteStartObject();
                foreach (var r in sort.Sorted())
                {
                    // Equal keys are adjacent, successes first, each in the order read: the first is the key's record (as
                    // ReadAll keeps it), later ones are skipped, and a key whose first is a failure has no success.
                    if (!r.FirstOfKey || r.IsFailure) continue;
                    count++;
                    w.WriteStartArray(r.Key);
                    foreach (var b in r.Rects)
                    {
                        w.WriteStartArray();
                        w.WriteNumberValue(b.X);
                        w.WriteNumberValue(b.Y);
                        w.WriteNumberValue(b.W);
                        w.WriteNumberValue(b.H);
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                    // Utf8JsonWriter keeps everything in its buffer until flushed: without this the whole file is in memory.
                    if (w.BytesPending >= 1 << 16) w.Flush();
                }
                w.WriteEndObject();
            });
            return count;
        }
        finally
        {
            if (Directory.Exists(spill)) Directory.Delete(spill, recursive: true);
        }
    }

    /// <summary>The export's sort block: 2 MiB, ~8,000 images a run with the released filter (~31 boxes an image).</summary>
    public const long DefaultRunBytes = 2 << 20;

    /// <summary>Outcome of an import: images and boxes taken, boxes dropped and why (first few), keys that occurred more
    /// than once (merged only when asked).</summary>
    public sealed record ImportResult(int Images, long Boxes, long DroppedBoxes, IReadOnlyList<string> Warnings)
    {
        public int MergedKeys { get; init; }
    }

    /// <summary>
    /// Reads a SoCo proposal JSON file into a new store. Malformed structure is an error naming the file and the
    /// position; a box that is not four finite integers with w, h ≥ 0 is dropped with a warning (the image stays).
    /// A key that occurs more than once (JSON allows it; a dictionary keeps only one) is refused, naming the keys, unless
    /// <paramref name="mergeDuplicates"/>: then the boxes of all its occurrences are kept, in file order.
    /// </summary>
    public static ImportResult Import(string jsonPath, string storeDirectory, int flushEvery = 4096, bool mergeDuplicates = false)
    {
        if (!File.Exists(jsonPath)) throw new FileNotFoundException($"proposal file not found: {jsonPath}");
        var info = new ProposalStoreInfo
        {
            Generator = "imported",
            Parameters = new(StringComparer.Ordinal) { ["source"] = Path.GetFileName(jsonPath) },
            RectConvention = "soco",
            CreatedBy = "soco proposals import",
        };
        using var folderLock = FolderLock.Acquire(storeDirectory, "soco proposals import");
        bool existed = ProposalStore.Exists(storeDirectory);
        var store = ProposalStore.OpenOrCreate(storeDirectory, info);
        if (store.PartFiles().Length > 0)
            throw new ProposalStoreException($"{storeDirectory} already holds imported proposals; import into an empty folder");
        var duplicates = new List<string>();
        var duplicateKeys = new HashSet<string>(StringComparer.Ordinal);
        var result = ImportPass(jsonPath, store, flushEvery, null, (key, _) =>
        {
            if (duplicateKeys.Add(key) && duplicates.Count < 5) duplicates.Add(key);
        });
        int duplicateCount = duplicateKeys.Count;
        if (duplicateCount == 0) return result;

        // Undo the pass: the store was empty, so every part is this import's.
        foreach (var part in store.PartFiles()) File.Delete(part);
        if (!mergeDuplicates)
        {
            if (!existed) TryRemoveStore(storeDirectory);
            throw new FormatException($"{jsonPath}: {duplicateCount} image key(s) occur more than once, e.g. {string.Join(", ", duplicates.Select(k => $"'{k}'"))}; " +
                "a JSON reader keeps only one of them (data lost). Nothing was imported. Fix the file, or pass --merge-duplicates to keep the boxes of every occurrence.");
        }
        return ImportPass(jsonPath, store, flushEvery, duplicateKeys, (_, _) => { }) with { MergedKeys = duplicateCount };
    }

    static void TryRemoveStore(string dir)
    {
        try
        {
            foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
                if (Path.GetFileName(f) != FolderLock.FileName) File.Delete(f);
        }
        catch (IOException) { }
    }

    /// <summary>One streaming pass: records of keys in <paramref name="hold"/> are merged in memory and written last; every
    /// key seen before is reported to <paramref name="onDuplicate"/>.</summary>
    static ImportResult ImportPass(string jsonPath, ProposalStore store, int flushEvery, HashSet<string>? hold, Action<string, int> onDuplicate)
    {
        var warnings = new List<string>();
        long boxes = 0, dropped = 0;
        int images = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var held = new Dictionary<string, List<ProposalRect>>(StringComparer.Ordinal);
        using var writer = store.OpenWriter("import");
        Read(jsonPath, (key, values) =>
        {
            var rects = new List<ProposalRect>(values.Count);
            foreach (var v in values)
            {
                string? problem = v.Length != 4 ? $"has {v.Length} numbers, not 4"
                    : v.Any(x => !double.IsFinite(x)) ? "has a non-finite number"
                    : v.Any(x => x != Math.Floor(x) || Math.Abs(x) > int.MaxValue) ? "has a non-integer number"
                    : v[2] < 0 || v[3] < 0 ? "has a negative width or height" : null;
                if (problem is not null)
                {
                    dropped++;
                    if (warnings.Count < 20) warnings.Add($"{jsonPath}: image '{key}': box [{string.Join(", ", v)}] {problem}; dropped");
                    continue;
                }
                rects.Add(new ProposalRect((int)v[0], (int)v[1], (int)v[2], (int)v[3]));
            }
            boxes += rects.Count;
            if (!seen.Add(key)) onDuplicate(key, rects.Count);
            else images++;
            if (hold is not null && hold.Contains(key))
            {
                if (held.TryGetValue(key, out var list)) list.AddRange(rects);
                else held[key] = rects;
                return;
            }
            writer.Add(new ProposalRecord(key, jsonPath, 0, 0, rects.ToArray()));
            if (writer.Buffered >= flushEvery) writer.Flush();
        });
        foreach (var (key, rects) in held) writer.Add(new ProposalRecord(key, jsonPath, 0, 0, rects.ToArray()));
        writer.Flush();
        return new ImportResult(images, boxes, dropped, warnings);
    }

    /// <summary>Streams the JSON object, calling <paramref name="onImage"/> with each key and its boxes (raw numbers).</summary>
    public static void Read(string jsonPath, Action<string, List<double[]>> onImage)
    {
        using var fs = new FileStream(jsonPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var parser = new StreamingParser(jsonPath, onImage);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        int filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int n = fs.Read(buffer, filled, buffer.Length - filled);
                filled += n;
                bool final = n == 0;
                int consumed = parser.Feed(buffer.AsSpan(0, filled), final);
                if (final)
                {
                    parser.Finish();
                    return;
                }
                buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                filled -= consumed;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    sealed class StreamingParser(string path, Action<string, List<double[]>> onImage)
    {
        JsonReaderState _state = new(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        long _offset;
        int _depth; // 0 outside, 1 in root object, 2 in an image's list, 3 in a box
        bool _done;
        string? _key;
        List<double[]>? _boxes;
        readonly List<double> _box = new();

        public int Feed(ReadOnlySpan<byte> data, bool final)
        {
            var r = new Utf8JsonReader(data, final, _state);
            try
            {
                while (r.Read())
                {
                    if (_done) Fail(r, "unexpected content after the top-level object");
                    switch (r.TokenType)
                    {
                        case JsonTokenType.StartObject when _depth == 0:
                            _depth = 1;
                            break;
                        case JsonTokenType.PropertyName when _depth == 1:
                            _key = r.GetString();
                            break;
                        case JsonTokenType.StartArray when _depth == 1 && _key is not null:
                            _boxes = new List<double[]>();
                            _depth = 2;
                            break;
                        case JsonTokenType.StartArray when _depth == 2:
                            _box.Clear();
                            _depth = 3;
                            break;
                        case JsonTokenType.Number when _depth == 3:
                            _box.Add(r.GetDouble());
                            break;
                        case JsonTokenType.EndArray when _depth == 3:
                            _boxes!.Add(_box.ToArray());
                            _depth = 2;
                            break;
                        case JsonTokenType.EndArray when _depth == 2:
                            onImage(_key!, _boxes!);
                            _key = null;
                            _depth = 1;
                            break;
                        case JsonTokenType.EndObject when _depth == 1:
                            _depth = 0;
                            _done = true;
                            break;
                        default:
                            Fail(r, _depth switch
                            {
                                0 => "expected an object { \"image key\": [[x, y, w, h], ...], ... }",
                                1 => "expected an image key followed by a list of boxes",
                                2 => "expected a box [x, y, w, h]",
                                _ => "expected a number inside a box",
                            } + $", found {r.TokenType}");
                            break;
                    }
                }
            }
            catch (JsonException e)
            {
                if (_done) Fail(r, "unexpected content after the top-level object");
                if (final && data[(int)r.BytesConsumed..].TrimStart(" \t\r\n"u8).IsEmpty) Finish();
                throw new FormatException($"{path}: not valid JSON near byte {_offset + r.BytesConsumed} ({e.Message})");
            }
            _state = r.CurrentState;
            _offset += r.BytesConsumed;
            return (int)r.BytesConsumed;
        }

        public void Finish()
        {
            if (!_done) throw new FormatException($"{path}: the JSON ends before its top-level object is closed (truncated or empty file?)");
        }

        void Fail(Utf8JsonReader r, string what) =>
            throw new FormatException($"{path}: not a SoCo proposal file near byte {_offset + r.TokenStartIndex}: {what}");
    }
}
