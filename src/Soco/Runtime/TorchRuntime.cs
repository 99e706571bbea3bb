using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using TorchSharp;

namespace Soco.Runtime;

/// <summary>
/// Loads LibTorch once and applies process-wide torch settings. By default TorchSharp loads the LibTorch bundled
/// next to the assemblies (the CPU build). With <c>SOCO_LIBTORCH=&lt;folder&gt;</c> (a folder holding
/// <c>libtorch*.so</c>, e.g. a PyTorch wheel's <c>torch/lib</c>) that LibTorch is loaded instead, CUDA libraries
/// included, before TorchSharp initialises (docs/gpu.md).
/// </summary>
public static class TorchRuntime
{
    /// <summary>Environment variable naming a folder with an existing LibTorch to load.</summary>
    public const string LibTorchVariable = "SOCO_LIBTORCH";
    /// <summary>The LibTorch release TorchSharp 0.107's glue (libLibTorchSharp.so) is compiled against.</summary>
    public const string SupportedLibTorch = "2.10";

    static readonly object Gate = new();
    static bool _ready;

    /// <summary>What <see cref="LibTorchVariable"/> loaded; null when TorchSharp's bundled LibTorch is used.</summary>
    public static ExternalLibTorch? External { get; private set; }

    /// <summary>Warnings about the loaded LibTorch (a version other than <see cref="SupportedLibTorch"/>).
    /// Default: standard error.</summary>
    public static Action<string> Warn { get; set; } = m => Console.Error.WriteLine("warning: " + m);

    /// <summary>Ensures LibTorch is loaded; throws with the loader's real reason when it cannot be.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_ready) return;
            string? folder = Environment.GetEnvironmentVariable(LibTorchVariable);
            if (!string.IsNullOrWhiteSpace(folder))
            {
                External = ExternalLibTorch.Load(folder);
                if (External.VersionMismatch is { } w) Warn(w);
            }
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(External is null
                    ? "LibTorch could not be loaded. On Debian 12 this is usually libLibTorchSharp.so asking for " +
                      "GLIBCXX_3.4.32; the build patches it (Directory.Build.targets). A build without the bundled LibTorch " +
                      $"(bench/gpu/publish) needs {LibTorchVariable}=<folder with libtorch*.so>. Run `ldd` on libLibTorchSharp.so " +
                      "in the output folder to see the real cause. Original error: " + e.Message
                    : $"{LibTorchVariable}={External.Folder}: the libraries loaded but TorchSharp did not initialise: {e.Message}", e);
            }
            if (External is not null) External.SmokeTest();
            _ready = true;
        }
    }

    /// <summary>Sets intra-op threads (tests use one: OpenMP spins under contention).</summary>
    public static void SetThreads(int threads)
    {
        EnsureLoaded();
        torch.set_num_threads(Math.Max(1, threads));
    }

    /// <summary>
    /// The device named by <paramref name="name"/> (cpu, cuda, cuda:N), with a clear reason when CUDA is asked for
    /// and this process's LibTorch cannot provide it.
    /// </summary>
    public static torch.Device ResolveDevice(string name)
    {
        EnsureLoaded();
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        if (n != "cuda" && !Regex.IsMatch(n, "^cuda:[0-9]+$"))
            throw new ArgumentException($"device must be cpu, cuda or cuda:N (got '{name}')");
        if (External is { HasCuda: false } ext)
            throw new ArgumentException($"device '{name}' asked for, but the LibTorch in {LibTorchVariable}={ext.Folder} has no libtorch_cuda.so (a CPU-only build)");
        bool available;
        try { available = torch.cuda.is_available(); }
        catch (Exception) { available = false; }
        if (!available)
            throw new ArgumentException(External is null
                ? $"device '{name}' asked for, but CUDA is not available: this build loads the bundled CPU LibTorch. " +
                  $"Point {LibTorchVariable} at a CUDA LibTorch (e.g. a PyTorch wheel's torch/lib) or install TorchSharp's CUDA package"
                : $"device '{name}' asked for: the CUDA LibTorch in {External.Folder} loaded, but it sees no usable GPU " +
                  "(check nvidia-smi, the driver and CUDA_VISIBLE_DEVICES)");
        var device = torch.device(n);
        int count = torch.cuda.device_count();
        if (device.index >= count)
            throw new ArgumentException($"device '{name}' asked for, but only {count} CUDA device(s) are visible");
        return device;
    }
}

/// <summary>A LibTorch loaded from a folder (<see cref="TorchRuntime.LibTorchVariable"/>).</summary>
public sealed class ExternalLibTorch
{
    const int RtldLazy = 0x1, RtldNow = 0x2, RtldGlobal = 0x100;

    ExternalLibTorch(string folder, string? version, string versionSource, string? cuda, IReadOnlyList<string> loaded, string glue, bool hasCuda)
    {
        Folder = folder;
        Version = version;
        VersionSource = versionSource;
        CudaVersion = cuda;
        Loaded = loaded;
        Glue = glue;
        HasCuda = hasCuda;
    }

    public string Folder { get; }
    /// <summary>The LibTorch version (e.g. 2.11.0+cu130), read from the installation's version file; null if none.</summary>
    public string? Version { get; }
    /// <summary>Where <see cref="Version"/> was read (a file), or why it is unknown.</summary>
    public string VersionSource { get; }
    /// <summary>The CUDA version the LibTorch was built with (PyTorch's version.py), null for CPU builds or unknown.</summary>
    public string? CudaVersion { get; }
    /// <summary>Full paths of the libraries loaded, in order (the glue last).</summary>
    public IReadOnlyList<string> Loaded { get; }
    /// <summary>The libLibTorchSharp.so used.</summary>
    public string Glue { get; }
    /// <summary>Whether the folder holds the CUDA libraries (libtorch_cuda.so, libc10_cuda.so) and they loaded.</summary>
    public bool HasCuda { get; }

    /// <summary>A warning when the version is not the one TorchSharp 0.107 is built against (or is unknown).</summary>
    public string? VersionMismatch => Version is null
        ? $"the LibTorch version in {Folder} is unknown ({VersionSource}); TorchSharp 0.107 is built against {TorchRuntime.SupportedLibTorch}"
        : MajorMinor(Version) == TorchRuntime.SupportedLibTorch ? null
        : $"{Folder} holds LibTorch {Version}; TorchSharp 0.107's glue is built against {TorchRuntime.SupportedLibTorch}. " +
          "It loaded (all its symbols resolved), but a changed C++ API can still misbehave: compare results with the CPU build, or " +
          "build the glue against this LibTorch (bench/gpu/build-glue)";

    public override string ToString() =>
        $"LibTorch {Version ?? "(version unknown)"}{(CudaVersion is null ? "" : $" CUDA {CudaVersion}")} from {Folder}; glue {Glue}";

    static string MajorMinor(string v)
    {
        var m = Regex.Match(v, @"^(\d+)\.(\d+)");
        return m.Success ? $"{m.Groups[1].Value}.{m.Groups[2].Value}" : v;
    }

    internal static ExternalLibTorch Load(string folderText)
    {
        string folder = Path.GetFullPath(folderText.Trim());
        string var = TorchRuntime.LibTorchVariable;
        if (!Directory.Exists(folder))
            throw new InvalidOperationException($"{var}={folderText}: no such folder (it must hold libc10.so, libtorch_cpu.so and libtorch.so, e.g. a PyTorch install's torch/lib)");
        // TorchSharp probes for its libraries beside the assemblies first, by full path: a bundled LibTorch there would
        // be mapped as a second copy next to this one, and its static initialisers abort the process ("Tried to
        // register multiple backend fallbacks"). So SOCO_LIBTORCH needs a build without it (bench/gpu/publish).
        string appDir = Path.GetDirectoryName(typeof(torch).Assembly.Location) is { Length: > 0 } d ? d : AppContext.BaseDirectory;
        foreach (var bundled in new[] { "libtorch_cpu.so", "libtorch_cuda.so" })
            if (File.Exists(Path.Combine(appDir, bundled)) && !SameFile(Path.Combine(appDir, bundled), Path.Combine(folder, bundled)))
                throw new InvalidOperationException($"{var}={folder}: this build has its own LibTorch beside the assemblies ({Path.Combine(appDir, bundled)}); " +
                    "TorchSharp would load both and abort. Use a build without the bundled LibTorch (bench/gpu/publish), or unset " + var);
        var (version, source, cuda) = ReadVersion(folder);
        string P(string name) => Path.Combine(folder, name);
        foreach (var required in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            if (!File.Exists(P(required)))
                throw new InvalidOperationException($"{var}={folder}: {required} is missing there (found: {Listing(folder)})");
        bool hasCuda = File.Exists(P("libtorch_cuda.so"));
        if (hasCuda && !File.Exists(P("libc10_cuda.so")))
            throw new InvalidOperationException($"{var}={folder}: libtorch_cuda.so is there but libc10_cuda.so is missing");

        // Dependencies first, each by full path with RTLD_GLOBAL: when TorchSharp later loads libLibTorchSharp.so, its
        // DT_NEEDED entries (libtorch.so, libc10.so, …) match these already-loaded libraries by soname, so no second
        // LibTorch (e.g. the bundled one beside the assemblies) is ever mapped.
        var order = new List<string> { "libc10.so" };
        if (hasCuda) order.Add("libc10_cuda.so");
        order.Add("libtorch_cpu.so");
        if (hasCuda) order.Add("libtorch_cuda.so");
        order.Add("libtorch.so");
        var loaded = new List<string>();
        foreach (var name in order)
        {
            DlOpen(P(name), RtldLazy | RtldGlobal, version);
            loaded.Add(P(name));
        }

        // The glue TorchSharp itself will load (it looks beside its assembly first): loaded here first, so a failure
        // is reported with the loader's reason. A glue rebuilt against this LibTorch goes in its place
        // (bench/gpu/build-glue).
        string glue = Path.Combine(appDir, "libLibTorchSharp.so");
        if (!File.Exists(glue))
            throw new InvalidOperationException($"libLibTorchSharp.so (TorchSharp's glue) not found beside the assemblies ({glue})");
        // RTLD_NOW: every symbol the glue needs from this LibTorch is resolved here, so an ABI mismatch is reported
        // now with the missing symbol's name instead of killing the process at the first call that needs it.
        DlOpen(glue, RtldNow | RtldGlobal, version, isGlue: true);
        loaded.Add(glue);

        return new ExternalLibTorch(folder, version, source, cuda, loaded, glue, hasCuda);
    }

    /// <summary>A computation through the loaded glue, so a silently incompatible LibTorch fails here, named.</summary>
    internal void SmokeTest()
    {
        try
        {
            using var six = 6.ToScalar();
            using var a = torch.arange(six, dtype: torch.float32).reshape(2, 3);
            using var b = a.matmul(a.t());
            using var s = b.sum();
            float v = s.item<float>();
            // [[0,1,2],[3,4,5]] times its transpose is [[5,14],[14,50]].
            if (v != 83f) throw new InvalidOperationException($"a 2×3 matrix product summed to {v}, expected 83");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{TorchRuntime.LibTorchVariable}={Folder} (LibTorch {Version ?? "?"}): loaded, but a first computation failed: {e.Message}. " +
                $"The glue {Glue} does not fit this LibTorch; build it against it (bench/gpu/build-glue)", e);
        }
    }

    static bool SameFile(string a, string b)
    {
        try
        {
            return File.Exists(b) && Path.GetFullPath(a) == Path.GetFullPath(b);
        }
        catch (IOException) { return false; }
    }

    static string Listing(string folder)
    {
        var names = Directory.GetFiles(folder, "*.so*").Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(12).ToList();
        return names.Count == 0 ? "no .so files" : string.Join(", ", names);
    }

    /// <summary>PyTorch wheels: <c>torch/version.py</c> beside <c>torch/lib</c>; LibTorch archives:
    /// <c>libtorch/build-version</c> beside <c>libtorch/lib</c>; or a <c>build-version</c> in the folder itself.</summary>
    internal static (string? Version, string Source, string? Cuda) ReadVersion(string folder)
    {
        string parent = Path.GetDirectoryName(folder.TrimEnd('/')) ?? folder;
        string py = Path.Combine(parent, "version.py");
        if (File.Exists(py))
        {
            string text = File.ReadAllText(py);
            var v = Regex.Match(text, @"^__version__\s*(?::[^=]*)?=\s*['""]([^'""]+)['""]", RegexOptions.Multiline);
            var c = Regex.Match(text, @"^cuda\s*(?::[^=]*)?=\s*['""]([^'""]+)['""]", RegexOptions.Multiline);
            if (v.Success) return (v.Groups[1].Value, py, c.Success ? c.Groups[1].Value : null);
        }
        foreach (var f in new[] { Path.Combine(folder, "build-version"), Path.Combine(parent, "build-version") })
            if (File.Exists(f) && File.ReadAllText(f).Trim() is { Length: > 0 } t)
                return (t.Split('\n')[0].Trim(), f, Regex.Match(t, @"\+cu(\d+)(\d)$") is { Success: true } m ? $"{m.Groups[1].Value}.{m.Groups[2].Value}" : null);
        return (null, $"neither {py} nor a build-version file", null);
    }

    // dlopen/dlerror from glibc (libc.so.6 has them since 2.34; libdl.so.2 before), so the failure text is the
    // loader's own (missing file, wrong ELF class, undefined symbol, GLIBCXX version).
    static unsafe IntPtr DlOpen(string path, int flags, string? version, bool isGlue = false)
    {
        var (open, error) = Dl.Value;
        IntPtr h;
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes) h = open(p, flags);
        if (h != IntPtr.Zero) return h;
        IntPtr e = error();
        string why = e == IntPtr.Zero ? "(no dlerror text)" : Marshal.PtrToStringUTF8(e) ?? "";
        string hint = isGlue
            ? (why.Contains("undefined symbol", StringComparison.Ordinal)
                ? $" TorchSharp 0.107's glue is built against LibTorch {TorchRuntime.SupportedLibTorch}; this one is {version ?? "of unknown version"}: " +
                  "build the glue against it (bench/gpu/build-glue) and put it in place of this one."
                : why.Contains("GLIBCXX", StringComparison.Ordinal)
                    ? " The system's libstdc++ is older than the one the glue was built with (the build marks GLIBCXX_3.4.32 weak: Directory.Build.targets)."
                    : "")
            : why.Contains("cannot open shared object", StringComparison.Ordinal) && !why.Contains(Path.GetFileName(path), StringComparison.Ordinal)
                ? " A library it depends on is not on the loader's path (for a PyTorch wheel: the nvidia-* packages' lib folders; add them to LD_LIBRARY_PATH)."
                : "";
        throw new InvalidOperationException($"{TorchRuntime.LibTorchVariable}: loading {path} failed: {why}.{hint}");
    }

    static readonly Lazy<(unsafe_dlopen Open, unsafe_dlerror Error)> Dl = new(() =>
    {
        foreach (var lib in new[] { "libc.so.6", "libdl.so.2" })
            if (NativeLibrary.TryLoad(lib, out var h) && NativeLibrary.TryGetExport(h, "dlopen", out var o) && NativeLibrary.TryGetExport(h, "dlerror", out var e))
                return (Marshal.GetDelegateForFunctionPointer<unsafe_dlopen>(o), Marshal.GetDelegateForFunctionPointer<unsafe_dlerror>(e));
        throw new InvalidOperationException("dlopen not found in libc.so.6 or libdl.so.2 (SOCO_LIBTORCH needs glibc Linux)");
    });

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    unsafe delegate IntPtr unsafe_dlopen(byte* path, int flags);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate IntPtr unsafe_dlerror();
}
