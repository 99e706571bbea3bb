using System.Text.Json;
using Soco.Data.Coco;
using Soco.Distributed;
using Soco.Evaluation;
using Soco.Interop;
using Soco.Modeling.Detection;
using Soco.Tests.Cli;
using Soco.Tests.Reliability;
using Soco.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Tests.Distributed;

/// <summary>
/// The detector's evaluation under data parallelism (docs/distributed.md §Evaluation): each rank detects its share of
/// the images, the detections are gathered, and the list — hence the score — is the one one process makes: in-process
/// with 2 and 3 thread ranks (every detection, bit for bit, in the same order), and `soco evaluate --checkpoint` under
/// <c>mpirun -np 2</c> (the metrics file equal to the one-process run's, written by rank 0 alone).
/// </summary>
[Collection("torch")]
public class ShardedEvaluationTests
{
    static string Gt => TestPaths.Fixture("detection", "detcli", "voc_gt.json");
    static string VocImages => Path.Combine(TestPaths.Samples, "voc", "JPEGImages");

    /// <summary>The demo detector at a small test size, seeded weights (untrained: it still gives hundreds of scored
    /// boxes, which is what the gather must carry).</summary>
    static (FasterRcnnConfig Config, Dictionary<string, Tensor> State) Detector()
    {
        var cfg = FinetuneConfigs.Load("finetune_demo", ["test_size=160", "max_size=300"]).Detector(5, training: false);
        manual_seed(7);
        using var m = new FasterRcnn(cfg);
        return (cfg, m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
    }

    static FasterRcnn Build(FasterRcnnConfig cfg, Dictionary<string, Tensor> state)
    {
        var m = new FasterRcnn(cfg);
        m.load_state_dict(state);
        m.eval();
        return m;
    }

    [Fact]
    public void RanksDetectTheirShareAndGatherTheOneProcessDetections()
    {
        torch.set_num_threads(1);
        var gt = CocoInstancesReader.Read(Gt);
        var (cfg, state) = Detector();
        DetectorRun expected;
        using (var one = Build(cfg, state)) expected = DetectorEvaluation.Detect(one, gt, VocImages);
        Assert.True(expected.Detections.Count > 10, $"only {expected.Detections.Count} detections: the comparison would say little");
        var expectedStats = CocoEvaluator.Evaluate(gt, expected.Detections).Stats;
        foreach (int n in new[] { 2, 3 })
        {
            var runs = ThreadGroup.Run(n, g =>
            {
                FasterRcnn m;
                lock (state) m = Build(cfg, state);
                using (m) return DetectorEvaluation.Detect(m, gt, VocImages, group: g);
            });
            foreach (var r in runs)
            {
                Assert.Equal(expected.Detections, r.Detections);
                Assert.Equal(expected.Notes, r.Notes);
                Assert.Equal(expected.OtherCategories, r.OtherCategories);
                Assert.Equal(expected.OtherLabels, r.OtherLabels);
            }
            Assert.Equal(expectedStats, CocoEvaluator.Evaluate(gt, runs[0].Detections).Stats);
        }
    }

    [RequiresMpiFact]
    public void EvaluateUnderMpiScoresAllImagesLikeOneProcess()
    {
        using var dir = new TestPaths.TempDir();
        var (cfg, state) = Detector();
        string model = dir["model.pth"];
        DetectorModelFile.Save(model, new DetectorModel(cfg, ["__background__", "a", "b", "c", "d"], state, [], model, "ShardedEvaluationTests"));
        string[] Args(string output) => ["evaluate", "--checkpoint", model, "--data", Gt, "--images", VocImages, "--out", output];
        CliRunner.Ok(Args(dir["one.json"]));
        using (var p = Mpi.Start(2, Args(dir["two.json"])))
        {
            p.Process.WaitForExit();
            Assert.True(p.Process.ExitCode == 0, p.Output);
            // Rank 0 alone reports the score.
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(p.Output, "IoU type bbox"));
        }
        var one = JsonDocument.Parse(File.ReadAllText(dir["one.json"])).RootElement.GetProperty("bbox");
        var two = JsonDocument.Parse(File.ReadAllText(dir["two.json"])).RootElement.GetProperty("bbox");
        Assert.Equal(one.GetRawText(), two.GetRawText());
        Assert.True(one.GetProperty("AP").GetDouble() >= 0, "no score");
    }

    /// <summary>A rank that fails while the other waits for it in a collective (rank 1 meets an unreadable image of its
    /// share; rank 0 has finished its own and waits in the gather): rank 1's message comes out, every rank stops
    /// (MPI_Abort; no hang), and nothing is written.</summary>
    [RequiresMpiFact]
    public void ARankThatFailsStopsEveryRankWithItsMessage()
    {
        using var dir = new TestPaths.TempDir();
        var gt = CocoInstancesReader.Read(Gt);
        string images = dir["images"];
        Directory.CreateDirectory(images);
        foreach (var im in gt.Images) File.Copy(Path.Combine(VocImages, im.FileName), Path.Combine(images, im.FileName));
        // Image 1 of the ground truth is rank 1's (rank r takes images r, r + n, ...).
        File.WriteAllBytes(Path.Combine(images, gt.Images[1].FileName), [0xFF, 0xD8, 1, 2, 3]);
        var (cfg, state) = Detector();
        string model = dir["model.pth"];
        DetectorModelFile.Save(model, new DetectorModel(cfg, ["__background__", "a", "b", "c", "d"], state, [], model, "ShardedEvaluationTests"));
        using var p = Mpi.Start(2, "evaluate", "--checkpoint", model, "--data", Gt, "--images", images, "--out", dir["m.json"]);
        p.Process.WaitForExit();
        Assert.NotEqual(0, p.Process.ExitCode);
        Assert.Contains(gt.Images[1].FileName, p.Output);
        Assert.Contains("rank 1 of 2", p.Output);
        Assert.False(File.Exists(dir["m.json"]), "a metrics file was written");
    }
}
