using Soco.Geometry;
using Soco.Imaging;

namespace Soco.Data;

/// <summary>
/// The box lists and correspondence of a view pair (1, <see cref="View"/>) as the model takes them (docs/soco-reference.md §4.12):
/// <see cref="Boxes1"/> (<c>b1_1k</c>) and <see cref="BoxesK"/> (<c>bk</c>) are L×5 row-major float32
/// <c>[x1, y1, x2, y2, id]</c> normalised and flipped; <see cref="Correspondence"/> is M×M row-major (M = P·L = 16 for
/// the FPN recipes, L = 4 for C4).
/// </summary>
public sealed record PairBoxes(int View, float[] Boxes1, float[] BoxesK, float[] Correspondence);

/// <summary>A cutout square in view pixels, inclusive and clipped to the view; <see cref="Box"/> is the index of the box it came from.</summary>
public readonly record struct CutoutSquare(int X1, int Y1, int X2, int Y2, int Box);

/// <summary>How one view was made (for `soco views`, tests and debugging).</summary>
/// <param name="Image">The view after flip and colour, before normalisation (cutout is applied to the tensor only).</param>
/// <param name="Color">The colour steps applied, in order, with their drawn parameters.</param>
public sealed record ViewDetails(int View, ViewTransform Transform, RgbImage Image, IReadOnlyList<string> Color, IReadOnlyList<CutoutSquare> Cutouts);

/// <summary>How one pair was made: crop-relative pixel boxes after clipping and padding, final normalised boxes, levels.</summary>
public sealed record PairDetails(int View, IReadOnlyList<Box> Boxes1, IReadOnlyList<Box> BoxesK, IReadOnlyList<NormBox> Norm1, IReadOnlyList<NormBox> NormK,
    int[] Levels1, int[] LevelsK, int[] Assign1, int[] AssignK, bool FellBack1, bool FellBackK, int Selected);

/// <summary>Details of a whole sample: views, pairs, the retry loop's outcome and the proposals used.</summary>
public sealed record SampleDetails(IReadOnlyList<ViewDetails> Views, IReadOnlyList<PairDetails> Pairs, int Tries, bool Accepted, ProposalBoxes Proposals);

/// <summary>
/// One training sample of a recipe: per view a normalised float32 CHW image, per pair its box lists and
/// correspondence, the dataset index and class label (docs/soco-reference.md §4.12's return tuples).
/// </summary>
public sealed class SocoSample
{
    public required int Index { get; init; }
    public required int Label { get; init; }
    /// <summary>Per view (V1, V2, …): 3·S·S floats, CHW, ImageNet-normalised.</summary>
    public required float[][] Images { get; init; }
    /// <summary>Per view its side S.</summary>
    public required int[] Sizes { get; init; }
    /// <summary>Per pair (1,2), (1,3), … its boxes and correspondence.</summary>
    public required PairBoxes[] Pairs { get; init; }
    /// <summary>Set when the builder was asked to keep details.</summary>
    public SampleDetails? Details { get; init; }
    /// <summary>Warnings about this sample's input (bad proposals, replaced image), for the log.</summary>
    public string? Warning { get; init; }
}
