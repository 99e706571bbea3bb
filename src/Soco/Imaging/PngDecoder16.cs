using System.Buffers.Binary;
using System.IO.Compression;

namespace Soco.Imaging;

/// <summary>The PNG header (IHDR).</summary>
internal readonly record struct PngHeader(int Width, int Height, int BitDepth, int ColorType, bool Interlaced);

/// <summary>A reason the data cannot be decoded; <see cref="ImageDecoder"/> adds the path.</summary>
internal sealed class BadImageDataException(string reason) : Exception(reason)
{
    public string Reason { get; } = reason;
}

/// <summary>
/// PNG helpers, and a decoder for 16-bit PNGs that reproduces PIL 9.4's <c>convert('RGB')</c> exactly:
/// 16-bit gray opens as mode "I" and I→RGB clips each value to 0…255 (so 256…65535 become 255), while 16-bit
/// RGB / RGBA / gray+alpha take the high byte of each sample (rawmodes "RGB;16B", "RGBA;16B", "LA;16B"). Alpha is
/// dropped. Skia cannot give these (it scales / converts), hence the hand-written path: IHDR, IDAT inflate, unfilter,
/// Adam7.
/// </summary>
internal static class PngDecoder16
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static bool IsPng(ReadOnlySpan<byte> d) => d.Length >= 8 && d[..8].SequenceEqual(Signature);

    /// <summary>The IHDR of a PNG, or a reason it cannot be read.</summary>
    public static PngHeader ReadHeader(ReadOnlySpan<byte> d)
    {
        if (d.Length < 33) throw new BadImageDataException("truncated PNG (data ends inside the header)");
        uint len = BinaryPrimitives.ReadUInt32BigEndian(d[8..]);
        if (len != 13 || !d.Slice(12, 4).SequenceEqual("IHDR"u8))
            throw new BadImageDataException("corrupt PNG (the first chunk is not a valid IHDR)");
        if (Crc32(d.Slice(12, 17)) != BinaryPrimitives.ReadUInt32BigEndian(d[29..]))
            throw new BadImageDataException("corrupt PNG (bad header checksum)");
        uint w = BinaryPrimitives.ReadUInt32BigEndian(d[16..]);
        uint h = BinaryPrimitives.ReadUInt32BigEndian(d[20..]);
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
            throw new BadImageDataException($"corrupt PNG (invalid size {w}×{h} in the header)");
        return new PngHeader((int)w, (int)h, d[24], d[25], d[28] == 1);
    }

    /// <summary>True when the chunk structure reaches IEND without running past the end of the data.</summary>
    public static bool ChunksComplete(ReadOnlySpan<byte> d)
    {
        long pos = 8;
        while (pos + 12 <= d.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(d[(int)pos..]);
            if (d.Slice((int)pos + 4, 4).SequenceEqual("IEND"u8)) return true;
            pos += 12 + len;
        }
        return false;
    }

    /// <summary>Decodes a 16-bit PNG (any colour type but palette) to PIL-identical RGB.</summary>
    public static RgbImage Decode(byte[] data, PngHeader hdr)
    {
        int channels = hdr.ColorType switch
        {
            0 => 1,
            2 => 3,
            4 => 2,
            6 => 4,
            _ => throw new BadImageDataException($"corrupt PNG (colour type {hdr.ColorType} cannot have 16-bit samples)"),
        };
        if (hdr.BitDepth != 16) throw new ArgumentException("not a 16-bit PNG");
        int bpp = channels * 2;

        // collect IDAT
        var idat = new MemoryStream();
        int pos = 8;
        bool seenIdat = false, ended = false;
        while (pos + 8 <= data.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(pos));
            var type = data.AsSpan(pos + 4, 4);
            if (len > int.MaxValue || pos + 12L + len > data.Length)
            {
                if (type.SequenceEqual("IDAT"u8))
                    idat.Write(data, pos + 8, Math.Max(0, Math.Min((int)Math.Min(len, int.MaxValue), data.Length - pos - 8)));
                break; // the chunk runs past the end of the data
            }
            if (type.SequenceEqual("IDAT"u8))
            {
                seenIdat = true;
                idat.Write(data, pos + 8, (int)len);
            }
            else if (!seenIdat && Crc32(data.AsSpan(pos + 4, 4 + (int)len)) != BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(pos + 8 + (int)len)))
            {
                // PIL checks the CRC of the chunks before the image data
                throw new BadImageDataException($"corrupt PNG (bad checksum in the {System.Text.Encoding.ASCII.GetString(type)} chunk)");
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                ended = true;
                break;
            }
            pos += 12 + (int)len;
        }

        // passes: (x0, y0, dx, dy)
        ReadOnlySpan<(int X0, int Y0, int Dx, int Dy)> passes = hdr.Interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)];
        long rawSize = 0;
        foreach (var p in passes)
        {
            long pw = PassSize(hdr.Width, p.X0, p.Dx), ph = PassSize(hdr.Height, p.Y0, p.Dy);
            if (pw > 0 && ph > 0) rawSize += ph * (1 + pw * bpp);
        }
        if (rawSize > int.MaxValue) throw new BadImageDataException("image too large for the 16-bit PNG decoder");
        var raw = new byte[rawSize];
        int got = 0;
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            while (got < raw.Length)
            {
                int n = z.Read(raw, got, raw.Length - got);
                if (n == 0) break;
                got += n;
            }
        }
        catch (InvalidDataException)
        {
            if (!ended) throw new BadImageDataException("truncated PNG (data ends before the image is complete)");
            throw new BadImageDataException("corrupt PNG (the compressed image data is invalid)");
        }
        if (got < raw.Length)
        {
            throw new BadImageDataException(ended
                ? "corrupt PNG (the image data is shorter than the header says)"
                : "truncated PNG (data ends before the image is complete)");
        }

        var img = new RgbImage(hdr.Width, hdr.Height);
        var outPx = img.Pixels;
        int off = 0;
        foreach (var p in passes)
        {
            int pw = PassSize(hdr.Width, p.X0, p.Dx), ph = PassSize(hdr.Height, p.Y0, p.Dy);
            if (pw == 0 || ph == 0) continue;
            int rowBytes = pw * bpp;
            Span<byte> prev = new byte[rowBytes];
            for (int y = 0; y < ph; y++)
            {
                byte filter = raw[off];
                var row = raw.AsSpan(off + 1, rowBytes);
                Unfilter(filter, row, prev, bpp);
                int oy = p.Y0 + y * p.Dy;
                for (int x = 0; x < pw; x++)
                {
                    int ox = p.X0 + x * p.Dx;
                    int s = x * bpp, o = (oy * hdr.Width + ox) * 3;
                    switch (channels)
                    {
                        case 1: // mode "I": clip to 255
                        {
                            int v = (row[s] << 8) | row[s + 1];
                            byte b = (byte)Math.Min(v, 255);
                            outPx[o] = outPx[o + 1] = outPx[o + 2] = b;
                            break;
                        }
                        case 2: // "LA;16B": high byte of L
                            outPx[o] = outPx[o + 1] = outPx[o + 2] = row[s];
                            break;
                        default: // RGB / RGBA: high bytes
                            outPx[o] = row[s];
                            outPx[o + 1] = row[s + 2];
                            outPx[o + 2] = row[s + 4];
                            break;
                    }
                }
                prev = row;
                off += 1 + rowBytes;
            }
        }
        return img;
    }

    private static int PassSize(int size, int start, int step) => size <= start ? 0 : (size - start + step - 1) / step;

    private static void Unfilter(byte filter, Span<byte> row, ReadOnlySpan<byte> prev, int bpp)
    {
        switch (filter)
        {
            case 0: break;
            case 1:
                for (int i = bpp; i < row.Length; i++) row[i] += row[i - bpp];
                break;
            case 2:
                for (int i = 0; i < row.Length; i++) row[i] += prev[i];
                break;
            case 3:
                for (int i = 0; i < row.Length; i++)
                    row[i] += (byte)(((i >= bpp ? row[i - bpp] : 0) + prev[i]) >> 1);
                break;
            case 4:
                for (int i = 0; i < row.Length; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                    int pa = Math.Abs(b - c), pb = Math.Abs(a - c), pc = Math.Abs(a + b - 2 * c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
            default:
                throw new BadImageDataException($"corrupt PNG (unknown row filter {filter})");
        }
    }

    internal static uint Crc32(ReadOnlySpan<byte> d) => Soco.Imaging.Crc32.Compute(d);
}
