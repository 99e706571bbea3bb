namespace Soco.Imaging;

/// <summary>An image that cannot be used, with a short user-facing reason; the message names the file.</summary>
public class ImageDecodeException(string path, string reason) : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;
    public string Reason { get; } = reason;
}
