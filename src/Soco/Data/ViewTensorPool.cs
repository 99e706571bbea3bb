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
    const int MaxPerLength = 512;
    static readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> Pools = new();

    /// <summary>An array of exactly <paramref name="length"/> floats, contents undefined (the caller writes all of them).</summary>
    public static float[] Rent(int length) =>
        Pools.TryGetValue(length, out var bag) && bag.TryTake(out var a) ? a : GC.AllocateUninitializedArray<float>(length);

    /// <summary>Gives <paramref name="array"/> back; the caller must not use it afterwards.</summary>
    public static void Return(float[] array)
    {
        var bag = Pools.GetOrAdd(array.Length, _ => new ConcurrentBag<float[]>());
        if (bag.Count < MaxPerLength) bag.Add(array);
    }
}
