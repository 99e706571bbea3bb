using System.Runtime;

namespace Soco.Training;

/// <summary>
/// Keeps the .NET garbage collector (and so the finalizer thread) quiet for the length of a training step.
/// <para>Why: in TorchSharp 0.107 a <c>Scalar</c> made by an implicit conversion (<c>t * 2.0</c>, <c>t.ge(-1.0)</c>,
/// <c>add_(x, alpha: a)</c>) is unreachable as soon as its native handle has been read; a garbage collection during the
/// native call lets the finalizer free the scalar while LibTorch still reads it ("Unknown scalar type", "Expected false
/// to be true", or a segmentation fault; reproduced in a few seconds with a thread forcing collections, and seen in
/// a demo run after ~50 steps). The model code is full of such conversions. Inside a no-GC region no collection runs,
/// so no finalizer is queued; finalizers already queued are run synchronously on entry.</para>
/// <para>If the process allocates more than the budget (e.g. the loader threads decoding many large images) the runtime
/// collects anyway and the region ends early; <see cref="Broken"/> reports it.</para>
/// </summary>
public sealed class FinalizerQuietRegion : IDisposable
{
    /// <summary>Bytes the process may allocate during a step before a collection ends the region. Kept small: the
    /// runtime keeps this much heap ready, so a 256 MB budget held ~450 MB more resident memory and grew it by 46 %
    /// over 2,000 demo steps (32 MB: +3.7 % over 600 steps).</summary>
    public const long DefaultBudget = 32L << 20;

    readonly bool _started;
    bool _ended;

    public FinalizerQuietRegion(long budgetBytes = DefaultBudget)
    {
        try
        {
            if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) _started = GC.TryStartNoGCRegion(budgetBytes);
        }
        catch (ArgumentOutOfRangeException) { }
        catch (InvalidOperationException) { }
        GC.WaitForPendingFinalizers();
    }

    /// <summary>True when the region was entered but a collection ended it before <see cref="Dispose"/>.</summary>
    public bool Broken { get; private set; }

    public void Dispose()
    {
        if (!_started || _ended) return;
        _ended = true;
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            try { GC.EndNoGCRegion(); }
            catch (InvalidOperationException) { Broken = true; }
        }
        else Broken = true;
    }
}
