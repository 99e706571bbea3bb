using System.Text.Json;
using Soco.Training;

namespace Soco.Tests.Training;

/// <summary>
/// The logs of a pretraining run keep the layout they had before pretraining moved onto the engine's named scalars:
/// metrics.jsonl lines with the same keys in the same order, and TensorBoard events with the same tags (so old run
/// folders, the bench script and TensorBoard dashboards read new runs alike).
/// </summary>
[Collection("torch")]
public class PretrainLogsTests : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    string TrainTwoSteps()
    {
        string run = _data["run"];
        using var r = PretrainRun.Open(TrainingData.Tiny(), _data.Options(run) with { StopAfterStep = 2 });
        Assert.Equal(PretrainStop.StepLimit, r.Run().Stop);
        return run;
    }

    [Fact]
    public void MetricsLinesHaveTheKeysOfStepMetricsInOrder()
    {
        string run = TrainTwoSteps();
        var lines = File.ReadAllLines(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal(2, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(["step", "epoch", "batch", "loss", "lr", "ema_momentum", "step_seconds", "data_seconds", "rss_mb", "time_utc"],
                doc.RootElement.EnumerateObject().Select(p => p.Name));
            // Integers stay integers (epoch, batch, rss_mb were ints before the scalars became doubles).
            Assert.DoesNotContain(".", doc.RootElement.GetProperty("epoch").GetRawText());
            Assert.DoesNotContain(".", doc.RootElement.GetProperty("rss_mb").GetRawText());
        }
        var m = MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal([1L, 2L], m.Select(x => x.Step));
        Assert.Equal(m.Select(x => MetricsLog.Serialize(x)), lines);   // the same bytes StepMetrics would write
    }

    [RequiresPythonFact]
    public void TensorBoardEventsHaveTheOldTags()
    {
        string run = TrainTwoSteps();
        string file = Assert.Single(Directory.GetFiles(Path.Combine(run, PretrainRun.TensorBoardFolder)));
        var psi = new System.Diagnostics.ProcessStartInfo(RequiresPythonFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "tools", "read_tfevents.py"));
        psi.ArgumentList.Add(file);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string json = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "read_tfevents.py: " + err.Result);
        var steps = JsonDocument.Parse(json).RootElement.EnumerateArray().Where(e => e.TryGetProperty("scalars", out _)).ToList();
        var m = MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal([1L, 2L], steps.Select(e => e.GetProperty("step").GetInt64()));
        for (int i = 0; i < 2; i++)
        {
            var scalars = steps[i].GetProperty("scalars").EnumerateArray().Select(s => (s[0].GetString(), s[1].GetDouble())).ToList();
            Assert.Equal(["loss", "lr", "ema_momentum", "step_seconds", "data_wait_seconds"], scalars.Select(s => s.Item1));
            Assert.Equal((float)m[i].Loss, (float)scalars[0].Item2);
            Assert.Equal((float)m[i].Lr, (float)scalars[1].Item2);
            Assert.Equal((float)m[i].EmaMomentum, (float)scalars[2].Item2);
            Assert.Equal((float)m[i].DataSeconds, (float)scalars[4].Item2);
        }
    }
}
