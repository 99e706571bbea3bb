using System.Diagnostics;
using System.Runtime.InteropServices;
using Soco.Runtime;
using TorchSharp;

namespace Soco.Tests.Runtime;

/// <summary>
/// SOCO_LIBTORCH (src/Soco/Runtime/TorchRuntime.cs): a CLI laid out as bench/gpu/publish makes it (no LibTorch beside
/// the assemblies) loads the LibTorch of another folder — here a copy of the bundled one, as a GPU machine's PyTorch
/// torch/lib would be — and every failure names the library and the loader's reason. Each run is a child process:
/// a process loads LibTorch once.
/// </summary>
[Collection("torch")]
public class ExternalLibTorchTests
{
    static readonly string[] LibTorchFiles = ["libc10.so", "libtorch.so", "libtorch_cpu.so"];

    static bool IsBundledLibTorch(string name) =>
        name.StartsWith("libtorch", StringComparison.Ordinal) || name.StartsWith("libc10", StringComparison.Ordinal) || name.StartsWith("libgomp", StringComparison.Ordinal) ||
        name is "libshm.so" or "libaoti_custom_ops.so" or "libbackend_with_compiler.so" or "libjitbackend_test.so" or "libnnapi_backend.so";

    [DllImport("libc", SetLastError = true)]
    static extern int link(string existing, string created);

    /// <summary>A hard link where the file system allows (libtorch_cpu.so is ~460 MB), else a copy.</summary>
    static void Place(string from, string to)
    {
        if (link(from, to) != 0) File.Copy(from, to);
    }

    /// <summary>The test build's CLI without the bundled LibTorch (the publish layout).</summary>
    static string AppWithoutLibTorch(TestPaths.TempDir dir)
    {
        string app = dir["app"];
        Directory.CreateDirectory(app);
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory))
            if (!IsBundledLibTorch(Path.GetFileName(f))) Place(f, Path.Combine(app, Path.GetFileName(f)));
        return app;
    }

    /// <summary>A LibTorch folder: the bundled libraries (+ libgomp they need), a build-version file beside it.</summary>
    static string LibTorchCopy(TestPaths.TempDir dir, string version = "2.10.0+cpu")
    {
        string lib = dir["libtorch/lib"];
        Directory.CreateDirectory(lib);
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory))
        {
            string name = Path.GetFileName(f);
            if (LibTorchFiles.Contains(name) || name.StartsWith("libgomp", StringComparison.Ordinal)) Place(f, Path.Combine(lib, name));
        }
        File.WriteAllText(dir["libtorch/build-version"], version + "\n");
        return lib;
    }

    static (int Code, string Output) Cli(string app, string? libtorch, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(app, "Soco.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "400";
        psi.Environment["OMP_NUM_THREADS"] = "1";
        if (libtorch is null) psi.Environment.Remove(TorchRuntime.LibTorchVariable);
        else psi.Environment[TorchRuntime.LibTorchVariable] = libtorch;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Error messages wrapped to the console width (at spaces), read as one line.</summary>
    static string Flat(string output) => System.Text.RegularExpressions.Regex.Replace(output, @"\s*\n\s*", " ");

    [Fact]
    public void LoadsTheLibTorchOfTheFolderAndOnlyThatOne()
    {
        using var dir = new TestPaths.TempDir();
        string app = AppWithoutLibTorch(dir), lib = LibTorchCopy(dir);
        var (code, output) = Cli(app, lib, "bench", "runtime", "--json", dir["runtime.json"]);
        Assert.True(code == 0, output);
        Assert.Contains($"libtorch: {lib}", Flat(output));
        Assert.Contains("libtorch_version: 2.10.0+cpu", Flat(output));
        Assert.Contains("sums to 16777216", Flat(output));
        Assert.Contains("version_warning: -", Flat(output));
        // The mapped libraries (read from /proc/self/maps by the child): LibTorch only from the folder, the glue from the app.
        string mapped = output.Split('\n').Single(l => l.StartsWith("mapped: ", StringComparison.Ordinal))["mapped: ".Length..].Trim();
        var paths = mapped.Split(", ");
        foreach (var name in LibTorchFiles) Assert.Contains(Path.Combine(lib, name), paths);
        Assert.Contains(Path.Combine(app, "libLibTorchSharp.so"), paths);
        Assert.All(paths.Where(p => !p.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal)), p => Assert.StartsWith(lib + "/", p));
    }

    [Fact]
    public void AnotherVersionLoadsWithAWarningAndCudaIsRefusedClearly()
    {
        using var dir = new TestPaths.TempDir();
        string app = AppWithoutLibTorch(dir), lib = LibTorchCopy(dir, "2.11.0+cu130");
        var (code, output) = Cli(app, lib, "bench", "runtime", "--device", "cuda");
        Assert.Equal(2, code);
        Assert.Contains("holds LibTorch 2.11.0+cu130; TorchSharp 0.107's glue is built against 2.10", Flat(output));
        Assert.Contains("has no libtorch_cuda.so (a CPU-only build)", Flat(output));
    }

    [Fact]
    public void ABrokenLibraryIsNamedWithTheLoadersReason()
    {
        using var dir = new TestPaths.TempDir();
        string app = AppWithoutLibTorch(dir);
        string lib = dir["broken"];
        Directory.CreateDirectory(lib);
        foreach (var name in LibTorchFiles) File.WriteAllText(Path.Combine(lib, name), "not an ELF file, long enough to have a header: " + new string('x', 200));
        var (code, output) = Cli(app, lib, "bench", "runtime");
        Assert.Equal(2, code);
        Assert.Contains($"loading {Path.Combine(lib, "libc10.so")} failed:", Flat(output));
        Assert.Contains("invalid ELF header", Flat(output)); // dlerror's own text

        var (code2, output2) = Cli(app, dir["nowhere"], "bench", "runtime");
        Assert.Equal(2, code2);
        Assert.Contains("no such folder", Flat(output2));

        Directory.CreateDirectory(dir["partial"]);
        var (code3, output3) = Cli(app, dir["partial"], "bench", "runtime");
        Assert.Equal(2, code3);
        Assert.Contains("libc10.so is missing", Flat(output3));
    }

    [Fact]
    public void ABuildWithItsOwnLibTorchRefusesASecondOne()
    {
        using var dir = new TestPaths.TempDir();
        string lib = LibTorchCopy(dir);
        var (code, output) = Cli(AppContext.BaseDirectory, lib, "bench", "runtime");
        Assert.Equal(2, code);
        Assert.Contains("has its own LibTorch beside the assemblies", Flat(output));
    }

    [Fact]
    public void CudaOnTheBundledCpuLibTorchIsAClearError()
    {
        TorchRuntime.SetThreads(1);
        var e = Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("cuda"));
        Assert.Contains("CUDA is not available", e.Message);
        Assert.Contains(TorchRuntime.LibTorchVariable, e.Message);
        Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("gpu"));
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
    }

    [Fact]
    public void VersionComesFromAPyTorchWheelsVersionFile()
    {
        using var dir = new TestPaths.TempDir();
        Directory.CreateDirectory(dir["torch/lib"]);
        File.WriteAllText(dir["torch/version.py"],
            "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n" +
            "__version__ = '2.11.0+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\ngit_version = 'abc'\nhip: Optional[str] = None\n");
        var (v, source, cuda) = ExternalLibTorch.ReadVersion(dir["torch/lib"]);
        Assert.Equal("2.11.0+cu130", v);
        Assert.Equal("13.0", cuda);
        Assert.Equal(dir["torch/version.py"], source);

        Directory.CreateDirectory(dir["bare"]);
        Assert.Null(ExternalLibTorch.ReadVersion(dir["bare"]).Version);
    }
}
