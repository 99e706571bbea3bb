namespace Soco.Data;

/// <summary>
/// The order of samples in an epoch, as PyTorch's <c>DistributedSampler</c> + <c>DataLoader(drop_last)</c> (docs/soco-reference.md §3):
/// a permutation drawn from (seed, epoch) — the same on every run and every rank —, padded by wrapping to a multiple
/// of the world size, rank r taking positions r, r + world, …; then cut into batches, the last partial batch dropped
/// when <see cref="DropLast"/>. <see cref="Batches"/> can start at any batch, for resuming mid-epoch.
/// </summary>
public sealed class EpochSampler
{
    public EpochSampler(int count, int batchSize, long seed, bool shuffle = true, bool dropLast = true, int rank = 0, int worldSize = 1)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "the dataset is empty");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} of {worldSize}");
        Count = count;
        BatchSize = batchSize;
        Seed = seed;
        Shuffle = shuffle;
        DropLast = dropLast;
        Rank = rank;
        WorldSize = worldSize;
        PerRank = (count + worldSize - 1) / worldSize;
        BatchesPerEpoch = dropLast ? PerRank / batchSize : (PerRank + batchSize - 1) / batchSize;
        if (BatchesPerEpoch == 0)
            throw new ArgumentException($"{count} images give no full batch of {batchSize}{(worldSize > 1 ? $" on each of {worldSize} ranks" : "")}; lower the batch size or keep the last batch");
    }

    public int Count { get; }
    public int BatchSize { get; }
    public long Seed { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public int Rank { get; }
    public int WorldSize { get; }
    /// <summary>Samples this rank sees per epoch (before dropping the last partial batch).</summary>
    public int PerRank { get; }
    public int BatchesPerEpoch { get; }

    /// <summary>This rank's sample indices for <paramref name="epoch"/>, in order.</summary>
    public int[] Indices(int epoch)
    {
        var all = new int[Count];
        for (int i = 0; i < Count; i++) all[i] = i;
        if (Shuffle) SampleRandom.For(Seed, epoch, -1).Shuffle(all);
        var mine = new int[PerRank];
        for (int k = 0; k < PerRank; k++) mine[k] = all[(Rank + k * WorldSize) % Count];
        return mine;
    }

    /// <summary>Which equal part of every batch this sampler yields (0 of 1: the whole batch); see <see cref="SplitBatches"/>.</summary>
    public (int Index, int Count) BatchPart { get; private init; } = (0, 1);

    /// <summary>
    /// The same batches cut into <paramref name="parts"/> equal consecutive slices, this sampler yielding slice
    /// <paramref name="part"/> (data parallelism, docs/distributed.md §Sampler): rank r of n takes slice r of every global
    /// batch, so the union over ranks of step k's batches is the one-process batch k — the same global batches
    /// whatever the world size, and a run resumes on any world size at the same (epoch, batch).
    /// </summary>
    public EpochSampler SplitBatches(int part, int parts)
    {
        if (parts < 1 || part < 0 || part >= parts) throw new ArgumentOutOfRangeException(nameof(part), $"part {part} of {parts}");
        if (BatchSize % parts != 0)
            throw new ArgumentException($"a batch of {BatchSize} does not split into {parts} equal parts (one per process); choose a batch size divisible by the number of processes");
        if (!DropLast && PerRank % BatchSize != 0)
            throw new ArgumentException("a sampler that keeps the last partial batch cannot split it into equal parts");
        return new EpochSampler(Count, BatchSize, Seed, Shuffle, DropLast, Rank, WorldSize) { BatchPart = (part, parts) };
    }

    /// <summary>The batches of <paramref name="epoch"/> from batch <paramref name="startBatch"/> on.</summary>
    public IEnumerable<int[]> Batches(int epoch, int startBatch = 0)
    {
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has {BatchesPerEpoch} batches");
        var idx = Indices(epoch);
        for (int b = startBatch; b < BatchesPerEpoch; b++)
        {
            int start = b * BatchSize;
            var batch = idx[start..Math.Min(start + BatchSize, idx.Length)];
            if (BatchPart.Count == 1) yield return batch;
            else
            {
                int n = batch.Length / BatchPart.Count;
                yield return batch[(BatchPart.Index * n)..((BatchPart.Index + 1) * n)];
            }
        }
    }
}
