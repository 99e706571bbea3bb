namespace Soco.Imaging;

/// <summary>Options of <see cref="ImageDecoder"/>. The defaults reproduce PIL's <c>Image.open(p).convert('RGB')</c>.</summary>
public sealed record DecodeOptions
{
    /// <summary>
    /// PIL's <c>Image.MAX_IMAGE_PIXELS</c> (89,478,485): above it PIL only warns (DecompressionBombWarning).
    /// </summary>
    public const long PilWarningPixels = 89_478_485;

    /// <summary>
    /// Default <see cref="MaxPixels"/>: 2 × <see cref="PilWarningPixels"/> = 178,956,970, the size above which PIL's
    /// <c>Image.open</c> raises DecompressionBombError. Everything PIL opens, we open.
    /// </summary>
    public const long DefaultMaxPixels = 2 * PilWarningPixels;

    public static DecodeOptions Default { get; } = new();

    /// <summary>
    /// Apply the EXIF orientation tag (rotate / flip like PIL's <c>ImageOps.exif_transpose</c>). Off by default:
    /// PIL's open + convert ignore it, and so does SoCo.
    /// </summary>
    public bool ApplyExifOrientation { get; init; }

    /// <summary>Refuse images with width × height above this, from the header, before decoding.</summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Refuse images whose width or height is below this (checked from the header).</summary>
    public int MinSide { get; init; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> for limits no image could meet (a negative --max-pixels would refuse every image).</summary>
    public void Validate()
    {
        if (MaxPixels < 1) throw new ArgumentException($"--max-pixels must be ≥ 1, got {MaxPixels}");
        if (MinSide < 1) throw new ArgumentException($"--min-side must be ≥ 1, got {MinSide}");
    }
}
