using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;

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
    private readonly record struct ZipRecord(string Name, ZipData Data);

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

    private List<ZipRecord> ReadCentralDirectory()
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

        var list = new List<ZipRecord>((int)Math.Min(count, 10_000_000));
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
            string name = Encoding.UTF8.GetString(varPart, 0, nameLen);
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
            if (name.EndsWith('/')) continue; // folder
            list.Add(new ZipRecord(name.Replace('\\', '/'), new ZipData(offset, csize, usize, method, flags, crc)));
        }
        return list;
    }


    private (ImageTable, ZipData[]) FromZip(List<ZipRecord> all)
    {
        var recs = all.Where(r => ImageSources.ImageExtensions.Contains(Path.GetExtension(r.Name)) &&
                                  !r.Name.Split('/').Any(c => c.StartsWith('.') || c == "__MACOSX"))
            .OrderBy(r => r.Name, StringComparer.Ordinal).ToArray();
        if (recs.Length == 0)
            throw new ImageSourceException(
                $"no images in zip {ZipPath} (looked for {string.Join(", ", ImageSources.ImageExtensions)}; no map file {Path.GetFileNameWithoutExtension(ZipPath)}_map.txt beside it)");
        var entries = new ImageTable.Builder(_locationPrefix);
        foreach (var r in recs) entries.Add(r.Name);
        return (entries.Build(), Array.ConvertAll(recs, r => r.Data));
    }

    private (ImageTable, ZipData[]) FromMap(List<ZipRecord> all)
    {
        var byName = new Dictionary<string, int>(all.Count, StringComparer.Ordinal);
        for (int i = 0; i < all.Count; i++) byName.TryAdd(all[i].Name, i);

        // The map is read line by line (not held: at 1.28 M lines its strings would double the opening's peak memory).
        // a consistent prefix fix: add `add` in front, or drop the first `drop` path components
        string add = "";
        int drop = 0;
        bool fixChosen = false;
        var entries = new ImageTable.Builder(_locationPrefix);
        var recs = new List<ZipData>(all.Count);
        var missing = new List<string>();
        int missingCount = 0, lineCount = 0;
        foreach (var (lineNo, path, cls) in ParseMap(MapPath!))
        {
            lineCount++;
            int idx;
            if (!byName.TryGetValue(Fix(path, add, drop), out idx))
            {
                if (!fixChosen && FindFix(path, all, byName, out add, out drop)) fixChosen = true;
                if (!byName.TryGetValue(Fix(path, add, drop), out idx))
                {
                    if (missing.Count < 5) missing.Add($"line {lineNo}: {path}");
                    missingCount++;
                    continue;
                }
            }
            fixChosen = true;
            var r = all[idx];
            recs.Add(r.Data);
            entries.Add(path, cls, r.Name);
        }
        if (lineCount == 0) throw new ImageSourceException($"no images in map file {MapPath} (it has no lines)");
        if (missingCount > 0)
            throw new ImageSourceException(
                $"{missingCount} of {lineCount} image(s) of map file {MapPath} not found in zip {ZipPath}: {string.Join("; ", missing)}{(missingCount > 5 ? "; …" : "")}");
        return (entries.Build(), recs.ToArray());
    }

    private static string Fix(string path, string add, int drop)
    {
        if (drop > 0)
        {
            for (int k = 0; k < drop; k++)
            {
                int s = path.IndexOf('/');
                if (s < 0) return path;
                path = path[(s + 1)..];
            }
        }
        return add + path;
    }

    private static bool FindFix(string path, List<ZipRecord> all, Dictionary<string, int> byName, out string add, out int drop)
    {
        add = "";
        drop = 0;
        // drop leading components of the map path ("train/n01/x.JPEG" → "n01/x.JPEG")
        int comps = path.Count(c => c == '/');
        for (int d = 1; d <= comps; d++)
        {
            if (byName.ContainsKey(Fix(path, "", d)))
            {
                drop = d;
                return true;
            }
        }
        // add the zip's prefix ("n01/x.JPEG" → "train/n01/x.JPEG"): the one entry ending with "/" + path
        string suffix = "/" + path;
        string? found = null;
        foreach (var r in all)
        {
            if (!r.Name.EndsWith(suffix, StringComparison.Ordinal)) continue;
            if (found != null) return false; // ambiguous
            found = r.Name;
        }
        if (found == null) return false;
        add = found[..^path.Length];
        return true;
    }

    private static IEnumerable<(int Line, string Path, int Class)> ParseMap(string mapPath)
    {
        int lineNo = 0;
        foreach (var raw in File.ReadLines(mapPath))
        {
            lineNo++;
            string line = raw.TrimEnd();
            if (line.Trim().Length == 0) continue;
            string path, cls;
            int tab = line.IndexOf('\t');
            if (tab >= 0)
            {
                path = line[..tab].Trim();
                cls = line[(tab + 1)..].Trim();
            }
            else
            {
                int sp = line.LastIndexOfAny([' ', '\t']);
                if (sp < 0)
                    throw new ImageSourceException(
                        $"map file {mapPath}, line {lineNo}: expected '<path in zip><TAB><class index>', got '{Short(line)}'");
                path = line[..sp].Trim();
                cls = line[(sp + 1)..];
            }
            if (path.Length == 0 || !int.TryParse(cls, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int c))
                throw new ImageSourceException(
                    $"map file {mapPath}, line {lineNo}: expected '<path in zip><TAB><class index>', got '{Short(line)}'");
            path = path.Replace('\\', '/').TrimStart('/');
            if (path.StartsWith("./", StringComparison.Ordinal)) path = path[2..];
            yield return (lineNo, path, c);
        }
    }

    private static string Short(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
