namespace Soco.Imaging;

/// <summary>An image that cannot be decoded. <see cref="Reason"/> is a short user-facing sentence.</summary>
public sealed class ImageDecodeException : Exception
{
    public ImageDecodeException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The file (or the name given for in-memory data).</summary>
    public string Path { get; }

    /// <summary>Why, e.g. "truncated JPEG (data ends before the image is complete)".</summary>
    public string Reason { get; }
}
