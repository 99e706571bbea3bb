using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Soco.Data;

/// <summary>
/// Recycled native memory for the loader's large batch tensors (docs/scale.md, "The loader's peak RSS"). A batch's
/// views are LibTorch tensors over buffers of this pool: LibTorch calls <see cref="Release"/> when the last tensor
/// using a buffer is gone (views of it, copies kept by autograd included), and the buffer goes back to the pool for the
/// next batch of that size. Freshly allocated, a 38.5 MB view of 64 images at 224 px is a new mmap whose every page
/// faults in (the kernel zeroes it) and is unmapped again when freed: that was 0.8–1.0 ms of system time per sample,
/// over a third of the loader's CPU. Reused, the pages stay resident. The pool keeps at most <see cref="MaxKeptPerSize"/> free buffers
/// of one size, so what it holds is bounded by the most batches that were alive at once (the loader's window).
/// </summary>
internal static unsafe class BatchMemory
{
    /// <summary>Smaller tensors come from LibTorch's allocator (malloc reuses them without faulting anyway).</summary>
    public const long MinPooledBytes = 1 << 20;
    const int MaxKeptPerSize = 32;
    const nuint Alignment = 64; // LibTorch's CPU allocator aligns to 64 bytes (vectorised kernels rely on it)

    sealed class Pool
    {
        public readonly ConcurrentBag<IntPtr> Free = new();
        public int Kept; // ConcurrentBag.Count takes every thread's lock
    }

    static readonly ConcurrentDictionary<nuint, Pool> Pools = new();
    static readonly ConcurrentDictionary<IntPtr, nuint> Sizes = new();

    // TorchSharp's own entry point (torch::from_blob with a deleter); TorchSharp only exposes it for managed arrays.
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_new(IntPtr data, IntPtr deleter, long* sizes, int szlength, sbyte scalarType, sbyte dtype,
        int deviceType, int deviceIndex, [MarshalAs(UnmanagedType.U1)] bool requiresGrad);

    /// <summary>An uninitialised float32 CPU tensor of <paramref name="shape"/>; pooled when it is large.</summary>
    public static Tensor EmptyFloat(long[] shape)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        long bytes = count * sizeof(float);
        if (bytes < MinPooledBytes) return empty(shape, ScalarType.Float32);
        var size = (nuint)bytes;
        var pool = Pools.GetOrAdd(size, _ => new Pool());
        if (pool.Free.TryTake(out var data)) Interlocked.Decrement(ref pool.Kept);
        else
        {
            data = (IntPtr)NativeMemory.AlignedAlloc(size, Alignment);
            Sizes[data] = size;
        }
        IntPtr handle;
        fixed (long* dims = shape)
            handle = THSTensor_new(data, (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, void>)&Release, dims, shape.Length,
                (sbyte)ScalarType.Float32, (sbyte)ScalarType.Float32, 0, 0, false);
        if (handle == IntPtr.Zero)
        {
            GiveBack(data);
            throw new InvalidOperationException($"LibTorch could not make a tensor of shape [{string.Join(", ", shape)}] over a pooled buffer");
        }
        return Tensor.UnsafeCreateTensor(handle);
    }

    /// <summary>Free buffers of <paramref name="bytes"/> bytes held by the pool.</summary>
    public static int FreeBuffers(long bytes) => Pools.TryGetValue((nuint)bytes, out var pool) ? Volatile.Read(ref pool.Kept) : 0;

    // Called by LibTorch, on whatever thread drops the last reference; must not throw.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    static void Release(IntPtr data) => GiveBack(data);

    static void GiveBack(IntPtr data)
    {
        if (!Sizes.TryGetValue(data, out var size)) return;
        var pool = Pools[size];
        if (Interlocked.Increment(ref pool.Kept) <= MaxKeptPerSize)
        {
            pool.Free.Add(data);
            return;
        }
        Interlocked.Decrement(ref pool.Kept);
        Sizes.TryRemove(data, out _);
        NativeMemory.AlignedFree((void*)data);
    }
}
