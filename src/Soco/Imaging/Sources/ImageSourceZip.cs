using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Soco.IO;

namespace Soco.Imaging;

/// <summary>
/// Images inside a zip, SoCo's "zip mode" (docs/soco-reference.md §3): <c>train.zip</c> plus <c>train_map.txt</c>, one line per image,
/// <c>&lt;path in the zip&gt;&lt;TAB or spaces&gt;&lt;class index&gt;</c>; entries keep the map's order. Without a
/// map file, every image entry of the zip (sorted by name; <c>__MACOSX</c> and hidden names skipped).
/// A map path that is not in the zip as written is looked up with one consistent prefix added or removed (a zip made
/// with <c>zip -r train.zip train/</c> holds <c>train/n01/x.JPEG</c> while the map says <c>n01/x.JPEG</c>).
/// The central directory (zip64 too) is read once; entries are read with positional reads of one file handle, so
/// <see cref="ReadBytes"/> is thread-safe without locks. Stored and deflated entries; the CRC is checked (as
/// Python's zipfile does).
/// </summary>
public sealed class ZipImageSource : IImageSource
{
    private readonly SafeFileHandle _file;
    private readonly ImageTable _entries; // the compact image list (docs/scale.md)
    private readonly ZipData[] _records; // parallel to _entries
    private readonly string _locationPrefix; // "<zip>@/", shared by every entry's Location

    // Kept per entry for reading: no name (the entry's RelativePath and Location say it), so a 1.28 M-entry zip keeps
    // only what reading needs (docs/scale.md).
    private readonly record struct ZipData(long LocalHeaderOffset, long CompressedSize, long Size, ushort Method, ushort Flags, uint Crc);

    public ZipImageSource(string zipPath, string? mapPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(zipPath);
        if (!File.Exists(zipPath))
            throw new ImageSourceException(Directory.Exists(zipPath)
                ? $"images zip not found: {zipPath} is a folder"
                : $"images zip not found: {zipPath}");
        if (mapPath != null && !File.Exists(mapPath)) throw new ImageSourceException($"zip map file not found: {mapPath}");
        ZipPath = Path.GetFullPath(zipPath);
        MapPath = mapPath == null ? null : Path.GetFullPath(mapPath);
        _file = File.OpenHandle(ZipPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            var all = ReadCentralDirectory();
            _locationPrefix = $"{ZipPath}@/";
            (_entries, _records) = MapPath == null ? FromZip(all) : FromMap(all);
            string what = MapPath == null ? $"zip {ZipPath}" : $"zip {ZipPath} with map {MapPath}";
            ImageSources.Validate(_entries, what);
            Description = $"{what} ({_entries.Count:N0} images)";
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    public string ZipPath { get; }
    public string? MapPath { get; }
    public string Description { get; private set; } = "";
    public IReadOnlyList<ImageEntry> Entries => _entries;

    public byte[] ReadBytes(ImageEntry entry)
    {
        ImageSources.CheckOwner(this, entry);
        ObjectDisposedException.ThrowIf(_file.IsClosed, this);
        var r = _records[entry.Index];
        string where = entry.Location;
        if ((r.Flags & 1) != 0) throw new ImageDecodeException(where, "zip entry is encrypted");
        if (r.Method is not (0 or 8))
            throw new ImageDecodeException(where, $"zip entry uses compression method {r.Method} (only stored and deflate are supported)");
        if (r.Size > Array.MaxLength || r.CompressedSize > Array.MaxLength)
            throw new ImageDecodeException(where, "zip entry is too large");
        try
        {
            Span<byte> lh = stackalloc byte[30];
            if (RandomAccess.Read(_file, lh, r.LocalHeaderOffset) != 30 || BinaryPrimitives.ReadUInt32LittleEndian(lh) != 0x04034b50)
                throw new ImageDecodeException(where, "corrupt zip (bad local header)");
            long dataStart = r.LocalHeaderOffset + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh[26..]) +
                             BinaryPrimitives.ReadUInt16LittleEndian(lh[28..]);
            var comp = new byte[r.CompressedSize];
            if (ReadFully(comp, dataStart) != comp.Length)
                throw new ImageDecodeException(where, "truncated zip (the entry's data ends early)");
            byte[] data;
            if (r.Method == 0)
            {
                data = comp;
            }
            else
            {
                data = new byte[r.Size];
                using var z = new DeflateStream(new MemoryStream(comp), CompressionMode.Decompress);
                int got = 0;
                while (got < data.Length)
                {
                    int n = z.Read(data, got, data.Length - got);
                    if (n == 0) break;
                    got += n;
                }
                if (got != data.Length) throw new ImageDecodeException(where, "corrupt zip entry (decompressed size is wrong)");
            }
            if (data.Length != r.Size) throw new ImageDecodeException(where, "corrupt zip entry (size is wrong)");
            if (Crc32.Compute(data) != r.Crc) throw new ImageDecodeException(where, "corrupt zip entry (CRC mismatch)");
            return data;
        }
        catch (InvalidDataException e)
        {
            throw new ImageDecodeException(where, "corrupt zip entry (invalid deflate data)", e);
        }
        catch (IOException e)
        {
            throw new ImageDecodeException(where, $"cannot read the zip ({e.Message})", e);
        }
    }

    public void Dispose() => _file.Dispose();

    private int ReadFully(Span<byte> buf, long offset)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = RandomAccess.Read(_file, buf[got..], offset + got);
            if (n == 0) break;
            got += n;
        }
        return got;
    }

    private ImageSourceException Bad(string why) => new($"cannot read zip {ZipPath}: {why}");

    private CentralDirectory ReadCentralDirectory()
    {
        long len = RandomAccess.GetLength(_file);
        int tailLen = (int)Math.Min(len, 22 + 65535 + 20);
        var tail = new byte[tailLen];
        if (ReadFully(tail, len - tailLen) != tailLen) throw Bad("read error");
        int eocd = -1;
        for (int i = tailLen - 22; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == 0x06054b50)
            {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) throw Bad(len == 0 ? "the file is empty" : "not a zip file (no end-of-central-directory record)");
        var e = tail.AsSpan(eocd);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            // zip64: locator right before the EOCD
            if (eocd < 20 || BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(eocd - 20)) != 0x07064b50)
                throw Bad("zip64 locator missing");
            long z64 = (long)BinaryPrimitives.ReadUInt64LittleEndian(tail.AsSpan(eocd - 20 + 8));
            var rec = new byte[56];
            if (ReadFully(rec, z64) != 56 || BinaryPrimitives.ReadUInt32LittleEndian(rec) != 0x06064b50)
                throw Bad("bad zip64 end-of-central-directory record");
            count = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(32));
            cdSize = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(40));
            cdOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(48));
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > len) throw Bad("the central directory lies outside the file (truncated zip?)");

        // Every record takes at least 46 bytes: a damaged count cannot size the arrays past what the directory holds.
        var list = new CentralDirectory((int)Math.Min(Math.Min(count, cdSize / 46), 10_000_000)); // grown past that if need be
        using var fs = new FileStream(ZipPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        fs.Position = cdOffset;
        var fixedPart = new byte[46];
        var varPart = new byte[3 * 65536];
        for (long k = 0; k < count; k++)
        {
            int varLen;
            try
            {
                fs.ReadExactly(fixedPart);
            }
            catch (EndOfStreamException)
            {
                throw Bad("the central directory is truncated");
            }
            var h = fixedPart.AsSpan();
            if (BinaryPrimitives.ReadUInt32LittleEndian(h) != 0x02014b50) throw Bad($"bad central directory record #{k}");
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            ushort method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            varLen = nameLen + extraLen + commentLen;
            try
            {
                fs.ReadExactly(varPart, 0, varLen);
            }
            catch (EndOfStreamException)
            {
                throw Bad("the central directory is truncated");
            }
            // zip64 extra field: the 0xFFFFFFFF fields, in order usize, csize, offset
            var extra = varPart.AsSpan(nameLen, extraLen);
            while (extra.Length >= 4)
            {
                ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
                int sz = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]), extra.Length - 4);
                if (id == 0x0001)
                {
                    var z = extra.Slice(4, sz);
                    if (usize == 0xFFFFFFFF && z.Length >= 8) { usize = (long)BinaryPrimitives.ReadUInt64LittleEndian(z); z = z[8..]; }
                    if (csize == 0xFFFFFFFF && z.Length >= 8) { csize = (long)BinaryPrimitives.ReadUInt64LittleEndian(z); z = z[8..]; }
                    if (offset == 0xFFFFFFFF && z.Length >= 8) offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(z);
                }
                extra = extra[(4 + sz)..];
            }
            list.Add(varPart.AsSpan(0, nameLen), new ZipData(offset, csize, usize, method, flags, crc));
        }
        return list;
    }


    private (ImageTable, ZipData[]) FromZip(CentralDirectory all)
    {
        var images = new List<int>();
        for (int i = 0; i < all.Count; i++)
        {
            string name = all.NameString(i);
            if (ImageSources.ImageExtensions.Contains(Path.GetExtension(name)) && !name.Split('/').Any(c => c.StartsWith('.') || c == "__MACOSX"))
                images.Add(i);
        }
        if (images.Count == 0)
            throw new ImageSourceException(
                $"no images in zip {ZipPath} (looked for {string.Join(", ", ImageSources.ImageExtensions)}; no map file {Path.GetFileNameWithoutExtension(ZipPath)}_map.txt beside it)");
        // Name order (ordinal, as the UTF-16 strings compare), then directory order: a stable sort by name.
        images.Sort((x, y) => Utf8Ordinal.Compare(all.Name(x), all.Name(y)) is var c && c != 0 ? c : x.CompareTo(y));
        var entries = new ImageTable.Builder(_locationPrefix, images.Count, all.NameBytes);
        var data = new ZipData[images.Count];
        for (int k = 0; k < images.Count; k++)
        {
            entries.Add(all.NameString(images[k]));
            data[k] = all.Data(images[k]);
        }
        return (entries.Build(), data);
    }

    private (ImageTable, ZipData[]) FromMap(CentralDirectory all)
    {
        // The map is read a line at a time into one character buffer, each path looked up in the directory's name
        // table as UTF-8: no string per line or per zip entry (docs/scale.md, "Opening a zip of a million images").
        // a consistent prefix fix: add `add` in front, or drop the first `drop` path components
        string add = "";
        int drop = 0;
        bool fixChosen = false;
        var entries = new ImageTable.Builder(_locationPrefix, all.Count, all.NameBytes);
        var recs = new ZipData[all.Count];
        int kept = 0;
        var missing = new List<string>();
        int missingCount = 0, lineCount = 0;
        var fixBuffer = new char[256];
        using var lines = new MapLines(MapPath!);
        while (lines.Next(out var raw))
        {
            int lineNo = lines.LineNumber;
            if (!ParseMapLine(raw, MapPath!, lineNo, out var path, out int cls)) continue;
            lineCount++;
            int idx = all.IndexOf(Fix(path, add, drop, ref fixBuffer));
            if (idx < 0)
            {
                if (!fixChosen && FindFix(path, all, out add, out drop)) fixChosen = true;
                idx = all.IndexOf(Fix(path, add, drop, ref fixBuffer));
                if (idx < 0)
                {
                    if (missing.Count < 5) missing.Add($"line {lineNo}: {path}");
                    missingCount++;
                    continue;
                }
            }
            fixChosen = true;
            if (kept == recs.Length) Array.Resize(ref recs, Math.Max(16, 2 * kept)); // more lines than entries: duplicates
            recs[kept++] = all.Data(idx);
            entries.Add(path, cls, all.Name(idx));
        }
        if (lineCount == 0) throw new ImageSourceException($"no images in map file {MapPath} (it has no lines)");
        if (missingCount > 0)
            throw new ImageSourceException(
                $"{missingCount} of {lineCount} image(s) of map file {MapPath} not found in zip {ZipPath}: {string.Join("; ", missing)}{(missingCount > 5 ? "; …" : "")}");
        if (kept < recs.Length) Array.Resize(ref recs, kept);
        return (entries.Build(), recs);
    }

    // The path with the prefix fix applied: `drop` leading components taken off, or `add` put in front (in `buffer`).
    private static ReadOnlySpan<char> Fix(ReadOnlySpan<char> path, string add, int drop, ref char[] buffer)
    {
        for (int k = 0; k < drop; k++)
        {
            int s = path.IndexOf('/');
            if (s < 0) return path;
            path = path[(s + 1)..];
        }
        if (add.Length == 0) return path;
        if (buffer.Length < add.Length + path.Length) buffer = new char[add.Length + path.Length];
        add.CopyTo(buffer);
        path.CopyTo(buffer.AsSpan(add.Length));
        return buffer.AsSpan(0, add.Length + path.Length);
    }

    private static bool FindFix(ReadOnlySpan<char> path, CentralDirectory all, out string add, out int drop)
    {
        add = "";
        drop = 0;
        var buffer = Array.Empty<char>();
        // drop leading components of the map path ("train/n01/x.JPEG" → "n01/x.JPEG")
        int comps = path.Count('/');
        for (int d = 1; d <= comps; d++)
        {
            if (all.IndexOf(Fix(path, "", d, ref buffer)) >= 0)
            {
                drop = d;
                return true;
            }
        }
        // add the zip's prefix ("n01/x.JPEG" → "train/n01/x.JPEG"): the one entry ending with "/" + path
        byte[] suffix = Encoding.UTF8.GetBytes("/" + path.ToString());
        int found = -1;
        for (int i = 0; i < all.Count; i++)
        {
            if (!all.Name(i).EndsWith(suffix)) continue;
            if (found >= 0) return false; // ambiguous
            found = i;
        }
        if (found < 0) return false;
        add = all.NameString(found)[..^path.Length];
        return true;
    }

    // One map line: false for a blank line; else the path ('\\' made '/', leading '/' and "./" taken off: a slice of
    // `line`, which is changed in place) and the class index.
    private static bool ParseMapLine(Span<char> line, string mapPath, int lineNo, out ReadOnlySpan<char> path, out int cls)
    {
        line = line.TrimEnd();
        path = default;
        cls = 0;
        if (line.Trim().Length == 0) return false;
        Span<char> p;
        ReadOnlySpan<char> c;
        int tab = line.IndexOf('\t');
        if (tab >= 0)
        {
            p = line[..tab].Trim();
            c = line[(tab + 1)..].Trim();
        }
        else
        {
            int sp = line.LastIndexOfAny(' ', '\t');
            if (sp < 0)
                throw new ImageSourceException(
                    $"map file {mapPath}, line {lineNo}: expected '<path in zip><TAB><class index>', got '{Short(line.ToString())}'");
            p = line[..sp].Trim();
            c = line[(sp + 1)..];
        }
        if (p.Length == 0 || !int.TryParse(c, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out cls))
            throw new ImageSourceException(
                $"map file {mapPath}, line {lineNo}: expected '<path in zip><TAB><class index>', got '{Short(line.ToString())}'");
        p.Replace('\\', '/');
        p = p.TrimStart('/');
        if (p.StartsWith("./")) p = p[2..];
        path = p;
        return true;
    }

    /// <summary>
    /// The lines of a map file as <see cref="File.ReadLines(string)"/> gives them (UTF-8, its byte order mark skipped;
    /// a line ends at "\n", "\r\n" or "\r"), each in turn in one character buffer: no string per line. A file that
    /// starts with a UTF-16 or UTF-32 byte order mark is read through <see cref="File.ReadLines(string)"/> itself.
    /// </summary>
    private sealed class MapLines : IDisposable
    {
        readonly FileStream _file;
        readonly IEnumerator<string>? _decoded; // a UTF-16/32 file
        byte[] _bytes = new byte[1 << 16];
        int _pos, _len;
        bool _end;
        char[] _chars = new char[256];

        public MapLines(string path)
        {
            _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            Fill();
            var head = _bytes.AsSpan(0, _len);
            if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) _pos = 3;
            else if (head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) || head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) ||
                     head.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]))
                _decoded = File.ReadLines(path).GetEnumerator();
        }

        /// <summary>The number (from 1) of the line <see cref="Next"/> gave last.</summary>
        public int LineNumber { get; private set; }

        public bool Next(out Span<char> line)
        {
            line = default;
            if (_decoded is not null)
            {
                if (!_decoded.MoveNext()) return false;
                LineNumber++;
                line = Chars(_decoded.Current.Length);
                _decoded.Current.CopyTo(line);
                return true;
            }
            int end;
            while (true)
            {
                end = _bytes.AsSpan(_pos, _len - _pos).IndexOfAny((byte)'\n', (byte)'\r');
                // A line ends in the buffer (a "\r" at its end waits for the next byte: "\r\n" is one end).
                if (end >= 0 && (_pos + end + 1 < _len || _end || _bytes[_pos + end] == '\n')) break;
                if (_end)
                {
                    if (_pos == _len) return false;
                    end = _len - _pos; // the last line, without an end
                    break;
                }
                Fill();
            }
            var bytes = _bytes.AsSpan(_pos, end);
            line = Chars(Encoding.UTF8.GetMaxCharCount(bytes.Length));
            line = line[..Encoding.UTF8.GetChars(bytes, line)];
            _pos += end;
            if (_pos < _len)
            {
                byte b = _bytes[_pos++];
                if (b == '\r' && _pos < _len && _bytes[_pos] == '\n') _pos++;
            }
            LineNumber++;
            return true;
        }

        Span<char> Chars(int n)
        {
            if (_chars.Length < n) _chars = new char[Math.Max(n, 2 * _chars.Length)];
            return _chars.AsSpan(0, n);
        }

        // Moves what is left to the front and reads more (a line longer than the buffer grows it).
        void Fill()
        {
            if (_pos > 0)
            {
                _bytes.AsSpan(_pos, _len - _pos).CopyTo(_bytes);
                _len -= _pos;
                _pos = 0;
            }
            if (_len == _bytes.Length) Array.Resize(ref _bytes, 2 * _bytes.Length);
            int n = _file.Read(_bytes, _len, _bytes.Length - _len);
            if (n == 0) _end = true;
            _len += n;
        }

        public void Dispose()
        {
            _decoded?.Dispose();
            _file.Dispose();
        }
    }

    /// <summary>
    /// The central directory as read: the entries' names (UTF-8, '\\' made '/', folders left out) back to back in 1 MiB
    /// chunks, what reading each entry needs, and an open-addressing table from name to entry (the first of a name
    /// wins). A <c>List</c> of a string and a record per entry and a dictionary over the names took ~200 bytes an
    /// entry while a zip opened (docs/scale.md, "Opening a zip of a million images").
    /// </summary>
    private sealed class CentralDirectory(int capacity)
    {
        readonly ByteStrings _names = new(1 << 20, capacity);
        ZipData[] _data = new ZipData[capacity];
        int[]? _slots; // the name table (Utf8KeySlots), made at the first lookup
        Func<int, ReadOnlySpan<byte>>? _nameOf;
        byte[] _key = new byte[256];

        public int Count => _names.Count;

        /// <summary>Bytes of all the names: what the image list's path block will need.</summary>
        public int NameBytes => (int)Math.Min(Array.MaxLength, _names.TotalBytes);

        public void Add(ReadOnlySpan<byte> raw, ZipData data)
        {
            // As Encoding.UTF8.GetString(raw) then Replace('\\', '/') would give, in UTF-8; a name ending in '/' is a folder.
            byte[]? decoded = System.Text.Ascii.IsValid(raw) ? null : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(raw));
            var name = decoded ?? raw;
            if (name.Length > 0 && name[^1] == (byte)'/') return;
            if (Count == _data.Length) Array.Resize(ref _data, Math.Max(16, 2 * Count));
            _data[Count] = data;
            var into = _names.Add(name.Length);
            name.CopyTo(into);
            into.Replace((byte)'\\', (byte)'/');
        }

        public ReadOnlySpan<byte> Name(int i) => _names[i];

        public string NameString(int i) => Encoding.UTF8.GetString(Name(i));

        public ZipData Data(int i) => _data[i];

        /// <summary>The first entry named <paramref name="name"/>, or -1.</summary>
        public int IndexOf(ReadOnlySpan<char> name)
        {
            int max = Encoding.UTF8.GetMaxByteCount(name.Length);
            if (max > _key.Length) _key = new byte[max];
            _nameOf ??= Name;
            _slots ??= Utf8KeySlots.Build(Count, _nameOf);
            return Utf8KeySlots.Find(_slots, _key.AsSpan(0, Encoding.UTF8.GetBytes(name, _key)), _nameOf);
        }
    }

    private static string Short(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
