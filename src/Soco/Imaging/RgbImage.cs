namespace Soco.Imaging;

/// <summary>
/// An 8-bit RGB image, row-major, channels interleaved (R, G, B), the layout of PIL's <c>convert('RGB')</c> and of a
/// NumPy H×W×3 uint8 array.
/// </summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[]? pixels = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        Width = width;
        Height = height;
        Pixels = pixels ?? new byte[checked(width * height * 3)];
        if (Pixels.Length != width * height * 3)
            throw new ArgumentException($"pixel buffer has {Pixels.Length} bytes, expected {width * height * 3}");
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>R, G, B bytes, row after row.</summary>
    public byte[] Pixels { get; }

    public int Index(int x, int y) => (y * Width + x) * 3;

    /// <summary>
    /// An image whose buffer is not zeroed first (<see cref="GC.AllocateUninitializedArray{T}"/>): only for
    /// producers that write every byte (decoders, resize).
    /// </summary>
    internal static RgbImage Uninitialized(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        return new RgbImage(width, height, GC.AllocateUninitializedArray<byte>(checked(width * height * 3)));
    }
}
