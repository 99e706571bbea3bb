using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Soco.Proposals;
using Soco.Training;
using Xunit.Abstractions;

namespace Soco.Tests.Training;

/// <summary>
/// The `demo` preset's loss at each of its first 300 steps on the sample photos (one torch thread) is bit-identical to
/// the golden losses recorded from the code before the training-engine refactor (tools/demo_losses_fixture.sh →
/// tests/fixtures/training/demo_losses_300.json). Any change to the numbers of pretraining — model, views, loader order,
/// optimiser, schedule, accumulation — shows here as the first step that differs.
/// </summary>
[Collection("torch")]
public class DemoLossRegressionTests(ITestOutputHelper log) : IDisposable
{
    readonly TestPaths.TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void DemoLossesOfTheFirst300StepsAreBitIdenticalToTheGoldenOnes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("training", "demo_losses_300.json")));
        var golden = doc.RootElement.GetProperty("loss_bits").EnumerateArray()
            .Select(e => BitConverter.Int64BitsToDouble(long.Parse(e.GetString()!, NumberStyles.HexNumber, CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(300, golden.Count);

        string store = _dir["proposals"];
        ProposalJson.Import(TestPaths.Fixture("views", "proposals_ratio3size0308post.json"), store);
        var options = new PretrainOptions
        {
            Images = TestPaths.Photos, Proposals = store, RunDirectory = _dir["run"], Threads = 1, Workers = 1, PlotEverySeconds = 1e9,
            StopAfterStep = golden.Count,
        };
        PretrainResult r;
        using (var run = PretrainRun.Open(PretrainConfigs.Load("demo", []), options)) r = run.Run();
        Assert.Equal(PretrainStop.StepLimit, r.Stop);
        var losses = MetricsLog.Read(Path.Combine(_dir["run"], PretrainRun.MetricsFile)).Select(m => m.Loss).ToList();
        log.WriteLine($"{losses.Count} steps, {r.StepsPerSecond:F2} steps/s; loss {losses[0]:R} → {losses[^1]:R}");
        Assert.Equal(golden.Count, losses.Count);
        for (int i = 0; i < golden.Count; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(golden[i]) == BitConverter.DoubleToInt64Bits(losses[i]),
                $"step {i + 1}: loss {losses[i]:R} (bits {BitConverter.DoubleToInt64Bits(losses[i]):x16}), golden {golden[i]:R} (bits {BitConverter.DoubleToInt64Bits(golden[i]):x16})");
    }
}
