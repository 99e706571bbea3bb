using System.Text.Json;
using Soco.Data.Coco;
using Soco.Interop;
using Soco.Runtime;
using Soco.Tests.Cli;
using Soco.Training;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Training;

/// <summary>
/// `soco finetune --sampler repeat-factor`: the training data draws its epochs from the repeat-factor sampler (factors
/// from the usable boxes' categories, two repeats of an image seeded apart), a stopped run resumes bit-identically, the
/// model file keeps the inference settings of the LVIS recipe, an LVIS-format --val is scored with the LVIS numbers, and
/// the LVIS preset holds the recipe's numbers.
/// </summary>
[Collection("torch")]
public class RepeatFactorFinetuneTests
{
    public RepeatFactorFinetuneTests() => TorchRuntime.SetThreads(1);

    static string Gt => TestPaths.VocGt;
    static string VocImages => TestPaths.VocImages;

    [Fact]
    public void TrainingDataUsesTheSamplerWithFactorsFromItsBoxes()
    {
        var data = new DetectionTrainData(CocoInstancesReader.Read(Gt), VocImages, seed: 3, flip: true, "repeat_factor", repeatThreshold: 0.5);
        // Person is in 2 of the 3 images (r = max(1, sqrt(0.5 / (2/3))) = 1), bus and car in 1 (sqrt(1.5)).
        Assert.Equal([1f, 1f, (float)Math.Sqrt(1.5)], data.Repeat!.RepeatFactors);
        var drawn = Enumerable.Range(0, 40).Select(p => data.Draw(p)).ToArray();
        Assert.All(drawn, d => Assert.Equal(data.Repeat.At(Array.IndexOf(drawn, d)).Index, d.Index));
        // Within an epoch the generator key is the slot, so a repeated image is drawn with another key.
        foreach (var epoch in drawn.GroupBy(d => d.Epoch))
            Assert.Equal(Enumerable.Range(0, epoch.Count()).Select(i => (long)i), epoch.Select(d => d.Key));
        Assert.Contains(drawn.GroupBy(d => d.Epoch), e => e.Count(d => d.Index == 2) == 2);
        Assert.Null(new DetectionTrainData(CocoInstancesReader.Read(Gt), VocImages, 3, true).Repeat);
    }

    static readonly string[] Small = ["--set", "max_iter=4", "--set", "steps=[3]", "--set", "warmup_iters=1", "--set", "min_sizes=[160]",
        "--set", "max_size=256", "--set", "test_size=160", "--set", "checkpoint_period=0"];

    [Fact]
    public void RepeatFactorRunResumesExactlyAndKeepsTheLvisInferenceSettings()
    {
        using var dir = new TestPaths.TempDir();
        string[] common = ["finetune", "--config", "finetune_demo", .. Small, "--sampler", "repeat-factor", "--repeat-threshold", "0.5",
            "--set", "test_score_threshold=0.0001", "--set", "test_detections_per_image=300", "--init", "none", "--train", Gt, "--train-images", VocImages, "--threads", "1"];
        // An LVIS-format validation set (the same photos, dog verified absent everywhere): scored with the LVIS numbers.
        var lvisVal = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Gt))!.AsObject();
        foreach (var im in lvisVal["images"]!.AsArray()) { im!["neg_category_ids"] = new System.Text.Json.Nodes.JsonArray(4); im["not_exhaustive_category_ids"] = new System.Text.Json.Nodes.JsonArray(); }
        foreach (var c in lvisVal["categories"]!.AsArray()) c!["frequency"] = "f";
        File.WriteAllText(dir["val.json"], lvisVal.ToJsonString());
        var first = Ok([.. common, "--out", dir["whole"], "--val", dir["val.json"], "--val-images", VocImages]);
        Assert.Contains("repeat-factor sampler (threshold 0.5): 1 of 3 images repeated", first);
        var last = JsonDocument.Parse(File.ReadLines(Path.Combine(dir["whole"], FinetuneRun.MetricsFile)).Last()).RootElement;
        foreach (var key in new[] { "val_AP", "val_APr", "val_APc", "val_APf", "val_AR@300" }) Assert.True(last.TryGetProperty(key, out _), $"{key} missing: {last}");
        Assert.Equal(-1, last.GetProperty("val_APr").GetDouble()); // no rare category
        Assert.Equal(last.GetProperty("val_AP").GetDouble(), last.GetProperty("val_APf").GetDouble(), 12);
        Ok([.. common, "--out", dir["split"], "--stop-after", "2"]);
        Ok([.. common, "--out", dir["split"]]);
        static List<string> Losses(string run) => TestPaths.MetricLines(Path.Combine(run, FinetuneRun.MetricsFile), "loss");
        Assert.Equal(4, Losses(dir["whole"]).Count);
        Assert.Equal(Losses(dir["whole"]), Losses(dir["split"]));
        var saved = FinetuneConfigs.Parse(File.ReadAllText(Path.Combine(dir["whole"], FinetuneRun.ConfigFile)), "config.json");
        Assert.Equal("repeat_factor", saved.Sampler);
        Assert.Equal(0.5, saved.RepeatThreshold);
        var model = DetectorModelFile.Load(Path.Combine(dir["whole"], FinetuneRun.ModelFileName));
        Assert.Equal(1e-4, model.Config.RoiHeads.ScoreThreshold);
        Assert.Equal(300, model.Config.RoiHeads.DetectionsPerImage);
    }

    [Fact]
    public void LvisPresetHoldsTheRecipe()
    {
        var c = FinetuneConfigs.Load("soco_fpn_lvis_1x");
        Assert.Equal(180_000, c.MaxIter);
        Assert.Equal([120_000L, 160_000L], c.Steps);
        Assert.Equal("repeat_factor", c.Sampler);
        Assert.Equal(0.001, c.RepeatThreshold);
        Assert.Equal(1e-4, c.TestScoreThreshold);
        Assert.Equal(300, c.TestDetectionsPerImage);
        // Everything else is the COCO recipe's.
        var expected = FinetuneConfigs.Load("soco_fpn_1x") with
        {
            Description = c.Description, MaxIter = 180_000, Steps = [120_000, 160_000], Sampler = "repeat_factor", TestScoreThreshold = 1e-4, TestDetectionsPerImage = 300,
        };
        Assert.Equal(FinetuneConfigs.ToJson(expected), FinetuneConfigs.ToJson(c));
        var bad = Assert.Throws<ArgumentException>(() => FinetuneConfigs.Load("soco_fpn_lvis_1x", ["sampler=balanced"]));
        Assert.Contains("sampler 'balanced'", bad.Message);
    }
}
