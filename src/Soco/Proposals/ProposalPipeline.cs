using Soco.Data;
using Soco.Imaging;
using Soco.IO;

namespace Soco.Proposals;

/// <summary>The `soco proposals generate` stage as a library call: image source → generator → store.</summary>
public static class ProposalPipeline
{
    public sealed record Request(string Images, string Store, string Mode = "soco")
    {
        public SearchSwitches Switches { get; init; } = new();
        public GenerateOptions Options { get; init; } = new();
        /// <summary>Decoding limits; by default images smaller than 2×2 are refused (nothing to search in them).</summary>
        public DecodeOptions Decode { get; init; } = DefaultDecode;
    }

    public static readonly DecodeOptions DefaultDecode = new() { MinSide = 2 };

    /// <summary>Bytes allocated while opening the source and planning above which the heap is compacted before the run.</summary>
    internal const long LoadingGarbageToCompact = 32L << 20;

    /// <summary>An opened source and store with the images still to do; <see cref="Run"/> does them.</summary>
    public sealed class Plan : IDisposable
    {
        internal Plan(Request request, IImageSource source, ProposalStore store, IReadOnlyList<ImageEntry> todo, int inShard, int skipped,
            IReadOnlyList<ProposalRecord> sourceFailures, IDisposable? storeLock)
        {
            SourceFailures = sourceFailures;
            _lock = storeLock;
            Request = request;
            Source = source;
            Store = store;
            Todo = todo;
            InShard = inShard;
            Skipped = skipped;
        }

        public Request Request { get; }
        public IImageSource Source { get; }
        public ProposalStore Store { get; }
        public IReadOnlyList<ImageEntry> Todo { get; }
        public int InShard { get; }
        public int Skipped { get; }
        /// <summary>Folders of the source that could not be listed and link loops, recorded as failures by <see cref="Run"/>.</summary>
        public IReadOnlyList<ProposalRecord> SourceFailures { get; }
        readonly IDisposable? _lock;

        /// <summary>Processes the remaining images; <paramref name="onRecord"/> runs on the calling thread after each one.</summary>
        public GenerateSummary Run(Action<ProposalRecord>? onRecord = null, CancellationToken cancel = default) =>
            ProposalGeneration.Run(Todo, InShard, Skipped,
                entry => Source.Decode(entry, Request.Decode),
                () => ProposalModes.Create(Request.Mode, Request.Switches),
                Store, Request.Options, onRecord, cancel, SourceFailures);

        public void Dispose()
        {
            Source.Dispose();
            _lock?.Dispose();
        }
    }

    /// <summary>Opens the source and the store (creating or resuming it) and works out what is left to do.</summary>
    public static Plan Prepare(Request request)
    {
        request.Options.Validate();
        request.Decode.Validate();
        var info = ProposalModes.Describe(request.Mode, request.Switches, request.Options.MaxSide);
        long allocated0 = GC.GetTotalAllocatedBytes();
        var source = ImageSources.Open(request.Images);
        IDisposable? storeLock = null;
        try
        {
            // One writer per store: a second one would delete the first one's in-flight temporary files.
            storeLock = FolderLock.Acquire(request.Store, "soco proposals generate");
            var store = ProposalStore.OpenOrCreate(request.Store, info);
            var (todo, inShard, skipped) = ProposalGeneration.Plan(source.Entries, store, request.Options);
            var failures = new List<ProposalRecord>();
            if (source.Problems.Count > 0 && request.Options.ShardIndex == 0)
            {
                var have = store.ReadKeys(includeFailures: !request.Options.RetryFailed);
                foreach (var pr in source.Problems)
                    if (!have.Contains(pr.Key)) failures.Add(ProposalRecord.Failure(pr.Key, pr.Location, pr.Reason));
            }
            // Opening a large source leaves its garbage (~60 MB for a 100k-entry zip): hand it back before the workers
            // size their buffers, or the run's peak holds both (docs/scale.md, "Peak memory of selective search").
            if (GC.GetTotalAllocatedBytes() - allocated0 > LoadingGarbageToCompact) Soco.Runtime.ManagedHeap.CompactAfterLoading();
            return new Plan(request, source, store, todo, inShard, skipped, failures, storeLock);
        }
        catch
        {
            source.Dispose();
            storeLock?.Dispose();
            throw;
        }
    }

    /// <summary>Prepare and run in one call.</summary>
    public static GenerateSummary Generate(Request request, Action<ProposalRecord>? onRecord = null, CancellationToken cancel = default)
    {
        using var plan = Prepare(request);
        return plan.Run(onRecord, cancel);
    }
}
