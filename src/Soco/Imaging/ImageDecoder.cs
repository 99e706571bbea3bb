using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using SkiaSharp;

namespace Soco.Imaging;

/// <summary>
/// Decodes an image file to 8-bit RGB exactly like PIL 9.4's <c>Image.open(p).convert('RGB')</c> (what SoCo's data
/// loader does): alpha is dropped (not composited), palettes are looked up ignoring transparency, grayscale is
/// replicated, 16-bit PNG gray is clipped to 255 and 16-bit PNG colour keeps the high byte, Adobe CMYK JPEGs are
/// inverted and converted with PIL's formula, the EXIF orientation is ignored unless asked for, and no colour
/// management (ICC, gAMA) is applied. The format is taken from the content, never from the file name.
/// JPEG, 8-bit PNG, BMP, WebP and ICO are read with SkiaSharp; 16-bit PNG and GIF (first frame) by our own
/// decoders, because Skia cannot give PIL's values for them. Every failure is an <see cref="ImageDecodeException"/> with a short reason; bad input never crashes
/// the process and never yields a half-grey image.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Reads and decodes the file at <paramref name="path"/>.</summary>
    public static RgbImage Decode(string path, DecodeOptions? options = null)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new ImageDecodeException(path, "file not found", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new ImageDecodeException(path, "file not found (its folder does not exist)", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, $"cannot read the file ({e.Message})", e);
        }
        return Decode(data, path, options);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="nameForMessages"/> names it in errors.</summary>
    public static RgbImage Decode(byte[] data, string nameForMessages, DecodeOptions? options = null) =>
        Decode(data, nameForMessages, options, allowNativeJpeg: true);

    /// <summary>As above; <paramref name="allowNativeJpeg"/> false always takes the SkiaSharp path (tests compare the two).</summary>
    internal static RgbImage Decode(byte[] data, string nameForMessages, DecodeOptions? options, bool allowNativeJpeg)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= DecodeOptions.Default;
        try
        {
            return DecodeCore(data, options, allowNativeJpeg);
        }
        catch (BadImageDataException e)
        {
            throw new ImageDecodeException(nameForMessages, e.Reason, e);
        }
        catch (ImageDecodeException)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageDecodeException(nameForMessages, $"cannot decode the image ({e.GetType().Name}: {e.Message})", e);
        }
    }

    /// <summary>Reads only the header: format name, width, height (no pixel decoding). Throws like Decode.</summary>
    public static (string Format, int Width, int Height) ReadInfo(byte[] data, string nameForMessages)
    {
        try
        {
            string fmt = Sniff(data);
            if (fmt == "PNG")
            {
                var h = PngDecoder16.ReadHeader(data);
                return (fmt, h.Width, h.Height);
            }
            if (fmt == "GIF")
            {
                var (gw, gh) = GifDecoder.ReadSize(data);
                return (fmt, gw, gh);
            }
            using var skData = SKData.CreateCopy(data);
            using var codec = SKCodec.Create(skData) ?? throw new BadImageDataException(CannotOpenReason(data, fmt));
            return (FormatName(codec.EncodedFormat), codec.Info.Width, codec.Info.Height);
        }
        catch (BadImageDataException e)
        {
            throw new ImageDecodeException(nameForMessages, e.Reason, e);
        }
    }

    private static RgbImage DecodeCore(byte[] data, DecodeOptions options, bool allowNativeJpeg)
    {
        string fmt = Sniff(data);

        if (fmt == "PNG")
        {
            var hdr = PngDecoder16.ReadHeader(data);
            CheckSize(hdr.Width, hdr.Height, options);
            if (hdr.BitDepth == 16) return PngDecoder16.Decode(data, hdr);
        }
        else if (fmt == "GIF")
        {
            var (gw, gh) = GifDecoder.ReadSize(data);
            CheckSize(gw, gh, options);
            return GifDecoder.Decode(data, (w, h) => CheckSize(w, h, options));
        }
        else if (fmt == "WebP")
        {
            // libwebp (PIL) refuses data shorter than the RIFF header says; Skia decodes what is there
            long riff = BitConverter.ToUInt32(data, 4) + 8L;
            if (data.Length < riff) throw new BadImageDataException("truncated WebP (data ends before the image is complete)");
        }

        else if (fmt == "JPEG" && allowNativeJpeg && !options.ApplyExifOrientation && JpegStructure.ReachesEoi(data) &&
                 NativeJpeg.TryDecode(data, (w, h) => CheckSize(w, h, options)) is { } fast)
            return fast;

        using var skData = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(skData) ?? throw new BadImageDataException(CannotOpenReason(data, fmt));
        if (fmt == "unknown") fmt = FormatName(codec.EncodedFormat);
        var info = codec.Info;
        CheckSize(info.Width, info.Height, options);

        bool gray = info.ColorType == SKColorType.Gray8;
        // no colour space: Skia applies no colour management (PIL applies none either); unpremultiplied: the colour
        // under alpha < 255 is kept as stored, alpha is then simply dropped.
        int bpp = gray ? 1 : 4;
        int bufLength = checked(info.Width * info.Height * bpp);
        // a pooled buffer: the decoded pixels are copied (RGBA → RGB) into the image right after
        var buf = ArrayPool<byte>.Shared.Rent(bufLength);
        try
        {
            return DecodeWithSkia(codec, data, fmt, info, gray, bpp, buf, bufLength, options);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static RgbImage DecodeWithSkia(SKCodec codec, byte[] data, string fmt, SKImageInfo info, bool gray, int bpp, byte[] buf, int bufLength, DecodeOptions options)
    {
        var dst = new SKImageInfo(info.Width, info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888,
            gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        SKCodecResult result;
        var handle = GCHandle.Alloc(buf, GCHandleType.Pinned);
        try
        {
            var opts = new SKCodecOptions(0); // first frame (animated GIF / WebP)
            result = codec.GetPixels(dst, handle.AddrOfPinnedObject(), info.Width * bpp, opts);
        }
        finally
        {
            handle.Free();
        }

        switch (result)
        {
            case SKCodecResult.Success:
                break;
            case SKCodecResult.IncompleteInput:
                throw new BadImageDataException($"truncated {fmt} (data ends before the image is complete)");
            case SKCodecResult.ErrorInInput when fmt == "PNG" && !PngDecoder16.ChunksComplete(data):
                throw new BadImageDataException("truncated PNG (data ends before the image is complete)");
            case SKCodecResult.ErrorInInput:
                throw new BadImageDataException($"corrupt {fmt} (the image data is invalid)");
            default:
                throw new BadImageDataException($"cannot decode this {fmt} ({result})");
        }
        if (fmt == "JPEG" && !JpegStructure.ReachesEoi(data))
            throw new BadImageDataException("truncated JPEG (data ends before the image is complete)");

        var img = RgbImage.Uninitialized(info.Width, info.Height); // every byte written below
        if (gray) ExpandGray(buf, bufLength, img.Pixels);
        else DropAlpha(buf, img.Pixels);

        if (options.ApplyExifOrientation && codec.EncodedOrigin != SKEncodedOrigin.TopLeft)
            img = ExifOrientation.Apply(img, (int)codec.EncodedOrigin);
        return img;
    }

    private static unsafe void ExpandGray(byte[] src, int length, byte[] dst)
    {
        fixed (byte* s0 = src, d0 = dst)
        {
            byte* s = s0, d = d0, end = s0 + length;
            for (; s < end; s++, d += 3) d[0] = d[1] = d[2] = *s;
        }
    }

    /// <summary>RGBA → RGB, alpha dropped.</summary>
    private static unsafe void DropAlpha(byte[] src, byte[] dst)
    {
        int n = dst.Length / 3;
        fixed (byte* s0 = src, d0 = dst)
        {
            byte* s = s0, d = d0;
            int i = 0;
            // 4 pixels at a time: write 12 bytes via three 32-bit stores (little-endian only: R is the low byte)
            for (; BitConverter.IsLittleEndian && i + 4 <= n; i += 4, s += 16, d += 12)
            {
                uint p0 = *(uint*)s, p1 = *(uint*)(s + 4), p2 = *(uint*)(s + 8), p3 = *(uint*)(s + 12);
                *(uint*)d = (p0 & 0xFFFFFF) | (p1 << 24);
                *(uint*)(d + 4) = ((p1 >> 8) & 0xFFFF) | (p2 << 16);
                *(uint*)(d + 8) = ((p2 >> 16) & 0xFF) | (p3 << 8);
            }
            for (; i < n; i++, s += 4, d += 3)
            {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
        }
    }

    private static void CheckSize(int w, int h, DecodeOptions o)
    {
        long pixels = (long)w * h;
        if (pixels > o.MaxPixels)
            throw new BadImageDataException(
                $"image is {w}×{h} = {Mp(pixels)}, over the limit of {Mp(o.MaxPixels)} (--max-pixels)");
        if (w < o.MinSide || h < o.MinSide)
            throw new BadImageDataException(
                $"image is {w}×{h}: smaller than the minimum of {o.MinSide} pixels per side (--min-side)");
    }

    private static string Mp(long pixels) =>
        pixels >= 10_000_000 ? $"{pixels / 1e6:0} MP" : $"{pixels / 1e6:0.#} MP ({pixels:N0} pixels)";

    /// <summary>Format from the first bytes: "JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF", ..., or "unknown".</summary>
    internal static string Sniff(ReadOnlySpan<byte> d)
    {
        if (d.Length == 0) throw new BadImageDataException("empty file (0 bytes)");
        if (JpegStructure.IsJpeg(d)) return "JPEG";
        if (PngDecoder16.IsPng(d)) return "PNG";
        if (d.StartsWith("GIF87a"u8) || d.StartsWith("GIF89a"u8)) return "GIF";
        if (d.StartsWith("BM"u8)) return "BMP";
        if (d.Length >= 12 && d.StartsWith("RIFF"u8) && d.Slice(8, 4).SequenceEqual("WEBP"u8)) return "WebP";
        if (d.StartsWith("II*\0"u8) || d.StartsWith("MM\0*"u8)) return "TIFF";
        return "unknown";
    }

    private static string CannotOpenReason(ReadOnlySpan<byte> d, string fmt)
    {
        if (fmt == "TIFF") return "unsupported image format (TIFF)";
        if ((fmt == "PNG" && !PngDecoder16.ChunksComplete(d)) || (fmt == "JPEG" && !JpegStructure.ReachesEoi(d)))
            return $"truncated {fmt} (data ends before the image is complete)";
        if (fmt != "unknown")
        {
            return d.Length < 64
                ? $"truncated {fmt} (only {d.Length} bytes: data ends inside the header)"
                : $"corrupt {fmt} (the header cannot be read)";
        }
        var head = d[..Math.Min(d.Length, 64)];
        int printable = 0;
        foreach (byte b in head)
            if (b is >= 0x20 and < 0x7F or (byte)'\t' or (byte)'\n' or (byte)'\r') printable++;
        if (printable == head.Length || (head.Length >= 16 && printable >= head.Length * 0.95))
        {
            string text = Encoding.ASCII.GetString(head).ReplaceLineEndings(" ").Replace('\t', ' ').Trim();
            if (text.Length > 32) text = text[..32] + "…";
            return $"not an image (starts with text: \"{text}\")";
        }
        var hex = Convert.ToHexString(d[..Math.Min(d.Length, 8)]);
        return $"not an image (unrecognised format; first bytes {string.Join(' ', hex.Chunk(2).Select(c => new string(c)))})";
    }

    private static string FormatName(SKEncodedImageFormat f) => f switch
    {
        SKEncodedImageFormat.Jpeg => "JPEG",
        SKEncodedImageFormat.Png => "PNG",
        SKEncodedImageFormat.Gif => "GIF",
        SKEncodedImageFormat.Bmp => "BMP",
        SKEncodedImageFormat.Webp => "WebP",
        SKEncodedImageFormat.Ico => "ICO",
        SKEncodedImageFormat.Wbmp => "WBMP",
        _ => f.ToString(),
    };
}
