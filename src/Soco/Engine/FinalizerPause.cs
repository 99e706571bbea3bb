using System.Diagnostics;
using System.Runtime.CompilerServices;
using Soco.Solver;

namespace Soco.Engine;

/// <summary>
/// Holds the .NET finalizer thread for the length of a training step.
/// <para>Why: in TorchSharp 0.107 a <c>Scalar</c> made by an implicit conversion (<c>t * 2.0</c>, <c>t.ge(-1.0)</c>,
/// <c>add_(x, alpha: a)</c>) is unreachable as soon as its native handle has been read; when a garbage collection
/// happens during the native call, the finalizer thread frees the scalar while LibTorch still reads it ("Unknown scalar
/// type", "Expected false to be true", or a segmentation fault — reproduced in seconds with a thread forcing
/// collections, and seen in demo runs after 50 to 1,000 steps). TorchSharp adds such a scalar itself in <c>a + b</c>, <c>add(b)</c>,
/// <c>add_(b)</c> (an implicit <c>alpha = 1</c>).</para>
/// <para>Status: the model code (<c>Soco.Modeling</c>, through <see cref="ExplicitScalars"/>) and
/// <see cref="Lars"/> now pass explicit scalars that stay alive across each native call, and
/// <c>ScalarLifetimeStressTests</c> runs RoIAlign under forced collections without this pause. The pause is still
/// required for a training step: TorchSharp's own <c>BatchNorm.forward</c> does <c>num_batches_tracked.add_(1)</c>
/// with an implicit scalar in training mode (that test caught it failing without the pause), which our code cannot
/// change.</para>
/// <para>How: an object whose finalizer waits for <see cref="Dispose"/> is made unreachable and collected; once the
/// (single) finalizer thread has entered it, no other finalizer runs until the step ends, so a scalar collected during
/// the step is freed only after it. Collections still run (memory stays bounded); only finalization is deferred. The
/// pause gives up after <see cref="Limit"/> in case something waits for pending finalizers meanwhile.</para>
/// </summary>
public sealed class FinalizerPause : IDisposable
{
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    readonly ManualResetEventSlim _release = new(false);

    public FinalizerPause()
    {
        var entered = new ManualResetEventSlim(false);
        Plant(entered, _release);
        var clock = Stopwatch.StartNew();
        // The finalizer thread may first finish the previous step's backlog; collect until it reaches the blocker.
        while (!entered.Wait(1))
        {
            GC.Collect(0, GCCollectionMode.Forced, blocking: true);
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) return;
        }
        Paused = true;
    }

    /// <summary>True when the finalizer thread is held.</summary>
    public bool Paused { get; }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void Plant(ManualResetEventSlim entered, ManualResetEventSlim release) => _ = new Blocker(entered, release);

    public void Dispose() => _release.Set();

    sealed class Blocker(ManualResetEventSlim entered, ManualResetEventSlim release)
    {
        ~Blocker()
        {
            entered.Set();
            release.Wait(Limit);
        }
    }
}
