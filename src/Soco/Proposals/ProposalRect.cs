namespace Soco.Proposals;

/// <summary>
/// A proposal rectangle as SoCo's JSON stores it: <c>[x, y, w, h]</c> in pixels of the original image.
/// Which convention w and h follow depends on the generator (docs/selective-search.md): SoCo's selective search
/// writes <c>w = max_x − min_x</c> (one less than the pixel extent), OpenCV's writes the full extent.
/// The store keeps the numbers exactly as the generator gave them.
/// </summary>
public readonly record struct ProposalRect(int X, int Y, int W, int H)
{
    public override string ToString() => $"[{X}, {Y}, {W}, {H}]";
}

/// <summary>Something that turns an image into object proposals.</summary>
public interface IProposalGenerator
{
    /// <summary>Short name used in store metadata and messages (for example "soco", "fast").</summary>
    string Name { get; }

    /// <summary>All proposals of one image, in the generator's own order, no filtering.</summary>
    ProposalRect[] Generate(Soco.Imaging.RgbImage image);
}
