namespace Soco.IO;

/// <summary>
/// Byte strings (UTF-8 names, mostly) appended back to back in fixed-size chunks, each read back by the index
/// <see cref="Add"/> gave it: no object per string and no block that doubles as it grows (its old copies are garbage
/// the size of the list). A string longer than a chunk gets a chunk of its own. The proposal store's part list and a
/// zip's entry names (docs/scale.md, "Filter and export at scale", "Opening a zip of a million images").
/// </summary>
public sealed class ByteStrings
{
    /// <summary>The longest string: lengths are packed in 20 bits (a zip name of 65,535 invalid bytes decoded to
    /// U+FFFD and encoded again takes 196,605).</summary>
    public const int MaxLength = (1 << 20) - 1;

    readonly int _chunkBytes;
    readonly List<byte[]> _chunks = [];
    long[] _at; // per string: chunk << 41 | offset << 20 | length (an offset up to 2^20 itself)
    int _used;

    /// <param name="chunkBytes">Chunk size, at most 1 MiB (64 KB for a few thousand names, 1 MiB for millions).</param>
    /// <param name="capacity">Strings expected (the index array is grown by doubling past it).</param>
    public ByteStrings(int chunkBytes, int capacity = 16)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 16);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkBytes, 1 << 20);
        _chunkBytes = chunkBytes;
        _used = chunkBytes;
        _at = new long[Math.Max(16, capacity)];
    }

    public int Count { get; private set; }

    /// <summary>Bytes of all the strings.</summary>
    public long TotalBytes { get; private set; }

    /// <summary>Adds a string of <paramref name="length"/> bytes and returns where to write them; its index is the
    /// <see cref="Count"/> before the call.</summary>
    public Span<byte> Add(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxLength);
        if (Count == _at.Length) Array.Resize(ref _at, 2 * Count);
        if (_chunks.Count == 0 || _used + length > _chunkBytes)
        {
            _chunks.Add(new byte[Math.Max(_chunkBytes, length)]);
            _used = 0;
        }
        _at[Count++] = (long)(_chunks.Count - 1) << 41 | (long)_used << 20 | (uint)length;
        var into = _chunks[^1].AsSpan(_used, length);
        _used += length;
        TotalBytes += length;
        return into;
    }

    /// <summary>Adds <paramref name="bytes"/>; returns its index.</summary>
    public int Add(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Add(bytes.Length));
        return Count - 1;
    }

    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            long e = _at[index];
            return _chunks[(int)(e >> 41)].AsSpan((int)(e >> 20) & 0x1FFFFF, (int)(e & 0xFFFFF));
        }
    }
}
