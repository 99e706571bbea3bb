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

    /// <summary>An array of at least <paramref name="length"/> elements for <paramref name="use"/> (one array per use).</summary>
    public T[] Get<T>(string use, int length)
    {
        if (_arrays.TryGetValue((typeof(T), use), out var a) && a.Length >= length) return (T[])a;
        var fresh = Grown<T>(length);
        _arrays[(typeof(T), use)] = fresh;
        return fresh;
    }

    /// <summary>
    /// A new per-thread buffer for <paramref name="length"/> elements, with 1.25× headroom (none above 16 ×
    /// <see cref="RetainMaxPixels"/>): images of a data set differ in size, and growing to each new largest one exactly
    /// replaced a thread's buffers (large-object garbage, and gen-2 collections, which stop every worker) again and
    /// again over the first hundreds of images. Shared with the `soco` search's workspace.
    /// </summary>
    internal static T[] Grown<T>(int length) =>
        GC.AllocateUninitializedArray<T>(length <= RetainMaxPixels * 16 ? length + length / 4 : length);
}
