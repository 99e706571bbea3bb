using System.Runtime.InteropServices;

namespace Soco.Imaging;

/// <summary>
/// The fast JPEG path: <c>libsocojpeg.so</c> (Imaging/Native/soco_jpeg.c, built with the project where a C compiler
/// and libjpeg's headers exist) over the system's libjpeg-turbo with its SIMD kernels, decoding straight to RGB.
/// SkiaSharp's bundled libjpeg-turbo is built without SIMD (jsimd_none), which made it twice as slow as PIL's.
/// libjpeg-turbo's SIMD and C kernels give the same bytes (ISLOW IDCT, fancy upsampling, YCbCr→RGB), so the pixels
/// are those of the Skia path; anything this path does not take cleanly (errors, warnings about damaged data, CMYK /
/// YCCK, EXIF orientation wanted) goes to the Skia path, so error messages and damaged files are unchanged.
/// </summary>
internal static unsafe class NativeJpeg
{
    const int Ok = 0;

    static readonly delegate* unmanaged<byte*, nuint, int*, int*, int*, int> info;
    static readonly delegate* unmanaged<byte*, nuint, byte*, int, int, int> decodeRgb;

    static NativeJpeg()
    {
        if (Environment.GetEnvironmentVariable("SOCO_JPEG_NATIVE") == "0" || !OperatingSystem.IsLinux()) return;
        string path = Path.Combine(AppContext.BaseDirectory, "libsocojpeg.so");
        if (!File.Exists(path))
        {
            var here = Path.GetDirectoryName(typeof(NativeJpeg).Assembly.Location);
            if (string.IsNullOrEmpty(here)) return;
            path = Path.Combine(here, "libsocojpeg.so");
        }
        // A program built from the Soco package without a runtime identifier keeps it under runtimes/linux-x64/native/,
        // which the runtime's probing paths (its deps.json) know. Neither loading (e.g. libjpeg.so.62 missing): the Skia path serves.
        if (!NativeLibrary.TryLoad(path, out var lib) && !NativeLibrary.TryLoad("libsocojpeg.so", typeof(NativeJpeg).Assembly, null, out lib)) return;
        if (!NativeLibrary.TryGetExport(lib, "soco_jpeg_info", out var i) || !NativeLibrary.TryGetExport(lib, "soco_jpeg_decode_rgb", out var d)) return;
        info = (delegate* unmanaged<byte*, nuint, int*, int*, int*, int>)i;
        decodeRgb = (delegate* unmanaged<byte*, nuint, byte*, int, int, int>)d;
    }

    /// <summary>Whether the native library loaded.</summary>
    public static bool Available => decodeRgb != null;

    /// <summary>
    /// Decodes <paramref name="data"/> to RGB when the fast path takes it; null means "use the other decoder" (not
    /// loaded, not a plain YCbCr / RGB / grayscale JPEG, or any libjpeg error or warning). <paramref name="checkSize"/>
    /// sees the header size before the pixel buffer is allocated.
    /// </summary>
    public static RgbImage? TryDecode(byte[] data, Action<int, int> checkSize)
    {
        if (decodeRgb == null) return null;
        int w, h, cs;
        fixed (byte* p = data)
        {
            if (info(p, (nuint)data.Length, &w, &h, &cs) != Ok || w <= 0 || h <= 0) return null;
            checkSize(w, h);
            var img = RgbImage.Uninitialized(w, h); // libjpeg writes every row (or the image is dropped)
            fixed (byte* o = img.Pixels)
                if (decodeRgb(p, (nuint)data.Length, o, w, h) != Ok) return null;
            return img;
        }
    }
}
