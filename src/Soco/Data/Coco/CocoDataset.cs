namespace Soco.Data.Coco;

/// <summary>
/// An object-detection ground truth in memory (COCO's instances layout, whatever file it came from): images,
/// categories with their own ids, annotations, and what the reader skipped or noted on the way (one message per
/// record, naming it).
/// </summary>
public sealed class CocoDataset
{
    public CocoDataset(string source, IReadOnlyList<CocoImage> images, IReadOnlyList<CocoCategory> categories,
                       IReadOnlyList<CocoAnnotation> annotations, IReadOnlyList<string> skipped, IReadOnlyList<string> notes)
    {
        Source = source;
        Images = images;
        Categories = categories;
        Annotations = annotations;
        Skipped = skipped;
        Notes = notes;
        ImagesById = images.ToDictionary(i => i.Id);
        CategoriesById = categories.ToDictionary(c => c.Id);
    }

    /// <summary>Where it was read from (a file or folder), for messages.</summary>
    public string Source { get; }

    /// <summary>The images in file order (ids unique).</summary>
    public IReadOnlyList<CocoImage> Images { get; }

    /// <summary>The categories in file order (ids unique).</summary>
    public IReadOnlyList<CocoCategory> Categories { get; }

    /// <summary>The valid annotations in file order (ids unique; each names a listed image and category).</summary>
    public IReadOnlyList<CocoAnnotation> Annotations { get; }

    /// <summary>One message per record that was left out (bad box, unknown image or category, duplicate id).</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>One message per record kept with a fix-up (e.g. a missing <c>area</c> taken as w·h).</summary>
    public IReadOnlyList<string> Notes { get; }

    public IReadOnlyDictionary<long, CocoImage> ImagesById { get; }
    public IReadOnlyDictionary<long, CocoCategory> CategoriesById { get; }
}
