namespace Soco.Data.Coco;

/// <summary>One entry of <c>categories</c>. Ids are kept as the file gives them (COCO's are 1..90 with gaps).</summary>
public sealed record CocoCategory(long Id, string Name, string? Supercategory);
