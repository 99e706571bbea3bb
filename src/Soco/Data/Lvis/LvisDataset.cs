using Soco.Data.Coco;

namespace Soco.Data.Lvis;

/// <summary>A category's frequency group in LVIS (<c>frequency</c> "r", "c", "f": in fewer than 10, 10–99, 100 or more
/// training images; docs/lvis.md §Format). <see cref="Unknown"/> where a file gives none.</summary>
public enum LvisFrequency { Unknown, Rare, Common, Frequent }

/// <summary>
/// An LVIS v1 ground truth: the COCO part (images, categories, annotations, read by the COCO reader) plus what LVIS adds
/// (docs/lvis.md §Format): per image the categories verified absent (<c>neg_category_ids</c>) and those whose objects
/// were not all annotated (<c>not_exhaustive_category_ids</c>), per category its frequency group and
/// <c>image_count</c>, and the annotations marked <c>ignore</c>.
/// </summary>
public sealed class LvisDataset
{
    public LvisDataset(CocoDataset coco, IReadOnlyDictionary<long, long[]> negativeCategories, IReadOnlyDictionary<long, long[]> notExhaustiveCategories,
                       IReadOnlyDictionary<long, LvisFrequency> frequencies, IReadOnlyDictionary<long, int> imageCounts,
                       IReadOnlySet<long> ignoredAnnotations, IReadOnlyList<string> notes)
    {
        Coco = coco;
        NegativeCategories = negativeCategories;
        NotExhaustiveCategories = notExhaustiveCategories;
        Frequencies = frequencies;
        ImageCounts = imageCounts;
        IgnoredAnnotations = ignoredAnnotations;
        Notes = notes;
    }

    /// <summary>Images, categories and annotations, as for a COCO file.</summary>
    public CocoDataset Coco { get; }

    /// <summary>Per image id: the categories verified not to be in the image (empty where the file gives none).</summary>
    public IReadOnlyDictionary<long, long[]> NegativeCategories { get; }

    /// <summary>Per image id: the categories present but not exhaustively annotated.</summary>
    public IReadOnlyDictionary<long, long[]> NotExhaustiveCategories { get; }

    /// <summary>Per category id (every category of <see cref="Coco"/>).</summary>
    public IReadOnlyDictionary<long, LvisFrequency> Frequencies { get; }

    /// <summary>Per category id: <c>image_count</c> as the file gives it (0 where absent).</summary>
    public IReadOnlyDictionary<long, int> ImageCounts { get; }

    /// <summary>Ids of annotations with a true <c>ignore</c> field (LVIS v1 has none; the LVIS API honours it).</summary>
    public IReadOnlySet<long> IgnoredAnnotations { get; }

    /// <summary>What the LVIS part of the reader noted (missing lists, unknown category ids), one line per record.</summary>
    public IReadOnlyList<string> Notes { get; }

    public string Source => Coco.Source;
}
