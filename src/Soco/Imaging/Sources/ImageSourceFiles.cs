namespace Soco.Imaging;

/// <summary>
/// A source whose entries are plain files on disk (a folder, a list file): once the entries are found and validated,
/// reading one is a file read and there is nothing to release.
/// </summary>
public abstract class FileImageSource : IImageSource
{
    private IReadOnlyList<ImageEntry> _entries = [];

    public string Description { get; private set; } = "";
    public IReadOnlyList<ImageEntry> Entries => _entries;

    /// <summary>Validates <paramref name="entries"/> (unique, non-empty keys) and adopts them.</summary>
    protected void SetEntries(IReadOnlyList<ImageEntry> entries, string what, string kind)
    {
        ImageSources.Validate(entries, what);
        _entries = entries;
        Description = $"{kind} ({entries.Count:N0} images)";
    }

    public byte[] ReadBytes(ImageEntry entry)
    {
        ImageSources.CheckOwner(this, entry);
        return ImageSources.ReadFile(entry.Location);
    }

    /// <summary>Parts of the source that could not be read as a whole (see <see cref="IImageSource.Problems"/>).</summary>
    public virtual IReadOnlyList<SourceProblem> Problems => [];

    public void Dispose() { }
}
