using System.Text.Json.Nodes;
using Soco.Runtime;
using Soco.Tests.Cli;
using Soco.Training;
using Xunit.Abstractions;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Training;

/// <summary>
/// The nested config (docs/engine.md §Nested config): presets and saved configs are nested by section, the flat form
/// of the version before (tests/fixtures/config/flat_presets, tools/flat_presets_fixture.sh) reads to the same records,
/// flat <c>--set</c> keys are aliases of the dotted ones, and a wrong key is named with the nearest valid one.
/// </summary>
public class NestedConfigTests
{
    static readonly string[] TopLevel = ["description", "seed"];

    public static TheoryData<string, bool> Presets()
    {
        var d = new TheoryData<string, bool>();
        foreach (var n in PretrainConfigs.PresetNames()) d.Add(n, false);
        foreach (var n in FinetuneConfigs.PresetNames()) d.Add(n, true);
        return d;
    }

    static string PresetPath(string name, bool finetune) =>
        Path.Combine(TestPaths.RepoRoot, "configs", finetune ? "finetune" : "", name + ".json");

    /// <summary>Each preset is written nested (only description and seed at the top, every other key in its section),
    /// reads to the record its old flat file gives, and the writer's nested form reads back to the same record.</summary>
    [Theory]
    [MemberData(nameof(Presets))]
    public void EveryPresetIsNestedAndReadsAsItsOldFlatFile(string name, bool finetune)
    {
        var file = JsonNode.Parse(File.ReadAllText(PresetPath(name, finetune)))!.AsObject();
        var layout = finetune ? FinetuneConfigs.Layout : PretrainConfigs.Layout;
        foreach (var (key, value) in file)
            Assert.True(TopLevel.Contains(key) || (layout.IsSection(key) && value is JsonObject), $"{name}: top-level key '{key}' is not nested");

        string old = File.ReadAllText(TestPaths.Fixture("config", "flat_presets", finetune ? "finetune" : "", name + ".json"));
        if (finetune)
        {
            var c = FinetuneConfigs.Load(name);
            // Descriptions that show a --set now show the dotted key; every other value is the old one.
            var o = FinetuneConfigs.Parse(old, "old " + name);
            Assert.Equal(FinetuneConfigs.ToJson(c), FinetuneConfigs.ToJson(o with { Description = c.Description }));
            Assert.Equal(FinetuneConfigs.ToJson(c), FinetuneConfigs.ToJson(FinetuneConfigs.Parse(FinetuneConfigs.ToJson(c), "round trip")));
            Assert.True(JsonNode.Parse(FinetuneConfigs.ToJson(c))!["solver"]!["max_iter"] is not null);
        }
        else
        {
            var c = PretrainConfigs.Load(name);
            Assert.Equal(c, PretrainConfigs.Parse(old, "old " + name));
            Assert.Equal(c, PretrainConfigs.Parse(PretrainConfigs.ToJson(c), "round trip"));
            Assert.Equal(c.Model, JsonNode.Parse(PretrainConfigs.ToJson(c))!["model"]!["arch"]!.GetValue<string>());
        }
    }

    /// <summary>The table has every key once: a config with no key at its default writes each under its path, and the
    /// flat file made from that by the table reads back equal.</summary>
    [Fact]
    public void TheKeyTableCoversEveryKeyBothWays()
    {
        var pre = PretrainConfigs.Load("demo", ["norm=SyncBN", "precision=bf16", "channels_last=true", "seed=5", "description=x"]);
        Assert.Equal(pre, PretrainConfigs.Parse(Flatten(PretrainConfigs.ToJson(pre), PretrainConfigs.Layout), "flat"));
        Assert.Equal(PretrainConfigs.Layout.Entries.Select(e => e.Path), PretrainConfigs.Keys.Select(k => k.Key));
        var ft = FinetuneConfigs.Load("soco_mask_rcnn_fpn_lvis_1x", ["arch=c4", "mask_class_agnostic=true", "eval_period=7"]);
        Assert.Equal(FinetuneConfigs.ToJson(ft), FinetuneConfigs.ToJson(FinetuneConfigs.Parse(Flatten(FinetuneConfigs.ToJson(ft), FinetuneConfigs.Layout), "flat")));
        Assert.Equal(FinetuneConfigs.Layout.Entries.Select(e => e.Path), FinetuneConfigs.Keys.Select(k => k.Key));
    }

    static string Flatten(string nested, ConfigLayout layout)
    {
        var n = JsonNode.Parse(nested)!.AsObject();
        var flat = new JsonObject();
        foreach (var (key, value) in n)
            if (value is JsonObject section)
                foreach (var (leaf, v) in section) flat[layout.FlatOf($"{key}.{leaf}") ?? throw new KeyNotFoundException($"{key}.{leaf}")] = v?.DeepClone();
            else flat[layout.FlatOf(key) ?? throw new KeyNotFoundException(key)] = value?.DeepClone();
        Assert.DoesNotContain(flat, kv => kv.Value is JsonObject);
        return flat.ToJsonString();
    }

    [Fact]
    public void DottedOverridesAndFlatAliasesSetTheSameKey()
    {
        Assert.Equal(PretrainConfigs.Load("demo", ["model=c4", "recipe=c4", "epochs=70", "base_lr=0.5", "checkpoint_steps=7"]),
            PretrainConfigs.Load("demo", ["model.arch=c4", "data.recipe=c4", "solver.epochs=70", "Solver.Base-LR=0.5", "checkpoint.steps=7"]));
        var c = PretrainConfigs.Load("demo", ["model.arch=c4", "data.recipe=c4"]);
        Assert.Equal(("c4", 1), (c.Model, c.ModelPairs));
        Assert.Equal(FinetuneConfigs.ToJson(FinetuneConfigs.Load("finetune_demo", ["arch=c4", "max_iter=5", "steps=[]", "checkpoint_period=2", "test_score_threshold=0.2", "min_sizes=[128]"])),
            FinetuneConfigs.ToJson(FinetuneConfigs.Load("finetune_demo", ["model.arch=c4", "solver.max_iter=5", "solver.steps=[]", "checkpoint.period=2", "test.score_threshold=0.2", "input.min_sizes=[128]"])));
        // A later override wins, whichever form it is written in.
        Assert.Equal(19, PretrainConfigs.Load("demo", ["solver.epochs=70", "epochs=19"]).Epochs);
    }

    [Fact]
    public void WrongKeysAreNamedWithTheNearestValidKey()
    {
        string Refused(Func<object> load) => Assert.Throws<ArgumentException>(load).Message;
        Assert.Contains("unknown config key 'solver.epoch' (did you mean 'solver.epochs'?)", Refused(() => PretrainConfigs.Load("demo", ["solver.epoch=3"])));
        Assert.Contains("unknown config key 'model.epochs' (did you mean 'solver.epochs'?)", Refused(() => PretrainConfigs.Load("demo", ["model.epochs=3"])));
        // Pretraining's flat name of model.arch is `model`; `arch` alone is its last part.
        Assert.Contains("unknown config key 'arch' (did you mean 'model.arch'?)", Refused(() => PretrainConfigs.Load("demo", ["arch=c4"])));
        Assert.Contains("unknown config key 'model.archh' (did you mean 'model.arch'?)", Refused(() => FinetuneConfigs.Load("finetune_demo", ["model.archh=c4"])));
        Assert.Contains("unknown config key 'test.score_treshold' (did you mean 'test.score_threshold'?)", Refused(() => FinetuneConfigs.Load("finetune_demo", ["test.score_treshold=0.1"])));
        Assert.Contains("'solver.total_batch' is derived and cannot be set; it is batch_size × accumulate", Refused(() => PretrainConfigs.Load("demo", ["solver.total_batch=8"])));

        Assert.Contains("unknown key 'solver.epocs' (did you mean 'solver.epochs'?)", Refused(() => PretrainConfigs.Parse("""{"solver": {"epocs": 3}}""", "a.json")));
        Assert.Contains("unknown key 'sovler' (did you mean 'solver'?)", Refused(() => PretrainConfigs.Parse("""{"sovler": {"epochs": 3}}""", "a.json")));
        Assert.Contains("'solver' is a section and must be a JSON object", Refused(() => PretrainConfigs.Parse("""{"solver": 3}""", "a.json")));
        Assert.Contains("key 'solver.epochs' has the wrong type (expected an integer; got \"three\")", Refused(() => PretrainConfigs.Parse("""{"solver": {"epochs": "three"}}""", "a.json")));
        Assert.Contains("'epochs' and 'solver.epochs' both set solver.epochs", Refused(() => PretrainConfigs.Parse("""{"epochs": 4, "solver": {"epochs": 3}}""", "a.json")));
        Assert.Contains("config a.json: 'model.pooling_mode' is derived", Refused(() => PretrainConfigs.Parse("""{"model": {"pooling_mode": 1}}""", "a.json")));
        // Fine-tuning counts iterations, not epochs.
        Assert.Contains("config f.json: unknown key 'solver.epochs'", Refused(() => FinetuneConfigs.Parse("""{"solver": {"epochs": 3}}""", "f.json")));
    }
}

/// <summary>A fine-tuning run folder whose config.json is the old flat file (the finetune_demo preset as the flat
/// version wrote it) runs and resumes, with no --config or with today's nested preset: its losses are those of the
/// run made from the nested preset alone.</summary>
[Collection("torch")]
public class OldFlatFinetuneRunTests
{
    readonly ITestOutputHelper log;

    public OldFlatFinetuneRunTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    [Fact]
    public void ARunFolderWithAFlatConfigResumesLikeTheNestedPreset()
    {
        using var dir = new TestPaths.TempDir();
        string[] data = ["--init", "none", "--train", TestPaths.VocGt, "--train-images", TestPaths.VocImages, "--threads", "1"];
        string nested = dir["nested"], old = dir["old"];
        Ok(["finetune", "--config", "finetune_demo", .. data, "--out", nested, "--stop-after", "4"]);

        Directory.CreateDirectory(old);
        File.Copy(TestPaths.Fixture("config", "flat_presets", "finetune", "finetune_demo.json"), Path.Combine(old, FinetuneRun.ConfigFile));
        Ok(["finetune", .. data, "--out", old, "--stop-after", "2"]);
        // The nested preset is the same config as the flat config.json; another value is refused, named.
        UserError(["finetune", "--config", "finetune_demo", "--set", "solver.base_lr=0.01", .. data, "--out", old], "holds a run with another config");
        Ok(["finetune", "--config", "finetune_demo", .. data, "--out", old, "--stop-after", "4"]);

        var expected = TestPaths.MetricLines(Path.Combine(nested, FinetuneRun.MetricsFile), "step", "loss", "lr");
        Assert.Equal(4, expected.Count);
        Assert.Equal(expected, TestPaths.MetricLines(Path.Combine(old, FinetuneRun.MetricsFile), "step", "loss", "lr"));
        log.WriteLine(string.Join("\n", expected));
    }
}
