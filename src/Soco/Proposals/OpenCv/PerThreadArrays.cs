namespace Soco.Proposals.OpenCv;

/// <summary>
/// Per-thread scratch arrays reused from one image to the next (one image per thread, as the generators run). The
/// OpenCV port's per-image temporaries were ~74 MB per 500-px image; allocated anew, they cost a gen0/gen1 GC every few
/// MB and a gen2 GC for most images, each of which stops every worker (bench/proposals prints these counts). An array
/// from here is longer than asked for when an earlier image was larger, and holds that image's values: callers pass
/// the length they use and write before they read. Images above <see cref="RetainMaxPixels"/> get throwaway arrays,
/// so that a thread does not keep hundreds of MB after one huge photo.
/// </summary>
internal sealed class PerThreadArrays
{
    internal const int RetainMaxPixels = 1 << 20;

    [ThreadStatic] private static PerThreadArrays? _current;

    /// <summary>The calling thread's scratch for an image of <paramref name="pixels"/> pixels.</summary>
    public static PerThreadArrays For(int pixels) => pixels > RetainMaxPixels ? new PerThreadArrays() : _current ??= new PerThreadArrays();

    private readonly Dictionary<(Type, string), Array> _arrays = [];
    private int _pixels; // the largest image (with headroom) since the arrays were last dropped
    private long _bytes; // held in _arrays (kept as a count: no local of the dropping method may hold an array)

    /// <summary>
    /// Called once per image before its search: an image larger than any since the thread's arrays were last dropped
    /// (with <see cref="Grown{T}"/>'s headroom) drops them all and hands their memory back
    /// (<see cref="ReleaseDropped"/>) before they are grown for it. The arrays stay valid for whoever still holds them.
    /// </summary>
    public static void StartImage(int pixels)
    {
        if (pixels > RetainMaxPixels) return;
        var s = _current ??= new PerThreadArrays();
        if (pixels <= s._pixels) return;
        long bytes = s._bytes;
        s._arrays.Clear();
        s._bytes = 0;
        s._pixels = pixels + pixels / 4;
        ReleaseDropped(bytes);
    }

    /// <summary>An array of at least <paramref name="length"/> elements for <paramref name="use"/> (one array per use).</summary>
    public T[] Get<T>(string use, int length)
    {
        long elementBytes = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (_arrays.TryGetValue((typeof(T), use), out var a))
        {
            if (a.Length >= length) return (T[])a;
            _bytes -= a.Length * elementBytes;
        }
        var fresh = Grown<T>(length);
        _arrays[(typeof(T), use)] = fresh;
        _bytes += fresh.Length * elementBytes;
        return fresh;
    }

    /// <summary>
    /// Called by a thread's scratch after it dropped <paramref name="bytes"/> of buffers too small for a new, larger
    /// image and before it allocates the larger ones. From 16 MB on (the buffers of a ~300×400 image), one blocking
    /// collection that compacts and decommits: the dropped buffers are large objects, freed only by a full collection,
    /// and the workers' rare full collections came long after, so the old and the new buffers were held together, by
    /// each worker, and a run's peak RSS rose with every such step (+14 to +34 MB in 10k images; docs/scale.md, "Peak
    /// memory of selective search"). A buffer grows by at least 1.25× each time, so this happens a few times a run.
    /// </summary>
    internal static void ReleaseDropped(long bytes)
    {
        if (bytes >= ReleaseAboveBytes) GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    internal const long ReleaseAboveBytes = 16L << 20;

    /// <summary>
    /// A new per-thread buffer for <paramref name="length"/> elements, with 1.25× headroom (none above 16 ×
    /// <see cref="RetainMaxPixels"/>): images of a data set differ in size, and growing to each new largest one exactly
    /// replaced a thread's buffers (large-object garbage, and gen-2 collections, which stop every worker) again and
    /// again over the first hundreds of images. Shared with the `soco` search's workspace.
    /// </summary>
    internal static T[] Grown<T>(int length) =>
        GC.AllocateUninitializedArray<T>(length <= RetainMaxPixels * 16 ? length + length / 4 : length);
}
