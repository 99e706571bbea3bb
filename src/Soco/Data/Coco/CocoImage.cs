namespace Soco.Data.Coco;

/// <summary>One entry of a COCO file's <c>images</c>: its id, file name and size (0 where the file gives none).</summary>
public sealed record CocoImage(long Id, string FileName, int Width, int Height);
