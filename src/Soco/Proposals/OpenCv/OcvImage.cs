namespace Soco.Proposals.OpenCv;

/// <summary>
/// An 8-bit image with 1..4 interleaved channels, row-major, laid out as an OpenCV <c>CV_8UC(n)</c> Mat
/// (so a colour image from <see cref="OpenCvColor"/> is in OpenCV's channel order: B, G, R or H, S, V or L, a, b).
/// </summary>
public sealed class OcvImage
{
    public OcvImage(int width, int height, int channels, byte[]? data = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        if (channels < 1 || channels > 4) throw new ArgumentException($"channels must be 1..4, got {channels}");
        Width = width;
        Height = height;
        Channels = channels;
        Data = data ?? new byte[checked(width * height * channels)];
        if (Data.Length != width * height * channels)
            throw new ArgumentException($"buffer has {Data.Length} bytes, expected {width * height * channels}");
    }

    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }

    /// <summary>Pixel bytes, row after row, channels interleaved.</summary>
    public byte[] Data { get; }

    /// <summary>One channel as a new single-channel image (OpenCV's <c>split</c>).</summary>
    public OcvImage Channel(int c)
    {
        if ((uint)c >= (uint)Channels) throw new ArgumentOutOfRangeException(nameof(c));
        var dst = new byte[Width * Height];
        int cn = Channels;
        for (int i = 0, s = c; i < dst.Length; i++, s += cn) dst[i] = Data[s];
        return new OcvImage(Width, Height, 1, dst);
    }

    /// <summary>Interleaves single-channel planes of equal size into one image (OpenCV's <c>merge</c>).</summary>
    public static OcvImage Merge(params OcvImage[] planes)
    {
        if (planes.Length < 1 || planes.Length > 4) throw new ArgumentException("1..4 planes");
        int w = planes[0].Width, h = planes[0].Height, cn = planes.Length;
        foreach (var p in planes)
            if (p.Width != w || p.Height != h || p.Channels != 1) throw new ArgumentException("planes must be single-channel and equally sized");
        var dst = new byte[w * h * cn];
        for (int c = 0; c < cn; c++)
        {
            var src = planes[c].Data;
            for (int i = 0, d = c; i < src.Length; i++, d += cn) dst[d] = src[i];
        }
        return new OcvImage(w, h, cn, dst);
    }
}
