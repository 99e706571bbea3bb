namespace Soco.Imaging;

/// <summary>
/// First frame of a GIF, exactly as PIL 9.4's <c>Image.open(p).convert('RGB')</c> gives it (Skia cannot: it makes
/// transparent pixels transparent black). PIL's rules, measured: the canvas is the logical screen, enlarged to
/// hold the first frame if that frame sticks out; pixels outside the frame are the transparent index when the frame
/// has one, else index 0; indices are looked up in the local colour table, else the global one; an index past the
/// end of the table, or any index when there is no table, gives the grey (i, i, i); transparency is ignored. A first
/// frame whose pixel data ends early is an error ("image file is truncated"); later frames are never read.
/// </summary>
internal static class GifDecoder
{
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> d)
    {
        if (d.Length < 10) throw new BadImageDataException("truncated GIF (data ends inside the header)");
        return (d[6] | (d[7] << 8), d[8] | (d[9] << 8));
    }

    /// <summary>Canvas size (PIL's): screen enlarged to the first frame; reads up to the first image descriptor.</summary>
    public static RgbImage Decode(byte[] d, Action<int, int> checkSize)
    {
        var r = new Reader(d);
        r.Need(13, "header");
        int sw = d[6] | (d[7] << 8), sh = d[8] | (d[9] << 8);
        byte packed = d[10];
        r.Pos = 13;
        byte[]? gct = null;
        if ((packed & 0x80) != 0)
        {
            int n = 3 << ((packed & 7) + 1);
            r.Need(n, "colour table");
            gct = d.AsSpan(r.Pos, n).ToArray();
            r.Pos += n;
        }
        int transparency = -1;
        while (true)
        {
            r.Need(1, "block list");
            byte b = d[r.Pos++];
            if (b == 0x21)
            {
                r.Need(1, "extension");
                byte label = d[r.Pos++];
                if (label == 0xF9)
                {
                    r.Need(6, "graphic control extension");
                    int size = d[r.Pos];
                    if (size >= 4 && (d[r.Pos + 1] & 1) != 0) transparency = d[r.Pos + 4];
                }
                r.SkipSubBlocks();
            }
            else if (b == 0x2C)
            {
                break;
            }
            else if (b == 0x3B)
            {
                throw new BadImageDataException("corrupt GIF (it contains no image)");
            }
            else
            {
                throw new BadImageDataException($"corrupt GIF (unexpected block 0x{b:X2})");
            }
        }

        r.Need(9, "image descriptor");
        int fx = d[r.Pos] | (d[r.Pos + 1] << 8), fy = d[r.Pos + 2] | (d[r.Pos + 3] << 8);
        int fw = d[r.Pos + 4] | (d[r.Pos + 5] << 8), fh = d[r.Pos + 6] | (d[r.Pos + 7] << 8);
        byte ip = d[r.Pos + 8];
        r.Pos += 9;
        byte[]? palette = gct;
        if ((ip & 0x80) != 0)
        {
            int n = 3 << ((ip & 7) + 1);
            r.Need(n, "colour table");
            palette = d.AsSpan(r.Pos, n).ToArray();
            r.Pos += n;
        }
        bool interlaced = (ip & 0x40) != 0;
        int w = Math.Max(sw, fx + fw), h = Math.Max(sh, fy + fh);
        if (w == 0 || h == 0) throw new BadImageDataException($"corrupt GIF (image size {w}×{h})");
        checkSize(w, h);

        var indices = new byte[(long)w * h];
        if (transparency > 0) Array.Fill(indices, (byte)transparency);
        r.Need(1, "image data");
        int minCode = d[r.Pos++];
        if (minCode is < 1 or > 11) throw new BadImageDataException($"corrupt GIF (LZW code size {minCode})");
        var frame = new byte[(long)fw * fh];
        var (got, finished) = Lzw(r, minCode, frame);
        // PIL needs every pixel and the end of the LZW data (EOI code or block terminator)
        if (got < frame.Length || !finished) throw new BadImageDataException("truncated GIF (data ends before the image is complete)");

        for (int row = 0; row < fh; row++)
        {
            int y = interlaced ? InterlacedRow(row, fh) : row;
            Array.Copy(frame, (long)row * fw, indices, (long)(fy + y) * w + fx, fw);
        }

        var lut = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
        {
            if (palette != null && i * 3 + 2 < palette.Length)
            {
                lut[i * 3] = palette[i * 3];
                lut[i * 3 + 1] = palette[i * 3 + 1];
                lut[i * 3 + 2] = palette[i * 3 + 2];
            }
            else
            {
                lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = (byte)i;
            }
        }
        var img = new RgbImage(w, h);
        var px = img.Pixels;
        for (long i = 0; i < indices.Length; i++)
        {
            int s = indices[i] * 3;
            px[i * 3] = lut[s];
            px[i * 3 + 1] = lut[s + 1];
            px[i * 3 + 2] = lut[s + 2];
        }
        return img;
    }

    private static int InterlacedRow(int row, int h)
    {
        // pass 1: every 8th row from 0; pass 2: every 8th from 4; pass 3: every 4th from 2; pass 4: every 2nd from 1
        int n1 = (h + 7) / 8, n2 = (h + 3) / 8, n3 = (h + 1) / 4;
        if (row < n1) return row * 8;
        row -= n1;
        if (row < n2) return 4 + row * 8;
        row -= n2;
        if (row < n3) return 2 + row * 4;
        row -= n3;
        return 1 + row * 2;
    }

    /// <summary>
    /// LZW-decodes the sub-blocks into <paramref name="output"/>; returns the number of pixels written and whether
    /// the data ended properly (EOI code or block terminator) rather than by running out of bytes.
    /// </summary>
    private static (long Pixels, bool Finished) Lzw(Reader r, int minCode, byte[] output)
    {
        int clear = 1 << minCode, eoi = clear + 1;
        var prefix = new short[4096];
        var suffix = new byte[4096];
        var first = new byte[4096];
        var length = new short[4096];
        for (int i = 0; i < clear; i++)
        {
            suffix[i] = first[i] = (byte)i;
            length[i] = 1;
            prefix[i] = -1;
        }
        int codeSize = minCode + 1, next = clear + 2, prev = -1;
        long outPos = 0;
        int bitBuf = 0, bitCount = 0;
        int blockLeft = 0;
        var d = r.Data;
        while (true)
        {
            // fill bits
            while (bitCount < codeSize)
            {
                if (blockLeft == 0)
                {
                    if (r.Pos >= d.Length) return (outPos, false);
                    blockLeft = d[r.Pos++];
                    if (blockLeft == 0) return (outPos, true); // block terminator
                }
                if (r.Pos >= d.Length) return (outPos, false);
                bitBuf |= d[r.Pos++] << bitCount;
                bitCount += 8;
                blockLeft--;
            }
            int code = bitBuf & ((1 << codeSize) - 1);
            bitBuf >>= codeSize;
            bitCount -= codeSize;

            if (code == clear)
            {
                codeSize = minCode + 1;
                next = clear + 2;
                prev = -1;
                continue;
            }
            if (code == eoi) return (outPos, true);
            int emit;
            if (prev == -1)
            {
                if (code >= clear) throw new BadImageDataException("corrupt GIF (invalid LZW code)");
                emit = code;
            }
            else
            {
                if (code < next && (code < clear || code > eoi))
                    emit = code;
                else if (code == next && next < 4096)
                    emit = -1; // KwKwK: string(prev) + first(prev)
                else
                    throw new BadImageDataException("corrupt GIF (invalid LZW code)");
                if (next < 4096)
                {
                    prefix[next] = (short)prev;
                    first[next] = first[prev];
                    suffix[next] = emit == -1 ? first[prev] : first[code];
                    length[next] = (short)(length[prev] + 1);
                    next++;
                    if (next == 1 << codeSize && codeSize < 12) codeSize++;
                }
                if (emit == -1) emit = code;
            }
            // write string(emit) backwards
            int len = length[emit];
            long end = outPos + len;
            for (int c = emit, k = len - 1; k >= 0; k--, c = prefix[c])
                if (outPos + k < output.Length) output[outPos + k] = suffix[c];
            outPos = Math.Min(end, output.Length); // extra pixels are dropped
            prev = code;
        }
    }

    private sealed class Reader(byte[] data)
    {
        public byte[] Data { get; } = data;
        public int Pos;

        public void Need(int n, string what)
        {
            if (Pos + n > Data.Length)
                throw new BadImageDataException($"truncated GIF (data ends inside the {what})");
        }

        public void SkipSubBlocks()
        {
            while (true)
            {
                Need(1, "extension");
                int n = Data[Pos++];
                if (n == 0) return;
                Need(n, "extension");
                Pos += n;
            }
        }
    }
}
