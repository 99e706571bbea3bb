using System.Collections.Concurrent;

namespace Soco.Data;

/// <summary>
/// Recycled float arrays of exact lengths for the views' normalised tensors (3·S·S floats: 600 KB at 224, on the
/// large-object heap). <see cref="ViewSampleBuilder"/> rents them; <see cref="SocoLoader"/> gives a batch's arrays
/// back once it has copied them into the batch, so a worker reuses the same few arrays instead of asking the GC for
/// fresh large objects (page faults, gen-2 collections that stop every worker). Arrays never given back are simply
/// collected. Per-thread bags: a worker rents and returns on its own thread, without contention.
/// </summary>
internal static class ViewTensorPool
{
    /// <summary>At most this many arrays kept per length (about one large batch's worth).</summary>
    const int MaxPerLength = 512;

    sealed class Pool
    {
        public readonly ConcurrentBag<float[]> Bag = new();
        public int Count; // kept apart: ConcurrentBag.Count takes every thread's lock
    }

    static readonly ConcurrentDictionary<int, Pool> Pools = new();

    /// <summary>An array of exactly <paramref name="length"/> floats, contents undefined (the caller writes all of them).</summary>
    public static float[] Rent(int length)
    {
        if (Pools.TryGetValue(length, out var pool) && pool.Bag.TryTake(out var a))
        {
            Interlocked.Decrement(ref pool.Count);
            return a;
        }
        return GC.AllocateUninitializedArray<float>(length);
    }

    /// <summary>Gives <paramref name="array"/> back; the caller must not use it afterwards.</summary>
    public static void Return(float[] array)
    {
        var pool = Pools.GetOrAdd(array.Length, _ => new Pool());
        if (Interlocked.Increment(ref pool.Count) <= MaxPerLength) pool.Bag.Add(array);
        else Interlocked.Decrement(ref pool.Count);
    }
}
