namespace Soco.Data;

/// <summary>How a view is cut from the image (docs/soco-reference.md §4.1).</summary>
public enum ViewKind
{
    /// <summary>The whole image resized to Size×Size, aspect ignored (V1).</summary>
    Whole,
    /// <summary>A torchvision-0.7 RandomResizedCrop with scale (CropScale, 1), ratio (3/4, 4/3), resized to Size×Size.</summary>
    RandomCrop,
    /// <summary>Another view's un-flipped, un-coloured image resized to Size×Size (SoCo* V4, the paper's V3).</summary>
    ResizeOf,
}

/// <summary>The BYOL colour pipelines of docs/soco-reference.md §4.10.</summary>
public sealed record ColorPipeline(string Name, double JitterProb, double Brightness, double Contrast, double Saturation, double Hue,
    double GrayscaleProb, double BlurProb, double BlurSigmaMin, double BlurSigmaMax, double SolarizeProb)
{
    /// <summary>"post_1" (V1): blur always, never solarize.</summary>
    public static readonly ColorPipeline Post1 = new("post_1", 0.8, 0.4, 0.4, 0.2, 0.1, 0.2, 1.0, 0.1, 2.0, 0.0);
    /// <summary>"post_2" (V2, V3, V4): blur 0.1, solarize 0.2.</summary>
    public static readonly ColorPipeline Post2 = new("post_2", 0.8, 0.4, 0.4, 0.2, 0.1, 0.2, 0.1, 0.1, 2.0, 0.2);
    /// <summary>No colour change (visualisation, geometry tests).</summary>
    public static readonly ColorPipeline None = new("none", 0, 0, 0, 0, 0, 0, 0, 0.1, 2.0, 0);
}

/// <summary>One view of a recipe. <paramref name="Source"/> is the 1-based view a <see cref="ViewKind.ResizeOf"/> view resizes.</summary>
public sealed record ViewSpec(ViewKind Kind, int Size, ColorPipeline Color, double CropScale = 0, int Source = 0, bool Cutout = false);

/// <summary>
/// A view pair (1, <paramref name="View"/>) (1-based view numbers). <paramref name="ReuseOf"/> ≠ 0: the pair copies the
/// selection of pair (1, ReuseOf) — box list of V1 and the partner's boxes with its crop (SoCo* pair (1,4), docs/soco-reference.md §4.12d).
/// </summary>
public sealed record PairSpec(int View, int ReuseOf = 0);

/// <summary>
/// A per-sample view recipe (docs/soco-reference.md §4.12): the views, the pairs, and the shared parameters. The four released recipes
/// are the static members; <see cref="ByName"/> finds them by the official class names.
/// </summary>
public sealed record ViewRecipe(string Name, IReadOnlyList<ViewSpec> Views, IReadOnlyList<PairSpec> Pairs, bool Jitter, bool AwareLevels)
{
    public int SelectK { get; init; } = 4;
    public int PaddingK { get; init; } = 4;
    public int MaxTries { get; init; } = 5;
    public double JitterProb { get; init; } = 0.5;
    public double JitterRatio { get; init; } = 0.1;
    public double FlipProb { get; init; } = 0.5;
    public double CutoutProb { get; init; } = 0.5;
    public double CutoutRatioMin { get; init; } = 0.1;
    public double CutoutRatioMax { get; init; } = 0.3;
    /// <summary>Upper bound of the cutout square's coordinates: the constructor size (224) even for a 112 view (docs/soco-reference.md §4.11).</summary>
    public int CutoutClampSize { get; init; } = 224;
    public IReadOnlyList<int> AwareRange { get; init; } = Geometry.Correspondence.AwareRange;

    /// <summary>Side of the correspondence matrix: P·L (aware) or L (C4).</summary>
    public int CorrespondenceSize => AwareLevels ? Geometry.Correspondence.Levels * PaddingK : PaddingK;

    /// <summary>(a) SoCo_C4: V1 whole 224, V2 crop (0.6, 1) → 224 with cutout; one pair, plain L×L correspondence, no jitter.</summary>
    public static ViewRecipe C4 { get; } = new("ImageAsymBboxCutout",
        [new(ViewKind.Whole, 224, ColorPipeline.Post1), new(ViewKind.RandomCrop, 224, ColorPipeline.Post2, CropScale: 0.6, Cutout: true)],
        [new(2)], Jitter: false, AwareLevels: false);

    /// <summary>(b) SoCo_FPN 400 ep: V1 whole 224, V2 crop (0.5, 1) → 224, V3 independent crop → 112; pairs (1,2), (1,3).</summary>
    public static ViewRecipe Fpn { get; } = new("ImageAsymBboxAwareMultiJitter1",
        [new(ViewKind.Whole, 224, ColorPipeline.Post1), new(ViewKind.RandomCrop, 224, ColorPipeline.Post2, CropScale: 0.5),
         new(ViewKind.RandomCrop, 112, ColorPipeline.Post2, CropScale: 0.5)],
        [new(2), new(3)], Jitter: true, AwareLevels: true);

    /// <summary>(c) SoCo_FPN 100 ep: (b) plus cutout on V2 and V3.</summary>
    public static ViewRecipe FpnCutout { get; } = new("ImageAsymBboxAwareMultiJitter1Cutout",
        [new(ViewKind.Whole, 224, ColorPipeline.Post1), new(ViewKind.RandomCrop, 224, ColorPipeline.Post2, CropScale: 0.5, Cutout: true),
         new(ViewKind.RandomCrop, 112, ColorPipeline.Post2, CropScale: 0.5, Cutout: true)],
        [new(2), new(3)], Jitter: true, AwareLevels: true);

    /// <summary>(d) SoCo* (FPN_Star): V3 crop → 192, V4 = V2 resized to 112 reusing pair (1,2).</summary>
    public static ViewRecipe FpnStar { get; } = new("ImageAsymBboxAwareMulti3ResizeExtraJitter1",
        [new(ViewKind.Whole, 224, ColorPipeline.Post1), new(ViewKind.RandomCrop, 224, ColorPipeline.Post2, CropScale: 0.5),
         new(ViewKind.RandomCrop, 192, ColorPipeline.Post2, CropScale: 0.5), new(ViewKind.ResizeOf, 112, ColorPipeline.Post2, Source: 2)],
        [new(2), new(3), new(4, ReuseOf: 2)], Jitter: true, AwareLevels: true);

    public static IReadOnlyList<ViewRecipe> All { get; } = [C4, Fpn, FpnCutout, FpnStar];

    /// <summary>
    /// The paper's V3 (docs/soco-reference.md §4.12 "[paper] vs code"): V3 is V2 downsampled to 112 and pair (1,3) reuses pair (1,2),
    /// instead of an independent 112 crop. Applies to the FPN recipes (b), (c).
    /// </summary>
    public ViewRecipe WithPaperV3()
    {
        if (Views.Count != 3 || Views[2].Kind != ViewKind.RandomCrop || Views[2].Size != 112)
            throw new InvalidOperationException($"the paper's V3 applies to the FPN recipes (3 views, V3 = 112 crop), not {Name}");
        var v3 = Views[2] with { Kind = ViewKind.ResizeOf, Source = 2, CropScale = 0 };
        return this with { Name = Name + "+PaperV3", Views = [Views[0], Views[1], v3], Pairs = [Pairs[0], new PairSpec(3, ReuseOf: 2)] };
    }

    /// <summary>Short aliases accepted by <see cref="ByName"/>.</summary>
    static readonly Dictionary<string, ViewRecipe> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["c4"] = C4, ["fpn"] = Fpn, ["fpn-cutout"] = FpnCutout, ["fpn100"] = FpnCutout, ["fpn-star"] = FpnStar, ["fpn*"] = FpnStar, ["star"] = FpnStar,
    };

    /// <summary>
    /// A recipe by its official class name (<c>ImageAsymBboxCutout</c>, …, optionally with the <c>ImageFolder</c>
    /// prefix the official code uses) or alias (c4, fpn, fpn-cutout, fpn-star); a <c>+PaperV3</c> suffix applies
    /// <see cref="WithPaperV3"/>.
    /// </summary>
    public static ViewRecipe ByName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string n = name.Trim();
        bool paper = false;
        foreach (var suffix in new[] { "+PaperV3", "+paper-v3", "+paper" })
            if (n.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) { paper = true; n = n[..^suffix.Length]; break; }
        if (n.StartsWith("ImageFolder", StringComparison.Ordinal)) n = n["ImageFolder".Length..];
        var recipe = All.FirstOrDefault(r => string.Equals(r.Name, n, StringComparison.OrdinalIgnoreCase))
            ?? (Aliases.TryGetValue(n, out var a) ? a : null)
            ?? throw new ArgumentException(
                $"unknown view recipe '{name}'; known: {string.Join(", ", All.Select(r => r.Name))} (aliases {string.Join(", ", Aliases.Keys)}; add +PaperV3 for the paper's V3)");
        return paper ? recipe.WithPaperV3() : recipe;
    }
}
