using Soco.Data;
using Soco.Imaging;

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

    /// <summary>An opened source and store with the images still to do; <see cref="Run"/> does them.</summary>
    public sealed class Plan : IDisposable
    {
        internal Plan(Request request, IImageSource source, ProposalStore store, List<ImageEntry> todo, int inShard, int skipped)
        {
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

        /// <summary>Processes the remaining images; <paramref name="onRecord"/> runs on the calling thread after each one.</summary>
        public GenerateSummary Run(Action<ProposalRecord>? onRecord = null, CancellationToken cancel = default) =>
            ProposalGeneration.Run(Todo, InShard, Skipped,
                entry => Source.Decode(entry, Request.Decode),
                () => ProposalModes.Create(Request.Mode, Request.Switches),
                Store, Request.Options, onRecord, cancel);

        public void Dispose() => Source.Dispose();
    }

    /// <summary>Opens the source and the store (creating or resuming it) and works out what is left to do.</summary>
    public static Plan Prepare(Request request)
    {
        request.Options.Validate();
        var info = ProposalModes.Describe(request.Mode, request.Switches, request.Options.MaxSide);
        var source = ImageSources.Open(request.Images);
        try
        {
            var store = ProposalStore.OpenOrCreate(request.Store, info);
            var (todo, inShard, skipped) = ProposalGeneration.Plan(source.Entries, store, request.Options);
            return new Plan(request, source, store, todo, inShard, skipped);
        }
        catch
        {
            source.Dispose();
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
