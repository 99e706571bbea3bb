namespace Soco.Runtime;

/// <summary>The .NET heap at the start of a long run (docs/scale.md, "The loader's peak RSS").</summary>
public static class ManagedHeap
{
    /// <summary>
    /// One blocking, compacting collection that also gives the freed memory back to the system. Opening a large image
    /// source and reading a store leave tens of MB of short-lived garbage (the zip's central directory and map, every
    /// record read to build the proposal index: ~45 MB at 100k images); without it the run starts with that garbage
    /// committed and the heap's later budgets grow from there, so the peak RSS grew with the dataset by more than what
    /// the run keeps. Call once, after loading, before the steps.
    /// </summary>
    public static void CompactAfterLoading() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}
