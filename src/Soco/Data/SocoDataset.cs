using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Data;

/// <summary>
/// SoCo's pre-training dataset: images of an <see cref="IImageSource"/>, their proposals (looked up by key), and a
/// <see cref="ViewRecipe"/>. A sample depends only on (seed, epoch, index). Thread-safe.
/// </summary>
public sealed class SocoDataset
{
    readonly IReadOnlyDictionary<string, ProposalRecord>? _proposals;
    readonly Action<string>? _log;
    readonly object _logGate = new();
    int _missingProposals;

    /// <param name="proposals">Proposals by image key; null or a missing key → the whole image (docs/soco-reference.md §3.1).</param>
    /// <param name="log">Receives one line per problem (unreadable image replaced, bad proposals); called from worker threads, serialised.</param>
    public SocoDataset(IImageSource source, IReadOnlyDictionary<string, ProposalRecord>? proposals, ViewRecipe recipe, long seed,
        Action<string>? log = null, DecodeOptions? decode = null, bool keepDetails = false)
    {
        Source = source;
        _proposals = proposals;
        Recipe = recipe;
        Seed = seed;
        _log = log;
        Decode = decode;
        Builder = new ViewSampleBuilder(recipe, color: true, keepDetails);
    }

    public IImageSource Source { get; }
    public ViewRecipe Recipe { get; }
    public long Seed { get; }
    public DecodeOptions? Decode { get; }
    public ViewSampleBuilder Builder { get; }
    public int Count => Source.Entries.Count;
    /// <summary>Images seen so far that had no proposal record.</summary>
    public int MissingProposals => Volatile.Read(ref _missingProposals);
    /// <summary>How many following images a failed one may be replaced by before giving up on the sample.</summary>
    public int MaxReplacements { get; init; } = 16;

    /// <summary>Sample <paramref name="index"/> of <paramref name="epoch"/>; throws when its image cannot be read or decoded.</summary>
    public SocoSample Get(int index, int epoch) => Build(index, index, epoch);

    SocoSample Build(int imageIndex, int drawIndex, int epoch)
    {
        var entry = Source.Entries[imageIndex];
        var image = Source.Decode(entry, Decode);
        ProposalRecord? record = null;
        if (_proposals is not null && !_proposals.TryGetValue(entry.Key, out record))
            Interlocked.Increment(ref _missingProposals);
        var boxes = ProposalBoxes.FromRecord(record, image.Width, image.Height);
        var sample = Builder.Build(image, boxes, SampleRandom.For(Seed, epoch, drawIndex), imageIndex, entry.ClassIndex);
        if (sample.Warning is not null) Log($"{entry.Location}: {sample.Warning}");
        return sample;
    }

    /// <summary>
    /// Like <see cref="Get"/>, but a sample whose image fails (unreadable, corrupt, any per-sample error) is logged and
    /// replaced by the next image (index + 1, wrapping), drawn with the failed index's randomness so a duplicate image
    /// still gets its own views. Gives up (throws) after <see cref="MaxReplacements"/> consecutive failures.
    /// </summary>
    public SocoSample GetOrReplace(int index, int epoch)
    {
        Exception? first = null;
        for (int k = 0; k <= Math.Min(MaxReplacements, Count - 1); k++)
        {
            int imageIndex = (index + k) % Count;
            try
            {
                var s = Build(imageIndex, index, epoch);
                if (k > 0)
                    return new SocoSample
                    {
                        Index = s.Index, Label = s.Label, Images = s.Images, Sizes = s.Sizes, Pairs = s.Pairs, Details = s.Details,
                        Warning = $"image {index} replaced by image {imageIndex}" + (s.Warning is null ? "" : "; " + s.Warning),
                    };
                return s;
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                first ??= e;
                var entry = Source.Entries[imageIndex];
                Log($"skipping image {imageIndex} ({entry.Location}): {e.Message}; using image {(imageIndex + 1) % Count} instead");
            }
        }
        throw new InvalidOperationException($"sample {index}: {MaxReplacements + 1} consecutive images failed; first error: {first?.Message}", first);
    }

    void Log(string line)
    {
        if (_log is null) return;
        lock (_logGate) _log(line);
    }
}
