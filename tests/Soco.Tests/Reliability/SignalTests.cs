using Soco.IO;
using Soco.Proposals;
using Soco.Tests.Training;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Reliability;

/// <summary>
/// The long commands as child processes, sent SIGTERM, SIGINT, SIGHUP and SIGKILL at moments drawn from a seeded
/// generator (a moment is a point of progress — a logged step, a written part — never a time): each stops with its work
/// saved (a checkpoint at the step boundary, the finished images in the store), exits 128 + the signal's number, and a
/// rerun continues to the same result as an uninterrupted run. A SIGKILL leaves a stale lock, which the rerun takes over.
/// </summary>
[Collection("torch")]
public class SignalTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    string[] PretrainArgs(string run) =>
        ["pretrain", "--config", "demo", .. TrainingData.TinyOverrides.SelectMany(o => new[] { "--set", o }),
         "--set", "epochs=4", "--set", "checkpoint_steps=5", "--images", _data.Images, "--proposals", _data.Proposals, "--out", run, "--threads", "1", "--workers", "1"];

    static readonly (int Signal, string Name)[] Signals =
        [(ChildCli.SIGTERM, "SIGTERM"), (ChildCli.SIGKILL, "SIGKILL"), (ChildCli.SIGHUP, "SIGHUP"), (ChildCli.SIGINT, "SIGINT")];

    [Fact]
    public void PretrainStopsAtAStepBoundaryWithACheckpointOnEverySignalAndTheResumedRunIsExact()
    {
        string clean = _data["clean"], run = _data["signalled"];
        using (var p = ChildCli.Start(PretrainArgs(clean)))
            Assert.True(p.Wait() == 0, p.Output);
        var expected = MetricsLog.Read(Path.Combine(clean, PretrainRun.MetricsFile));
        Assert.Equal(12, expected.Count);

        var rng = new Random(1717);
        var moments = Enumerable.Range(1, 10).OrderBy(_ => rng.Next()).Take(Signals.Length).Order().ToArray();
        string metrics = Path.Combine(run, PretrainRun.MetricsFile);
        for (int t = 0; t < Signals.Length; t++)
        {
            var (sig, name) = Signals[t];
            // At least one step after the previous stop: a signal before the handlers are installed just ends the process.
            int at = Math.Max(moments[t], TrainingData.CountLines(metrics) + 1);
            using var p = ChildCli.Start(PretrainArgs(run));
            Assert.True(p.WaitUntil(() => TrainingData.CountLines(metrics) >= at), $"ended before step {at}: {p.Output}");
            p.Signal(sig);
            int code = p.Wait();
            int logged = MetricsLog.Read(metrics).Count;
            log.WriteLine($"{name} once {at} steps were logged: exit {code}, {logged} steps logged");
            Assert.Equal(128 + sig, code);
            if (sig == ChildCli.SIGKILL)
            {
                Assert.True(File.Exists(Path.Combine(run, FolderLock.FileName)), "a killed run cannot remove its lock");
                continue;
            }
            Assert.Contains($"{name} received", p.Output);
            Assert.False(File.Exists(Path.Combine(run, FolderLock.FileName)), "the lock is released on a clean stop");
            // The stop came at a step boundary and saved that step: nothing logged is lost.
            var (latest, bad) = new CheckpointStore(run, 2).LoadNewestReadable();
            using (latest)
            {
                Assert.Empty(bad);
                Assert.Equal(logged, latest!.Meta.Step);
            }
        }
        using (var p = ChildCli.Start(PretrainArgs(run)))
        {
            Assert.True(p.Wait() == 0, p.Output);
            Assert.Contains("resuming from", p.Output);
        }
        var actual = MetricsLog.Read(metrics);
        Assert.Equal(expected.Select(m => m.Step), actual.Select(m => m.Step));
        Assert.Equal(expected.Select(m => m.Loss), actual.Select(m => m.Loss));
        Assert.Equal(expected.Select(m => m.Lr), actual.Select(m => m.Lr));
        Assert.Contains("took over a stale lock", File.ReadAllText(Path.Combine(run, PretrainRun.LogFile)));
    }

    [Fact]
    public void ProposalGenerationStopsOnEverySignalKeepingFinishedImagesAndTheRerunGivesTheSameStore()
    {
        // The eight smallest sample photos: enough parts for four signals at distinct moments, and a quarter of the
        // selective-search time of the whole folder.
        string images = _data["photos"], clean = _data["clean-store"], store = _data["store"];
        Directory.CreateDirectory(images);
        foreach (var f in Directory.GetFiles(TestPaths.Photos).OrderBy(f => new FileInfo(f).Length).ThenBy(f => f, StringComparer.Ordinal).Take(8))
            File.Copy(f, Path.Combine(images, Path.GetFileName(f)));
        string[] Args(string s) => ["proposals", "generate", "--images", images, "--out", s, "--workers", "1", "--flush-every", "1"];
        using (var p = ChildCli.Start(Args(clean)))
            Assert.True(p.Wait() == 0, p.Output);
        var expected = ProposalStore.Open(clean).ReadAll().ToDictionary(r => r.Key);
        int total = expected.Count;

        var rng = new Random(4242);
        var moments = Enumerable.Range(1, total - 2).OrderBy(_ => rng.Next()).Take(Signals.Length).Order().ToArray();
        string parts = Path.Combine(store, "parts");
        int Parts() => Directory.Exists(parts) ? Directory.GetFiles(parts, "part-*.bin").Length : 0;
        for (int t = 0; t < Signals.Length; t++)
        {
            var (sig, name) = Signals[t];
            int at = Math.Max(moments[t], Parts() + 1);
            using var p = ChildCli.Start(Args(store));
            if (!p.WaitUntil(() => Parts() >= at)) { log.WriteLine($"{name}: finished before {at} parts"); break; }
            p.Signal(sig);
            int code = p.Wait();
            log.WriteLine($"{name} once {at} parts were written: exit {code}, {Parts()} parts");
            Assert.Equal(128 + sig, code);
            if (sig != ChildCli.SIGKILL) Assert.Contains($"{name} received", p.Output);
            // Whatever is there reads whole: no half part, no temporary file left behind after a clean stop.
            Assert.All(ProposalStore.Open(store).ReadAll(), r => Assert.True(expected.ContainsKey(r.Key), r.Key));
            if (sig != ChildCli.SIGKILL) Assert.DoesNotContain(Directory.GetFiles(parts), f => AtomicFile.IsTemp(f));
        }
        using (var p = ChildCli.Start(Args(store)))
            Assert.True(p.Wait() == 0, p.Output);
        var records = ProposalStore.Open(store).PartFiles().SelectMany(ProposalStore.ReadPart).ToList();
        Assert.Equal(total, records.Count);                                   // every image exactly once
        foreach (var r in records)
            Assert.Equal(expected[r.Key].Rects, r.Rects);                      // and the same proposals
    }
}
