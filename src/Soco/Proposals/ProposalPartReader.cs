using System.IO.Compression;
using System.Text;

namespace Soco.Proposals;

/// <summary>
/// Reads proposal part files (<see cref="ProposalStore"/>) a record at a time into buffers it reuses: the current
/// record's key, location and failure reason as UTF-8 bytes and its rects in one growing array. A pass over a whole store
/// (filter, export) allocates per part, not per record or per box, so the GC's young generation never fills up with dead
/// records (docs/scale.md, "Filter and export at scale"). The one decoder of the part format: <see cref="ProposalStore"/>
/// builds its <see cref="ProposalRecord"/>s from it. A damaged part is a <see cref="ProposalStoreException"/> naming the
/// file, raised when the damage is reached.
/// </summary>
internal sealed class ProposalPartReader : IDisposable
{
    static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    readonly byte[] _buf = new byte[1 << 15];
    int _pos, _len;
    readonly PartFile _file = new();
    DeflateStream? _z;
    string _path = "";
    int _read;
    bool _ended;

    byte[] _key = new byte[64], _location = new byte[128], _reason = new byte[64];
    int _keyLength, _locationLength, _reasonLength;
    ProposalRect[] _rects = new ProposalRect[256];
    int _rectCount;

    /// <summary>When false, <see cref="Next"/> skips the boxes (reads past them) and <see cref="Rects"/> is empty.</summary>
    public bool WithRects { get; set; } = true;

    public string Path => _path;
    public bool IsFailure { get; private set; }
    public int Width { get; private set; }
    public int Height { get; private set; }
    public ReadOnlySpan<byte> Key => _key.AsSpan(0, _keyLength);
    public ReadOnlySpan<byte> Location => _location.AsSpan(0, _locationLength);
    public ReadOnlySpan<byte> FailureReason => _reason.AsSpan(0, _reasonLength);
    public ReadOnlySpan<ProposalRect> Rects => _rects.AsSpan(0, _rectCount);

    public string KeyString => Utf8.GetString(Key);

    /// <summary>The current record as an object (strings and a rect array of its own).</summary>
    public ProposalRecord ToRecord() => IsFailure
        ? new ProposalRecord(KeyString, Utf8.GetString(Location), Width, Height, [], Utf8.GetString(FailureReason))
        : new ProposalRecord(KeyString, Utf8.GetString(Location), Width, Height, Rects.ToArray());

    /// <summary>Starts reading <paramref name="path"/> (closing the part read before).</summary>
    public void Open(string path)
    {
        Close();
        _path = path;
        _pos = _len = _read = 0;
        _ended = false;
        try
        {
            _file.Open(path);
            Span<byte> magic = stackalloc byte[8];
            _file.ReadExactly(magic);
            if (!magic.SequenceEqual(ProposalStore.MagicBytes)) throw new InvalidDataException("wrong magic number");
            _z = new DeflateStream(_file, CompressionMode.Decompress, leaveOpen: true);
        }
        catch (Exception e) when (IsDamage(e))
        {
            Close();
            throw Damaged(e);
        }
    }

    /// <summary>Decodes the next record; false after the last one (the trailer's count checked).</summary>
    public bool Next()
    {
        if (_ended || _z is null) return false;
        try
        {
            return NextCore();
        }
        catch (Exception e) when (IsDamage(e))
        {
            throw Damaged(e);
        }
    }

    bool NextCore()
    {
        byte tag = ReadByte();
        if (tag == ProposalStore.TagEnd)
        {
            int count = ReadByte() | ReadByte() << 8 | ReadByte() << 16 | ReadByte() << 24;
            if (count != _read) throw new InvalidDataException($"trailer says {count} records, found {_read}");
            _ended = true;
            return false;
        }
        if (tag != ProposalStore.TagOk && tag != ProposalStore.TagFailed) throw new InvalidDataException($"unknown record tag {tag}");
        ReadString(ref _key, out _keyLength);
        ReadString(ref _location, out _locationLength);
        Width = Read7BitInt();
        Height = Read7BitInt();
        _read++;
        IsFailure = tag == ProposalStore.TagFailed;
        _rectCount = 0;
        _reasonLength = 0;
        if (IsFailure)
        {
            ReadString(ref _reason, out _reasonLength);
            return true;
        }
        int n = Read7BitInt();
        if (n < 0) throw new InvalidDataException($"negative box count {n}");
        if (!WithRects)
        {
            for (long i = 0; i < 4L * n; i++) Read7BitInt();
            return true;
        }
        // Grown as boxes arrive, not from the count: deflate has no checksum, and a damaged count must end in "damaged
        // part" at the end of the data, not in an allocation of gigabytes.
        for (int i = 0; i < n; i++)
        {
            if (i == _rects.Length) Array.Resize(ref _rects, (int)Math.Min(Array.MaxLength, Math.Min(n, 2L * _rects.Length)));
            _rects[i] = new ProposalRect(ReadSigned(), ReadSigned(), ReadSigned(), ReadSigned());
        }
        _rectCount = n;
        return true;
    }

    static bool IsDamage(Exception e) => e is EndOfStreamException or InvalidDataException or FormatException or IOException;

    ProposalStoreException Damaged(Exception e) =>
        new($"{_path}: damaged proposal part ({e.Message}); delete it and re-run `soco proposals generate` to redo its images");

    byte ReadByte()
    {
        if (_pos < _len) return _buf[_pos++];
        Fill();
        return _buf[_pos++];
    }

    void Fill()
    {
        _len = _z!.Read(_buf, 0, _buf.Length);
        _pos = 0;
        if (_len == 0) throw new EndOfStreamException("unexpected end of the part");
    }

    int Read7BitInt()
    {
        // BinaryWriter.Write7BitEncodedInt: 7 bits a byte, low first, at most 5 bytes.
        uint result = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            byte b = ReadByte();
            if (shift == 28 && b > 0b1111) throw new FormatException("too many bytes in what should have been a 7-bit encoded integer");
            result |= (uint)(b & 0x7F) << shift;
            if (b < 0x80) return (int)result;
        }
        throw new FormatException("too many bytes in what should have been a 7-bit encoded integer");
    }

    int ReadSigned() => Leb128.UnZigZag((uint)Read7BitInt());

    // BinaryWriter.Write(string): the UTF-8 byte count (7-bit encoded), then the bytes.
    void ReadString(ref byte[] into, out int length)
    {
        int n = Read7BitInt();
        if (n < 0) throw new FormatException($"negative string length {n}");
        int done = 0;
        while (done < n)
        {
            if (_pos == _len) Fill();
            int take = Math.Min(n - done, _len - _pos);
            // Grown as bytes arrive (a damaged length must not allocate what the part cannot hold).
            if (done + take > into.Length) Array.Resize(ref into, (int)Math.Min(n, Math.Max(done + take, 2L * into.Length)));
            _buf.AsSpan(_pos, take).CopyTo(into.AsSpan(done));
            _pos += take;
            done += take;
        }
        length = n;
    }

    void Close()
    {
        _z?.Dispose();
        _z = null;
        _file.Close();
    }

    public void Dispose() => Close();

    /// <summary>
    /// The part being read, as a stream the reader keeps from part to part: a file handle and a position, read with
    /// positional reads, unbuffered (the inflater reads in blocks of its own). A <see cref="FileStream"/> per part was
    /// two objects more for every 64 images (docs/scale.md, "Filter and export at scale").
    /// </summary>
    sealed class PartFile : Stream
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle? _handle;
        long _at;

        public void Open(string path)
        {
            Close();
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            _at = 0;
        }

        public override void Close()
        {
            _handle?.Dispose();
            _handle = null;
        }

        public override int Read(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_handle is null, this);
            int n = RandomAccess.Read(_handle, buffer, _at);
            _at += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _at; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
