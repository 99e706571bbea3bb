using System.Globalization;
using System.Text.Json;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Training;

/// <summary>
/// A run folder written by the code before pretraining moved onto the training engine (tools/old_run_fixture.sh →
/// tests/fixtures/training/old_run: config.json, run.json, the step-3 checkpoint) still resumes, and continues exactly:
/// the losses of steps 4..9 equal, bit for bit, those of the old code's uninterrupted run.
/// </summary>
[Collection("torch")]
public class OldRunResumeTests(ITestOutputHelper log) : IDisposable
{
    readonly TrainingData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public void AnOldRunFolderResumesAndContinuesBitIdentically()
    {
        string fixture = TestPaths.Fixture("training", "old_run");
        string run = _data["old"];
        foreach (var f in Directory.GetFiles(fixture, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(fixture, f);
            if (rel == "losses.json") continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(run, rel))!);
            File.Copy(f, Path.Combine(run, rel));
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "losses.json")));
        var golden = doc.RootElement.GetProperty("loss_bits").EnumerateArray()
            .Select(e => long.Parse(e.GetString()!, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToList();

        var notes = new List<string>();
        PretrainResult r;
        using (var pr = PretrainRun.Open(null, _data.Options(run) with { Log = notes.Add }))
        {
            Assert.Equal(3, pr.StepsDone);
            r = pr.Run();
        }
        foreach (var n in notes) log.WriteLine(n);
        Assert.Equal(PretrainStop.Finished, r.Stop);
        var m = MetricsLog.Read(Path.Combine(run, PretrainRun.MetricsFile));
        Assert.Equal([4L, 5, 6, 7, 8, 9], m.Select(x => x.Step));
        Assert.Equal(golden, m.Select(x => BitConverter.DoubleToInt64Bits(x.Loss)));
    }
}
