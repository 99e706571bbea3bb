using static TorchSharp.torch;

namespace Soco.Structures;

/// <summary>
/// A batch of images padded to one size (torchvision's <c>ImageList</c>): <see cref="Tensor"/> N×C×H×W and the
/// unpadded (resized) size of each image, which clipping and the pooler's scales use.
/// </summary>
public sealed class ImageList
{
    public ImageList(Tensor tensor, IReadOnlyList<(long Height, long Width)> imageSizes)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(imageSizes);
        if (tensor.dim() != 4) throw new ArgumentException($"an image batch must be N×C×H×W, got shape [{string.Join(", ", tensor.shape)}].", nameof(tensor));
        if (imageSizes.Count != tensor.shape[0]) throw new ArgumentException($"{imageSizes.Count} image sizes for a batch of {tensor.shape[0]}.", nameof(imageSizes));
        for (int i = 0; i < imageSizes.Count; i++)
            if (imageSizes[i].Height < 1 || imageSizes[i].Width < 1 || imageSizes[i].Height > tensor.shape[2] || imageSizes[i].Width > tensor.shape[3])
                throw new ArgumentException($"image {i} size {imageSizes[i].Height}×{imageSizes[i].Width} does not fit the padded batch {tensor.shape[2]}×{tensor.shape[3]}.", nameof(imageSizes));
        Tensor = tensor;
        ImageSizes = imageSizes.ToArray();
    }

    public Tensor Tensor { get; }
    public IReadOnlyList<(long Height, long Width)> ImageSizes { get; }
    public int Count => ImageSizes.Count;
    public (long Height, long Width) PaddedSize => (Tensor.shape[2], Tensor.shape[3]);
}
