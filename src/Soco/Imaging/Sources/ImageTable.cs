using System.Collections;
using System.Text;

namespace Soco.Imaging;

/// <summary>
/// The image list of a source in a compact form (docs/scale.md, "The compact image list"): every relative path in one
/// UTF-8 block with an offset per image, the class indexes in an int array, and an open-addressing table of image
/// indexes for lookups by key, instead of an <see cref="ImageEntry"/> object with its own key and path strings per
/// image. An entry is made when asked for (<c>this[i]</c>), with the same values the per-image objects had: the key is
/// <see cref="ImageSources.KeyOf"/> of the path, the location the shared prefix followed by the entry's own location
/// tail (stored only where it is not the path). Entries made by a table belong to it (<see cref="Owns"/>): the
/// sources' ownership check no longer needs the very object. Read-only once built; thread-safe for readers.
/// </summary>
public sealed class ImageTable : IReadOnlyList<ImageEntry>
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly byte[] _paths;      // every relative path, UTF-8, back to back
    readonly int[] _pathEnd;     // path i is _paths[_pathEnd[i-1].._pathEnd[i]] (start 0 for i = 0)
    readonly byte[]? _tails;     // location tails that are not the path (null when there is none)
    readonly int[]? _tailEnd;    // like _pathEnd; an empty tail = the path
    readonly int[]? _classes;    // null when every class is -1
    readonly int[] _slots;       // key table (Utf8KeySlots): the first image of a key wins
    readonly Func<int, ReadOnlySpan<byte>> _keyOf; // KeyBytes, made once
    readonly string _prefix;

    ImageTable(string prefix, byte[] paths, int[] pathEnd, byte[]? tails, int[]? tailEnd, int[]? classes)
    {
        _prefix = prefix;
        _paths = paths;
        _pathEnd = pathEnd;
        _tails = tails;
        _tailEnd = tailEnd;
        _classes = classes;
        _keyOf = KeyBytes;
        _slots = Utf8KeySlots.Build(pathEnd.Length, _keyOf);
    }

    public int Count => _pathEnd.Length;

    /// <summary>Bytes the table holds (paths, tails, offsets, classes, key slots): what the image list costs in memory.</summary>
    public long HeldBytes =>
        _paths.Length + 4L * _pathEnd.Length + (_tails?.Length ?? 0) + 4L * (_tailEnd?.Length ?? 0) + 4L * (_classes?.Length ?? 0) + 4L * _slots.Length;

    public ImageEntry this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            string path = Utf8.GetString(PathBytes(index));
            string? tail = TailBytes(index) is { Length: > 0 } t ? Utf8.GetString(t) : null;
            return new ImageEntry(index, ImageSources.KeyOf(path), path, _prefix, tail ?? path, _classes?[index] ?? -1) { Owner = this };
        }
    }

    /// <summary>Whether <paramref name="entry"/> was made by this table for the image at its index (a copy made with
    /// <c>with</c> keeps the table; one whose index was changed to another image's is not that image's).</summary>
    public bool Owns(ImageEntry entry)
    {
        if (!ReferenceEquals(entry.Owner, this) || (uint)entry.Index >= (uint)Count) return false;
        var path = PathBytes(entry.Index);
        if (Utf8.GetMaxByteCount(entry.RelativePath.Length) > 1024) return Utf8.GetString(path) == entry.RelativePath;
        Span<byte> buf = stackalloc byte[1024];
        try
        {
            return Utf8.GetBytes(entry.RelativePath, buf) == path.Length && buf[..path.Length].SequenceEqual(path);
        }
        catch (EncoderFallbackException)
        {
            return false; // a path no table stores (a lone surrogate)
        }
    }

    /// <summary>The key of image <paramref name="index"/> (the same string value as its entry's <see cref="ImageEntry.Key"/>).</summary>
    public string KeyAt(int index) => Utf8.GetString(KeyBytes(index));

    /// <summary>The index of the first image whose key is <paramref name="key"/> (ordinal), or -1.</summary>
    public int IndexOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        int max = Utf8.GetMaxByteCount(key.Length);
        Span<byte> buf = max <= 512 ? stackalloc byte[max] : new byte[max];
        int n;
        try
        {
            n = Utf8.GetBytes(key, buf);
        }
        catch (EncoderFallbackException)
        {
            return -1; // a string that is not valid UTF-16 (a lone surrogate) is no key of the table (its keys are)
        }
        return Utf8KeySlots.Find(_slots, buf[..n], _keyOf);
    }

    /// <summary>
    /// The first image whose key is image <paramref name="index"/>'s (<paramref name="index"/> itself unless its key
    /// is a duplicate), and whether that key is empty: the duplicate check of <c>ImageSources.Validate</c> without a
    /// string or an entry per image.
    /// </summary>
    internal int FirstWithKeyOf(int index, out bool emptyKey)
    {
        var key = KeyBytes(index);
        emptyKey = key.IsEmpty;
        int first = Utf8KeySlots.Find(_slots, key, _keyOf);
        return first >= 0 ? first : throw new InvalidOperationException("image key missing from its table"); // every key is in the slots
    }

    public IEnumerator<ImageEntry> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    ReadOnlySpan<byte> PathBytes(int i) => Slice(_paths, _pathEnd, i);

    ReadOnlySpan<byte> TailBytes(int i) => _tails is null ? default : Slice(_tails, _tailEnd!, i);

    // String i of a block of back-to-back byte strings whose end offsets are `ends` (the first starts at 0).
    static ReadOnlySpan<byte> Slice(byte[] block, int[] ends, int i)
    {
        int start = i == 0 ? 0 : ends[i - 1];
        return block.AsSpan(start, ends[i] - start);
    }

    // The key's bytes: the path's file name up to its first '.', '\' counting as a separator too: KeyOf on the bytes
    // ('/', '\' and '.' are single bytes in UTF-8 and never part of a longer sequence).
    ReadOnlySpan<byte> KeyBytes(int i)
    {
        var p = PathBytes(i);
        p = p[(p.LastIndexOfAny((byte)'/', (byte)'\\') + 1)..];
        int dot = p.IndexOf((byte)'.');
        return dot >= 0 ? p[..dot] : p;
    }

    /// <summary>
    /// Collects the images of a source in order. <paramref name="locationPrefix"/> is the start of every entry's
    /// <see cref="ImageEntry.Location"/>.
    /// </summary>
    public sealed class Builder(string locationPrefix, int expectedCount = 0, int expectedPathBytes = 0)
    {
        // Sized from the caller's estimate when it has one (a zip knows its entry count): grown by doubling, the old
        // copies are garbage the size of the list (docs/scale.md, "Opening a zip of a million images").
        readonly Blob _paths = new(expectedPathBytes), _tails = new(0);
        readonly List<int> _pathEnd = new(expectedCount), _tailEnd = new(expectedCount), _classes = new(expectedCount);
        bool _anyClass;

        public int Count => _pathEnd.Count;

        /// <summary>Adds the next image: its relative path, its class index (-1 for none) and the rest of its location
        /// after the prefix (null: the path itself).</summary>
        public void Add(string relativePath, int classIndex = -1, string? locationTail = null)
        {
            ArgumentException.ThrowIfNullOrEmpty(relativePath);
            _paths.AppendUtf8(relativePath);
            _pathEnd.Add(_paths.Length);
            if (locationTail is not null && locationTail != relativePath) _tails.AppendUtf8(locationTail);
            _tailEnd.Add(_tails.Length);
            _classes.Add(classIndex);
            _anyClass |= classIndex != -1;
        }

        /// <summary><see cref="Add(string, int, string?)"/> with the path as characters and the location tail as UTF-8
        /// bytes (a zip entry's name as the central directory index holds it): no string per image.</summary>
        public void Add(ReadOnlySpan<char> relativePath, int classIndex, ReadOnlySpan<byte> locationTailUtf8)
        {
            if (relativePath.IsEmpty) throw new ArgumentException("an image path is empty", nameof(relativePath));
            int start = _paths.Length;
            _paths.AppendUtf8(relativePath);
            _pathEnd.Add(_paths.Length);
            if (!_paths.Span(start, _paths.Length - start).SequenceEqual(locationTailUtf8)) _tails.Append(locationTailUtf8);
            _tailEnd.Add(_tails.Length);
            _classes.Add(classIndex);
            _anyClass |= classIndex != -1;
        }

        /// <summary>The table; the builder is spent.</summary>
        public ImageTable Build() => new(locationPrefix, _paths.ToArray(), [.. _pathEnd], _tails.Length == 0 ? null : _tails.ToArray(),
            _tails.Length == 0 ? null : [.. _tailEnd], _anyClass ? [.. _classes] : null);

        /// <summary>A growable byte block whose total stays below 2 GiB (checked).</summary>
        sealed class Blob(int capacity)
        {
            byte[] _buf = new byte[Math.Clamp(capacity, 4096, Array.MaxLength)];
            public int Length { get; private set; }

            /// <summary>Appends <paramref name="s"/> as UTF-8, encoded in place (no array per path).</summary>
            public void AppendUtf8(ReadOnlySpan<char> s)
            {
                try
                {
                    Length += Utf8.GetBytes(s, Room(Utf8.GetByteCount(s)));
                }
                catch (EncoderFallbackException e)
                {
                    // Names decoded from disk, a zip or a map file are valid UTF-16; one that is not could not be stored exactly.
                    throw new ImageSourceException($"image path '{s}' is not valid Unicode (a lone surrogate); it cannot be listed", e);
                }
            }

            public void Append(ReadOnlySpan<byte> bytes)
            {
                bytes.CopyTo(Room(bytes.Length));
                Length += bytes.Length;
            }

            public ReadOnlySpan<byte> Span(int start, int length) => _buf.AsSpan(start, length);

            Span<byte> Room(int count)
            {
                if ((long)Length + count > Array.MaxLength)
                    throw new ImageSourceException($"the image paths of this source take more than {Array.MaxLength:N0} bytes: too many images for one source");
                if (Length + count > _buf.Length)
                    Array.Resize(ref _buf, (int)Math.Min(Array.MaxLength, Math.Max(2L * _buf.Length, Length + count)));
                return _buf.AsSpan(Length);
            }

            public byte[] ToArray() => _buf.AsSpan(0, Length).ToArray();
        }
    }
}
