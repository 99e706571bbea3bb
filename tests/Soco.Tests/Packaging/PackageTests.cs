using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using Soco.Proposals;
using Soco.Tests.Cli;

namespace Soco.Tests.Packaging;

/// <summary>
/// The packages as a user gets them (docs/packaging.md): the build under test is packed into a temporary folder
/// (`dotnet pack`: the <c>Soco</c> library and the <c>Soco.Cli</c> tool), the tool is installed with
/// <c>dotnet tool install --tool-path</c> from that folder, and an example program is built against the packed library
/// (not a project reference). Packing once is the expensive part (~500 MB of LibTorch go into the tool), so the test
/// methods share one <see cref="PackedSoco"/>. Restore needs no network beyond the NuGet source this machine already
/// has: every dependency is in the global packages folder after the repository's own restore, and Soco itself comes
/// from the local folder.
/// </summary>
[Collection("torch")]
public sealed class PackageTests(PackedSoco packed) : IClassFixture<PackedSoco>
{
    [Fact]
    public void ToolInstalledFromThePackageRunsVersionAndProposals()
    {
        // The build under test was packed as it is: the tool prints its informational version.
        string expected = typeof(Soco.Cli.SocoCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected, packed.Tool("--version").Trim());

        string store = packed.Temp["tool-proposals"];
        string output = packed.Tool("proposals", "generate", "--images", packed.TwoPhotos, "--out", store, "--workers", "1");
        Assert.Contains($"failed images in {store}: 0", output);
        var records = ProposalStore.Open(store).ReadAll().OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(["coffee", "dog"], records.Select(r => r.Key));
        Assert.All(records, r => Assert.False(r.IsFailure, r.FailureReason));

        // The same search as the repository's build: the packaged tool changes nothing about the proposals.
        string reference = packed.Temp["repo-proposals"];
        var (code, text) = CliRunner.Run("proposals", "generate", "--images", packed.TwoPhotos, "--out", reference, "--workers", "1");
        Assert.True(code == 0, text);
        var same = ProposalStore.Open(reference).ReadAll().OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(same.Select(r => r.Rects.Length), records.Select(r => r.Rects.Length));
        for (int i = 0; i < records.Count; i++) Assert.Equal(same[i].Rects, records[i].Rects);
    }

    [Fact]
    public void LibraryPackageCarriesDocsSymbolsPresetsAndTheLoaderFixButNoLibTorch()
    {
        using var zip = ZipFile.OpenRead(packed.Package("Soco"));
        var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        foreach (var expected in new[]
                 {
                     "lib/net10.0/Soco.dll", "lib/net10.0/Soco.xml", "buildTransitive/Soco.targets", "buildTransitive/PatchGlibcxxWeak.cs",
                     "contentFiles/any/any/configs/demo.json", "contentFiles/any/any/configs/finetune/finetune_demo.json", "README.md",
                 })
            Assert.Contains(expected, names);
        // The JPEG shim travels where this build made one (a C compiler and jpeglib.h: CI has both).
        bool shim = File.Exists(Path.Combine(AppContext.BaseDirectory, "libsocojpeg.so"));
        Assert.Equal(shim, names.Contains("runtimes/linux-x64/native/libsocojpeg.so"));
        using (var reader = new StreamReader(zip.GetEntry("Soco.nuspec")!.Open()))
        {
            string nuspec = reader.ReadToEnd();
            Assert.Contains("id=\"TorchSharp\" version=\"0.107.0\"", nuspec);
            Assert.DoesNotContain("<dependency id=\"libtorch", nuspec);   // the program chooses its LibTorch (CPU per platform, or CUDA)
        }
        using var symbols = ZipFile.OpenRead(Path.ChangeExtension(packed.Package("Soco"), ".snupkg"));
        Assert.Contains(symbols.Entries, e => e.FullName == "lib/net10.0/Soco.pdb");
    }

    [Fact]
    public void ExampleProgramBuiltAgainstThePackageDetectsLikeTheCli()
    {
        // A small detector: the tiny torchvision Faster R-CNN fixture, read by the installed tool (which loads LibTorch
        // through the packaged, loader-fixed glue).
        string model = packed.Temp["tiny.model.pth"];
        packed.Tool("import", "--from", TestPaths.Fixture("detection", "detcli", "fasterrcnn_v2_tiny.pth"), "--out", model,
            "--min-size", "128", "--max-size", "200");

        string project = packed.CopyExample("detect");
        packed.Dotnet(project, "build", "-c", "Release", "--nologo", "-v", "quiet", $"-p:SocoVersion={packed.Version}",
            $"-p:RestorePackagesPath={packed.Temp["nuget"]}", $"-p:RestoreAdditionalProjectFallbackFolders={PackedSoco.GlobalPackages}");
        string dll = Directory.GetFiles(Path.Combine(project, "bin", "Release"), "DetectPhotos.dll", SearchOption.AllDirectories).Single();
        string pictures = packed.Temp["pictures"];
        string output = packed.Dotnet(project, dll, model, packed.TwoPhotos, pictures);

        // What `soco detect` of the repository's build finds at the example's threshold (0.3).
        string results = packed.Temp["cli.json"];
        var (code, text) = CliRunner.Run("detect", "--checkpoint", model, "--image", packed.TwoPhotos, "--out", results, "--score-threshold", "0.3");
        Assert.True(code == 0, text);
        using var doc = JsonDocument.Parse(File.ReadAllText(results));
        foreach (var stem in new[] { "coffee", "dog" })
        {
            var mine = doc.RootElement.EnumerateArray().Where(d => d.GetProperty("image_id").GetString() == stem).ToList();
            string line = output.Split('\n').Single(l => l.StartsWith(stem + ".", StringComparison.Ordinal));
            Assert.Contains($": {mine.Count} objects", line);
            if (mine.Count > 0)
                Assert.Contains($" {mine[0].GetProperty("score").GetDouble():F2}", line);
            Assert.True(File.Exists(Path.Combine(pictures, stem + ".png")), output);
        }
    }
}

/// <summary>The two packages packed once from the build under test, and the tool installed from them.</summary>
public sealed class PackedSoco : IDisposable
{
#if DEBUG
    const string Configuration = "Debug";
#else
    const string Configuration = "Release";
#endif

    public PackedSoco()
    {
        try
        {
            // A version of its own, so no copy of an earlier test's package in a NuGet cache can stand in for this one.
            Version = "0.1.0-test." + Guid.NewGuid().ToString("N")[..8];
            // The build under test is packed as it is (no second compile): the version goes into the packages, not the assemblies.
            foreach (var project in new[] { "src/Soco/Soco.csproj", "src/Soco.Cli/Soco.Cli.csproj" })
                Dotnet(TestPaths.RepoRoot, "pack", project, "-c", Configuration, "--no-build", "--no-restore", "-o", Packages, "--nologo", "-v", "quiet",
                    $"-p:Version={Version}", $"-p:PublishDir={Temp["publish"]}/");
            // Programs under this folder restore Soco from the local folder, everything else from the sources already configured.
            File.WriteAllText(Temp["nuget.config"],
                $"<configuration><packageSources><add key=\"soco-packed\" value=\"{Packages}\" /></packageSources></configuration>");
            Dotnet(Temp.Path, "tool", "install", "--tool-path", Temp["tools"], "--add-source", Packages, "Soco.Cli", "--version", Version);
            TwoPhotos = Temp["photos"];
            Directory.CreateDirectory(TwoPhotos);
            foreach (var photo in new[] { "dog.jpg", "coffee.png" }) File.Copy(TestPaths.Photo(photo), Path.Combine(TwoPhotos, photo));
        }
        catch
        {
            Temp.Dispose();   // xunit does not dispose a fixture whose constructor threw
            throw;
        }
    }

    public TestPaths.TempDir Temp { get; } = new();
    public string Version { get; }
    public string Packages => Temp["packages"];
    public string TwoPhotos { get; }

    public static string GlobalPackages =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public string Package(string id) => Path.Combine(Packages, $"{id}.{Version}.nupkg");

    /// <summary>The installed <c>soco</c> command; its output, or a failure with it.</summary>
    public string Tool(params string[] args) => Run(Temp.Path, Path.Combine(Temp["tools"], "soco"), args);

    public string Dotnet(string workingDirectory, params string[] args) =>
        Run(workingDirectory, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", args);

    /// <summary>The example project copied out of the repository (as a user would take it).</summary>
    public string CopyExample(string name)
    {
        string target = Temp["example-" + name];
        Copy(Path.Combine(TestPaths.RepoRoot, "examples", name), target);
        return target;
    }

    static string Run(string workingDirectory, string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The test host's MSBuild settings belong to the build that made it; the child builds choose their own. No build
        // servers are left behind (node reuse, the shared compiler).
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["UseSharedCompilation"] = "false";
        psi.Environment["DOTNET_CLI_DO_NOT_USE_MSBUILD_SERVER"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["COLUMNS"] = "200";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host) psi.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(host);
        using var process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // A guard against a hung child, not a measurement (packing takes minutes on a busy 2-core machine).
        if (!process.WaitForExit(TimeSpan.FromMinutes(20))) { process.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} hung:\n{output}"); }
        process.WaitForExit();
        string text;
        lock (output) text = output.ToString();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)}: exit {process.ExitCode}\n{text}");
        return text;
    }

    static void Copy(string from, string to)
    {
        if (File.Exists(from))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
            return;
        }
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            var parts = relative.Split(Path.DirectorySeparatorChar);
            if (parts.Any(p => p is "bin" or "obj")) continue;   // build outputs of the repository's own build
            Copy(file, Path.Combine(to, relative));
        }
    }

    public void Dispose() => Temp.Dispose();
}
