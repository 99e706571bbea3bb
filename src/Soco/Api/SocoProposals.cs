using Soco.Proposals;

namespace Soco.Api;

/// <summary>What to search and where to keep it (<see cref="SocoProposals.PrepareAsync"/>).</summary>
public sealed record ProposalOptions
{
    /// <summary>Images: a folder (recursive), an ImageNet <c>train.zip</c> (with <c>train_map.txt</c> beside it) or a list file.</summary>
    public required string Images { get; init; }
    /// <summary>Output folder: <c>raw/</c> (every proposal), <c>&lt;filter&gt;/</c> (what pretraining reads) and the SoCo JSON.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary><c>soco</c> (SoCo's released selective search), <c>fast</c> or <c>quality</c> (OpenCV's presets).</summary>
    public string Mode { get; init; } = "soco";
    /// <summary>The released filter strategy by default; null keeps every proposal (no filtered store).</summary>
    public string? Filter { get; init; } = "ratio3size0308post";
    /// <summary>Images searched at once, one per thread.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Downscale images whose longer side exceeds this before searching (0: never); boxes map back.</summary>
    public int MaxSide { get; init; }
}

/// <summary>One image done: how many of how many, and its record (a failure carries its reason).</summary>
public sealed record ProposalProgress(int Done, int Total, ProposalRecord Image);

/// <summary>Where the proposals are (<see cref="SocoProposals.PrepareAsync"/>).</summary>
/// <param name="RawStore">Every proposal of every image (a resumable store).</param>
/// <param name="Store">The store pretraining reads: the filtered one, or <paramref name="RawStore"/> without a filter.</param>
/// <param name="Json">The same proposals in SoCo's JSON layout (what the official training reads).</param>
/// <param name="Generation">Counts of the search: images done now, reused, failed; proposals; time.</param>
/// <param name="Filtering">Counts of the filter, null without one.</param>
public sealed record ProposalResult(string RawStore, string Store, string Json, GenerateSummary Generation, FilterSummary? Filtering);

/// <summary>
/// Selective-search proposals for pretraining: what <c>soco proposals generate</c>, <c>filter</c> and <c>export</c> do,
/// as one call. Re-running resumes: images already in the store are skipped.
/// </summary>
public static class SocoProposals
{
    /// <summary>
    /// Searches every image (failures recorded with their reason, the rest goes on), filters with
    /// <see cref="ProposalOptions.Filter"/> and writes SoCo's JSON. Cancelling stops after the images in flight are saved
    /// (run it again to continue) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public static Task<ProposalResult> PrepareAsync(ProposalOptions options, IProgress<ProposalProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Task.Run(() =>
        {
            string raw = Path.Combine(options.OutputDirectory, "raw");
            var request = new ProposalPipeline.Request(options.Images, raw, options.Mode)
            {
                Options = new GenerateOptions { Workers = options.Workers, MaxSide = options.MaxSide },
            };
            GenerateSummary generated;
            using (var plan = ProposalPipeline.Prepare(request))
            {
                int total = plan.Todo.Count + plan.SourceFailures.Count, done = 0;
                generated = plan.Run(r => progress?.Report(new ProposalProgress(++done, total, r)), cancellationToken);
            }
            cancellationToken.ThrowIfCancellationRequested();
            string store = raw;
            FilterSummary? filtered = null;
            if (options.Filter is { } strategy)
            {
                var filter = ProposalFilter.Parse(strategy);
                store = Path.Combine(options.OutputDirectory, filter.Name);
                filtered = ProposalFiltering.Run(ProposalStore.Open(raw), store, filter, overwrite: true);
            }
            string json = Path.Combine(options.OutputDirectory, $"train_{Path.GetFileName(store)}.json");
            ProposalJson.Export(ProposalStore.Open(store), json);
            return new ProposalResult(raw, store, json, generated, filtered);
        }, cancellationToken);
    }
}
