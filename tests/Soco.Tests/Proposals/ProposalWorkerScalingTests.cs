using System.Text.Json;
using Soco.Imaging;
using Soco.Proposals;
using Soco.Proposals.SocoSearch;
using Soco.Tests.Cli;

namespace Soco.Tests.Proposals;

/// <summary>
/// What docs/scale.md §Parallel scaling rests on: a generation run reports where its workers' time went, and a worker
/// that keeps its thread allocates no image-sized buffer per image in `soco` mode (per-image buffers made the GC stop
/// both workers several times as often).
/// </summary>
public class ProposalWorkerScalingTests
{
    static readonly string[] Photos = ["chelsea.png", "camera.png", "coffee.png", "astronaut.png"];

    static string CopyPhotos(TestPaths.TempDir tmp)
    {
        string dir = tmp["images"];
        Directory.CreateDirectory(dir);
        foreach (var n in Photos) File.Copy(TestPaths.Photo(n), Path.Combine(dir, n));
        return dir;
    }

    [Fact]
    public void TheProfileAccountsForEveryImageAndItsStagesFitInTheRun()
    {
        using var tmp = new TestPaths.TempDir();
        var s = ProposalPipeline.Generate(new ProposalPipeline.Request(CopyPhotos(tmp), tmp["store"], "soco")
        {
            Options = new GenerateOptions { Workers = 2, FlushEvery = 2, MaxSide = 160 },
        });
        var p = Assert.IsType<GenerateProfile>(s.Profile);
        Assert.Equal(2, p.Workers);
        Assert.Equal(Photos.Length, p.Images);
        Assert.Equal(s.Done + s.Failed, p.Images);
        Assert.True(p.DecodeSeconds > 0 && p.SearchSeconds > 0 && p.WallSeconds > 0, JsonSerializer.Serialize(p));
        // Each worker's decode, search, queue and tail intervals are disjoint and inside the run.
        Assert.True(p.DecodeSeconds + p.SearchSeconds + p.QueueFullSeconds + p.TailSeconds <= p.Workers * p.WallSeconds * 1.001,
            JsonSerializer.Serialize(p));
        Assert.True(p.WriterWaitSeconds + p.WriterBusySeconds <= p.WallSeconds * 1.001, JsonSerializer.Serialize(p));
        Assert.True(p.AllocatedMbPerImage > 0 && p.ProcessCpuSeconds > 0, JsonSerializer.Serialize(p));
        Assert.True(p.Gen0 >= p.Gen1 && p.Gen1 >= p.Gen2 && p.Gen2 >= 0, JsonSerializer.Serialize(p));
        // memory: the GC heap lies inside what the GC committed, which lies inside the process's peak
        Assert.True(p.PeakRssMb > 0 && p.GcHeapMb <= p.GcCommittedMb * 1.001 && p.GcCommittedMb < p.PeakRssMb, JsonSerializer.Serialize(p));
    }

    [Fact]
    public void GenerateWithProfilePrintsItAsJson()
    {
        using var tmp = new TestPaths.TempDir();
        string text = CliRunner.Ok("proposals", "generate", "--images", CopyPhotos(tmp), "--out", tmp["store"],
            "--workers", "2", "--max-side", "120", "--profile");
        var line = text.Split('\n').Single(l => l.Contains("profile {", StringComparison.Ordinal));
        var j = JsonDocument.Parse(line[line.IndexOf('{')..]).RootElement;
        Assert.Equal(Photos.Length, j.GetProperty("Images").GetInt32());
        Assert.Equal(2, j.GetProperty("Workers").GetInt32());
        Assert.True(j.GetProperty("SearchSeconds").GetDouble() > 0);
    }

    [Fact]
    public void AWarmSocoWorkerAllocatesLessPerImageThanOneLabelMap()
    {
        var img = ImageDecoder.Decode(TestPaths.Photo("chelsea.png"));
        int n = img.Width * img.Height;
        long second = 0;
        ProposalRect[] first = [], again = [];
        var t = new Thread(() =>
        {
            var g = new SocoSelectiveSearch();
            first = g.Generate(img);
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            again = g.Generate(img);
            second = GC.GetAllocatedBytesForCurrentThread() - a0;
        });
        t.Start();
        t.Join();
        Assert.Equal(first, again);
        // Before the per-thread buffers: a label map (4 B/pixel), three LBP code planes (3 B) and the padded plane
        // (8 B) per image.
        Assert.True(second < 4L * n, $"{second} bytes allocated for a {img.Width}x{img.Height} image (label map: {4L * n})");
    }
}
