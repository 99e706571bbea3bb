using Soco.Imaging;

namespace Soco.Proposals.OpenCv;

/// <summary>
/// OpenCV's selective search (ximgproc, "fast" or "quality" preset) as an <see cref="IProposalGenerator"/>. Boxes use
/// OpenCV's convention: <c>[x, y, w, h]</c> with w and h the full pixel extent (as <c>boundingRect</c> gives them).
/// The order is OpenCV's ranking order with a seeded generator instead of C <c>rand()</c> (deterministic per seed).
/// </summary>
public sealed class OpenCvSelectiveSearch : IProposalGenerator
{
    private readonly SelectiveSearchPreset _preset;
    private readonly ulong _seed;

    public OpenCvSelectiveSearch(SelectiveSearchPreset preset, ulong seed = 0x5EEDUL)
    {
        if (preset == SelectiveSearchPreset.Single) throw new ArgumentException("use Fast or Quality (or SelectiveSearchSegmentation for Single)");
        _preset = preset;
        _seed = seed;
    }

    /// <summary>The "fast" preset (2 colour spaces × 3 k × 2 strategies).</summary>
    public static OpenCvSelectiveSearch Fast() => new(SelectiveSearchPreset.Fast);

    /// <summary>The "quality" preset (5 images × 5 k × 4 strategies).</summary>
    public static OpenCvSelectiveSearch Quality() => new(SelectiveSearchPreset.Quality);

    public string Name => _preset == SelectiveSearchPreset.Fast ? "fast" : "quality";

    public ProposalRect[] Generate(RgbImage image) => new SelectiveSearchSegmentation(_preset, seed: _seed).Process(image);
}
