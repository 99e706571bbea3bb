using System.Diagnostics;
using Soco.Interop;
using Soco.IO;
using Soco.Modeling;
using Soco.Proposals;
using Soco.Tests.Training;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Reliability;

/// <summary>
/// Faults a user meets, injected one at a time: two processes on one store or run folder, stale locks, damaged store
/// parts, config and run files, files deleted or changed between runs, and a full disk at each write site. Each test
/// asserts what the user sees (one message naming the file) and that nothing already saved is lost.
/// </summary>
[Collection("torch")]
public class FaultInjectionTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose()
    {
        AtomicFile.WrapForTesting = null;
        _data.Dispose();
    }

    static PretrainResult Train(PretrainConfig config, PretrainOptions options)
    {
        using var run = PretrainRun.Open(config, options);
        return run.Run();
    }

    ProposalPipeline.Request Generate(string store, string? images = null) =>
        new(images ?? _data.Images, store, "soco") { Options = new GenerateOptions { Workers = 1, FlushEvery = 2 } };

    // ---- two writers

    [Fact]
    public void ASecondWriterOnARunFolderOrStoreIsRefusedNamingTheFirst()
    {
        string run = _data["run"];
        using (var held = FolderLock.Acquire(run, "a test holding the folder"))
        using (var p = ChildCli.Start(["pretrain", "--config", "demo", .. TrainingData.TinyOverrides.SelectMany(o => new[] { "--set", o }), "--images", _data.Images,
                   "--proposals", _data.Proposals, "--out", run, "--threads", "1", "--workers", "1", "--stop-after", "1"]))
        {
            Assert.Equal(2, p.Wait());
            string o = ReliabilityCases.Flat(p.Output);
            log.WriteLine(o);
            Assert.Contains("in use by another process", o);
            Assert.Contains($"pid {Environment.ProcessId}", o);
            Assert.False(File.Exists(Path.Combine(run, PretrainRun.ConfigFile)), "the refused run wrote nothing");
        }
        // In one process too (a library user opening the same run twice).
        using (var first = PretrainRun.Open(TrainingData.Tiny(), _data.Options(run)))
            Assert.Contains("already open for writing", Assert.Throws<IOException>(() => PretrainRun.Open(TrainingData.Tiny(), _data.Options(run))).Message);
        string store = _data["store"];
        using (var plan = ProposalPipeline.Prepare(Generate(store)))
            Assert.Contains("already open for writing", Assert.Throws<IOException>(() => ProposalPipeline.Prepare(Generate(store))).Message);
        // Released: the next writer gets it.
        using (ProposalPipeline.Prepare(Generate(store))) { }
    }

    [Fact]
    public void AStaleLockOfAProcessThatIsGoneIsTakenOverAndSaidSo()
    {
        // The pid of a process that has exited (reused pids are told apart by their start time).
        using var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        string run = _data["run"];
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, FolderLock.FileName), $"{{\"Pid\":{gone.Id},\"StartTicks\":1,\"Host\":\"{Environment.MachineName}\",\"Command\":\"soco pretrain\"}}");
        var notes = new List<string>();
        var r = Train(TrainingData.Tiny("epochs=1"), _data.Options(run) with { Log = notes.Add });
        Assert.Equal(PretrainStop.Finished, r.Stop);
        Assert.Contains(notes, n => n.Contains("took over a stale lock") && n.Contains($"pid {gone.Id}"));
        Assert.False(File.Exists(Path.Combine(run, FolderLock.FileName)));
        // A lock file that is not one (half-written, garbage) is stale too.
        string store = _data["store"];
        Directory.CreateDirectory(store);
        File.WriteAllText(Path.Combine(store, FolderLock.FileName), "{\"Pi");
        using var plan = ProposalPipeline.Prepare(Generate(store));
    }

    // ---- damaged files

    [Fact]
    public void ADamagedStorePartIsNamedWithWhatToDo()
    {
        string store = _data["store"];
        ProposalPipeline.Generate(Generate(store));
        var parts = ProposalStore.Open(store).PartFiles();
        Assert.True(parts.Length >= 2);
        var bytes = File.ReadAllBytes(parts[1]);
        for (int i = 12; i < bytes.Length; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(parts[1], bytes);
        var e = Assert.ThrowsAny<Exception>(() => PretrainRun.Open(TrainingData.Tiny(), _data.Options(_data["run"]) with { Proposals = store }));
        log.WriteLine(e.Message);
        Assert.IsType<ProposalStoreException>(e);
        Assert.Contains(Path.GetFileName(parts[1]), e.Message);
        Assert.Contains("delete it and re-run", e.Message);
        // Following the advice works: the part's images are redone.
        File.Delete(parts[1]);
        var s = ProposalPipeline.Generate(Generate(store));
        Assert.Equal(2, s.Done);
        Assert.Equal(6, ProposalStore.Open(store).ReadAll().Count());
    }

    [Theory]
    [InlineData(PretrainRun.ConfigFile)]
    [InlineData(PretrainRun.RunFile)]
    public void ADamagedRunFileIsNamed(string file)
    {
        string run = _data["run"];
        Train(TrainingData.Tiny(), _data.Options(run) with { StopAfterStep = 2 });
        File.WriteAllText(Path.Combine(run, file), "{\"epochs\": 3, \"bat");
        var e = Assert.Throws<InvalidDataException>(() =>
            PretrainRun.Open(null, _data.Options(run) with { Images = PretrainRun.ReadRunInfo(run)?.Images ?? _data.Images }));
        log.WriteLine(e.Message);
        Assert.Contains(Path.Combine(run, file), e.Message);
        Assert.Contains("damaged", e.Message);
    }

    [Fact]
    public void ACheckpointTornUnderItsFinalNameStopsTheRunNamingIt()
    {
        string run = _data["run"];
        Train(TrainingData.Tiny(), _data.Options(run) with { StopAfterStep = 4 });
        string newest = Path.Combine(run, CheckpointStore.Folder, CheckpointStore.StepName(4));
        File.WriteAllBytes(newest, File.ReadAllBytes(newest)[..^500]);
        var e = Assert.Throws<InvalidDataException>(() => PretrainRun.Open(TrainingData.Tiny(), _data.Options(run)));
        Assert.Contains("ckpt_step_00000004.pth", e.Message);
        Assert.Contains("The newest readable one is", e.Message);
        var r = Train(TrainingData.Tiny(), _data.Options(run) with { Restart = true });
        Assert.Equal(7, r.StepsThisSession);                     // from step 2, the newest readable
    }

    // ---- files deleted or changed between runs

    [Fact]
    public void AnImageDeletedBetweenRunsStopsTheResumeAndOneChangedIsReplacedWithALogLine()
    {
        string run = _data["run"];
        Train(TrainingData.Tiny(), _data.Options(run) with { StopAfterStep = 2 });
        string victim = Path.Combine(_data.Images, "orange.jpg");
        var keep = File.ReadAllBytes(victim);
        File.Delete(victim);
        var e = Assert.Throws<ArgumentException>(() => PretrainRun.Open(TrainingData.Tiny(), _data.Options(run)));
        Assert.Contains("images: 6", e.Message);
        Assert.Contains("now 5", e.Message);

        // Same list, damaged content: the loader replaces the image (logged) and the run goes on.
        File.WriteAllBytes(victim, keep[..(keep.Length / 3)]);
        var notes = new List<string>();
        var r = Train(TrainingData.Tiny(), _data.Options(run) with { Log = notes.Add });
        Assert.Equal(PretrainStop.Finished, r.Stop);
        Assert.Contains(notes, n => n.Contains("orange.jpg"));
    }

    // ---- a full disk at each write site

    /// <summary>Write sites, each with the writes that must fail and what must be left afterwards.</summary>
    [Fact]
    public void AFullDiskAtEachWriteSiteStopsWithAMessageAndLeavesThePreviousVersion()
    {
        var seen = new List<string>();
        void Expect(string site, Action act, string file, string? named = null)
        {
            var e = Assert.ThrowsAny<IOException>(act);
            AtomicFile.WrapForTesting = null;
            log.WriteLine($"{site}: {e.Message}");
            seen.Add(site);
            Assert.Contains("no space left", e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(named ?? Path.GetFileName(file), e.Message);
            string dir = Path.GetDirectoryName(file)!;
            if (Directory.Exists(dir)) Assert.DoesNotContain(Directory.GetFiles(dir), AtomicFile.IsTemp);
        }
        static Func<string, Stream, Stream> FullAt(string fileName, int nth = 1)
        {
            int count = 0;
            return (path, s) => Path.GetFileName(path).StartsWith(fileName, StringComparison.Ordinal) && ++count == nth ? new FullDiskStream(s, 64) : s;
        }

        // 1. A proposal part: the first part survives, the rerun does the rest.
        string store = _data["store"];
        AtomicFile.WrapForTesting = FullAt("part-", 2);
        Expect("proposal part", () => ProposalPipeline.Generate(Generate(store)), Path.Combine(store, "parts", "part-x"), "/parts/part-");
        Assert.Single(ProposalStore.Open(store).PartFiles());
        Assert.Equal(2, ProposalStore.Open(store).ReadAll().Count());
        Assert.Equal(4, ProposalPipeline.Generate(Generate(store)).Done);

        // 2. The store description of a new store.
        string store2 = _data["store2"];
        AtomicFile.WrapForTesting = FullAt("store.json");
        Expect("store.json", () => ProposalPipeline.Generate(Generate(store2)), Path.Combine(store2, "store.json"));
        Assert.False(ProposalStore.Exists(store2));

        // 3. The exported JSON: the previous export stays.
        string json = _data["train.json"];
        ProposalJson.Export(ProposalStore.Open(store), json);
        string before = File.ReadAllText(json);
        AtomicFile.WrapForTesting = FullAt("train.json");
        Expect("exported JSON", () => ProposalJson.Export(ProposalStore.Open(store), json), json);
        Assert.Equal(before, File.ReadAllText(json));

        // 4. A filtered store: no half store under the target name.
        string filtered = _data["filtered"];
        AtomicFile.WrapForTesting = FullAt("part-");
        Expect("filtered store", () => ProposalFiltering.Run(ProposalStore.Open(store), filtered, ProposalFilter.Released), Path.Combine(filtered, "parts", "part-x"), "/parts/part-");
        Assert.False(Directory.Exists(filtered));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(filtered)!, "filtered.building-*"));

        // 5. The run's config.json and run.json.
        string run = _data["run"];
        foreach (var f in new[] { PretrainRun.ConfigFile, PretrainRun.RunFile })
        {
            AtomicFile.WrapForTesting = FullAt(f);
            Expect(f, () => PretrainRun.Open(TrainingData.Tiny(), _data.Options(run)).Dispose(), Path.Combine(run, f));
            Assert.False(File.Exists(Path.Combine(run, f)) && File.ReadAllText(Path.Combine(run, f)).Length == 0);
        }

        // 6. metrics.jsonl, rewritten when a run resumes: the old file stays.
        Train(TrainingData.Tiny(), _data.Options(run) with { StopAfterStep = 2 });
        string metrics = Path.Combine(run, PretrainRun.MetricsFile);
        string m0 = File.ReadAllText(metrics);
        AtomicFile.WrapForTesting = FullAt(PretrainRun.MetricsFile);
        Expect("metrics.jsonl", () => Train(TrainingData.Tiny(), _data.Options(run)), metrics);
        Assert.Equal(m0, File.ReadAllText(metrics));

        // 7. A checkpoint (through the same atomic write): the previous one is named intact.
        AtomicFile.WrapForTesting = FullAt("ckpt_step_");
        Expect("checkpoint", () => Train(TrainingData.Tiny(), _data.Options(run)), Path.Combine(run, CheckpointStore.Folder, CheckpointStore.StepName(4)));
        Assert.Equal(PretrainStop.Finished, Train(TrainingData.Tiny(), _data.Options(run)).Stop);

        // 8. An exported model file.
        string pth = _data["backbone.pth"];
        AtomicFile.WrapForTesting = FullAt("backbone.pth");
        Expect("model export", () => ModelExport.Write(CheckpointReader.Read(run).State, ModelExport.ParseFormat("pytorch"), pth), pth);
        Assert.False(File.Exists(pth));
        log.WriteLine($"sites: {string.Join(", ", seen)}");
    }
}
