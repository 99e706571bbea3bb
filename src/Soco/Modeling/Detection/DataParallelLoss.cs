using Soco.Distributed;

namespace Soco.Modeling.Detection;

/// <summary>
/// The detector's batch-wide quantities under data parallelism (docs/distributed.md §Fine-tuning): a loss that one
/// process normalises by a count over its batch (sampled anchors, sampled RoIs, mask pixels) is normalised on each rank
/// by the whole batch's count ÷ world size, so the mean of the ranks' losses — what the gradient average gives — is the
/// one-process loss whatever each rank sampled; and the padded batch size is the whole batch's. Without a group (or
/// with one rank) every value is the process's own, computed as before.
/// </summary>
public static class DataParallelLoss
{
    /// <summary>The divisor of a loss summed over <paramref name="local"/> items of this rank: max(n, 1) in one process;
    /// max(Σ ranks' n, 1) ÷ world under data parallelism. Every rank must call it at the same point.</summary>
    public static double Divisor(ProcessGroup? group, long local) =>
        group is { IsDistributed: true } g ? Math.Max(g.AllReduce(local), 1) / g.WorldSize : Math.Max(local, 1);

    /// <summary>Whether the losses are normalised over the ranks (a sum ÷ <see cref="Divisor"/> instead of a mean).</summary>
    public static bool Distributed(ProcessGroup? group) => group is { IsDistributed: true };

    /// <summary>The largest of every rank's <paramref name="value"/> (the padded batch size).</summary>
    public static long Max(ProcessGroup? group, long value) =>
        group is { IsDistributed: true } g ? (long)g.AllReduce(value, ReduceOp.Max) : value;
}
