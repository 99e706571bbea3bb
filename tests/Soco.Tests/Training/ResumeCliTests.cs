using System.Diagnostics;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Training;

/// <summary>The CLI as a child process: killed with SIGKILL at random steps and resumed, it gives the same loss at every
/// step as an uninterrupted run; bad input ends with one clear line and exit code 2.</summary>
[Collection("torch")]
public class ResumeCliTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    string[] Args(string run, params string[] more) =>
        ["pretrain", "--config", "demo", .. TrainingData.TinyOverrides.SelectMany(o => new[] { "--set", o }),
         "--set", "epochs=4", "--images", _data.Images, "--proposals", _data.Proposals, "--out", run, "--threads", "1", "--workers", "1", .. more];

    [Fact]
    public void KilledAtRandomStepsAndResumedGivesTheSameLossAtEveryStep()
    {
        string clean = _data["clean"], killed = _data["killed"];
        using (var p = TrainingData.StartCli(Args(clean)))
            Assert.True(p.Wait() == 0, p.Output);
        var expected = MetricsLog.Read(Path.Combine(clean, PretrainRun.MetricsFile));
        Assert.Equal(12, expected.Count);

        int seed = Environment.TickCount & 0xFFFF;
        var rng = new Random(seed);
        var killAt = Enumerable.Range(1, 10).OrderBy(_ => rng.Next()).Take(3).Order().ToArray();
        log.WriteLine($"seed {seed}: SIGKILL once the metrics show steps {string.Join(", ", killAt)}");
        string metrics = Path.Combine(killed, PretrainRun.MetricsFile);
        foreach (int k in killAt)
        {
            using var p = TrainingData.StartCli(Args(killed));
            while (!p.Process.HasExited && TrainingData.CountLines(metrics) < k) Thread.Sleep(2);
            Assert.False(p.Process.HasExited, $"the run ended before step {k}: {p.Output}");
            p.Process.Kill(entireProcessTree: true);   // SIGKILL
            p.Process.WaitForExit();
            log.WriteLine($"killed at {TrainingData.CountLines(metrics)} logged steps; checkpoints: " +
                          string.Join(", ", Directory.Exists(Path.Combine(killed, CheckpointStore.Folder)) ? Directory.GetFiles(Path.Combine(killed, CheckpointStore.Folder)).Select(Path.GetFileName) : []));
        }
        using (var p = TrainingData.StartCli(Args(killed)))
        {
            Assert.True(p.Wait() == 0, p.Output);
            Assert.Contains("resuming from", p.Output);
        }
        var actual = MetricsLog.Read(metrics);
        Assert.Equal(expected.Select(m => m.Step), actual.Select(m => m.Step));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Loss == actual[i].Loss, $"step {expected[i].Step}: loss {actual[i].Loss:R} after kills vs {expected[i].Loss:R}");
            Assert.Equal(expected[i].Lr, actual[i].Lr);
            Assert.Equal(expected[i].EmaMomentum, actual[i].EmaMomentum);
        }
        // Each session started its own TensorBoard file; the resumed ones mark where TensorBoard must drop old events.
        Assert.True(Directory.GetFiles(Path.Combine(killed, PretrainRun.TensorBoardFolder)).Length >= 2);
    }

    [Fact]
    public void BadCommandLinesEndWithOneClearLine()
    {
        using (var p = TrainingData.StartCli("pretrain", "--config", "demo", "--set", "epochz=3", "--images", _data.Images, "--out", _data["a"]))
        {
            Assert.Equal(2, p.Wait());
            Assert.Contains("unknown config key 'epochz' (did you mean 'epochs'?)", p.Output);
        }
        using (var p = TrainingData.StartCli("pretrain", "--config", "demo", "--set", "epochs=ten", "--images", _data["nowhere"], "--out", _data["b"]))
        {
            Assert.Equal(2, p.Wait());
            Assert.Contains("config key 'epochs' takes an integer; 'ten' is not one", p.Output);
        }
        using (var p = TrainingData.StartCli("pretrain", "--config", "demo", "--images", _data["nowhere"], "--out", _data["c"]))
        {
            Assert.Equal(2, p.Wait());
            Assert.Contains("images folder not found", p.Output);
            Assert.DoesNotContain("   at ", p.Output);   // no stack trace
        }
    }
}
