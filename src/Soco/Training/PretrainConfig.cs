using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Soco.Data;
using Soco.Interop;
using Soco.Modeling;
using Soco.Solver;
using TorchSharp;

namespace Soco.Training;

/// <summary>
/// Everything that decides a pretraining run's numbers (docs/soco-reference.md §6 and the official scripts). Keys are snake_case, as the
/// official argparse names where one exists. The five released runs and a small demo are JSON presets in
/// <c>configs/</c>; <see cref="PretrainConfigs"/> loads them, applies <c>key=value</c> overrides and validates.
/// </summary>
public sealed record PretrainConfig
{
    /// <summary>Free text (where the values come from).</summary>
    public string Description { get; init; } = "";

    // ---- model (docs/soco-reference.md §5)
    /// <summary>c4 | fpn | fpn_star | byol (the image-level baseline on the same views, docs/transfer-benchmark.md).</summary>
    public string Model { get; init; } = "fpn";
    /// <summary>ResNet depth (18, 34, 50, 101, 152).</summary>
    public int Depth { get; init; } = 50;
    /// <summary>Stem channels / first-stage width (64 in every released model).</summary>
    public int BaseWidth { get; init; } = 64;
    public int FpnChannels { get; init; } = 256;
    public int HeadConvDim { get; init; } = 256;
    public int HeadFcDim { get; init; } = 1024;
    public int MlpHiddenDim { get; init; } = 4096;
    public int EmbeddingDim { get; init; } = 256;
    /// <summary>every_level (official) | assigned_levels (faster, different BN statistics).</summary>
    public string Pooling { get; init; } = "every_level";
    /// <summary>fp32 (default) | bf16: convolutions, linear layers and the residual stream in bfloat16 as under PyTorch's
    /// CPU autocast, float32 master weights, RoIAlign, normalisation and loss (TorchSharp has no autocast; see
    /// <see cref="Soco.Modeling.MixedPrecision"/>) | fp64: the
    /// whole model and its views in float64, slow, for checking that two runs differ only by rounding (data-parallel
    /// equivalence, docs/distributed.md §Equivalence).</summary>
    public string Precision { get; init; } = "fp32";
    /// <summary>Those convolutions on channels-last (NHWC-strided) maps, PyTorch's <c>memory_format=channels_last</c>
    /// (docs/bf16.md: faster with bf16 on CPUs with AVX-512 BF16).</summary>
    public bool ChannelsLast { get; init; }
    /// <summary>BN (default) | SyncBN: the norm layers of backbone, FPN, head and MLPs (docs/distributed.md). SyncBN
    /// normalises over the whole batch of a data-parallel run (the official recipe); in one process it is BN.</summary>
    public string Norm { get; init; } = "BN";
    /// <summary>m0 of the target network's momentum schedule (<c>--contrast_momentum</c>).</summary>
    public double ContrastMomentum { get; init; } = 0.99;

    // ---- data (docs/soco-reference.md §4)
    /// <summary>View recipe: official class name or alias (c4, fpn, fpn-cutout, fpn-star; +PaperV3).</summary>
    public string Recipe { get; init; } = "ImageAsymBboxAwareMultiJitter1";
    /// <summary>Side of view 1 (<c>--image_size</c>, 224). Other view sizes, the FPN level bounds and the cutout clamp
    /// scale with it (a 64 demo gives views 64 / 32).</summary>
    public int ImageSize { get; init; } = 224;
    public long Seed { get; init; } = 0;

    // ---- optimisation (docs/soco-reference.md §6)
    public int Epochs { get; init; } = 100;
    public int WarmupEpochs { get; init; } = 10;
    /// <summary>Images per forward pass (per GPU in the official runs).</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Forward passes whose gradients are summed into one optimiser step (total batch = batch_size × accumulate).</summary>
    public int Accumulate { get; init; } = 1;
    /// <summary>lr = base_lr · total batch / 256.</summary>
    public double BaseLr { get; init; } = 1.0;
    public double WeightDecay { get; init; } = 1e-5;
    public double SgdMomentum { get; init; } = 0.9;
    public double TrustCoefficient { get; init; } = 0.001;
    public double LarsEps { get; init; } = 1e-8;
    public double WarmupMultiplier { get; init; } = 100;
    public double FinalLr { get; init; } = 1e-6;

    // ---- checkpoints
    /// <summary>Epochs between kept checkpoints (<c>--save_freq</c>); the last epoch is always saved.</summary>
    public int SaveFreq { get; init; } = 1;
    /// <summary>Steps between rolling checkpoints (0: none; only <see cref="SaveFreq"/> epochs).</summary>
    public int CheckpointSteps { get; init; } = 500;
    /// <summary>Rolling checkpoints kept (the newest).</summary>
    public int KeepLast { get; init; } = 2;

    [JsonIgnore]
    public int TotalBatch => BatchSize * Accumulate;

    [JsonIgnore]
    public ResNetConfig BackboneConfig => new() { Depth = Depth, BaseWidth = BaseWidth };

    /// <summary>The model configuration for a dataset of <paramref name="numImages"/> images (K of the momentum
    /// schedule: <c>int(num_images / accumulate / batch · epochs)</c>, the official formula with the accumulated
    /// micro-batches in the place of GPUs).</summary>
    public SocoConfig ModelConfig(int numImages) => new()
    {
        Backbone = BackboneConfig,
        FpnChannels = FpnChannels, HeadConvDim = HeadConvDim, HeadFcDim = HeadFcDim, MlpHiddenDim = MlpHiddenDim, EmbeddingDim = EmbeddingDim,
        BaseMomentum = ContrastMomentum,
        TotalSteps = Math.Max(1, MomentumSchedule.TotalSteps(numImages, Accumulate, BatchSize, Epochs)),
        Pooling = PoolingMode,
        Precision = Precision == "bf16" ? ConvPrecision.Bf16 : ConvPrecision.Fp32,
        ChannelsLast = ChannelsLast,
    };

    [JsonIgnore]
    public LevelPooling PoolingMode => Pooling switch
    {
        "every_level" => LevelPooling.EveryLevel,
        "assigned_levels" => LevelPooling.AssignedLevels,
        _ => throw new ArgumentException($"pooling must be every_level or assigned_levels, not '{Pooling}'"),
    };

    /// <summary>The recipe, scaled to <see cref="ImageSize"/>.</summary>
    [JsonIgnore]
    public ViewRecipe ViewRecipe => RecipeScaling.Scale(Data.ViewRecipe.ByName(Recipe), ImageSize / 224.0);

    /// <summary>View pairs the model expects.</summary>
    [JsonIgnore]
    public int ModelPairs => ModelKind is not { } k ? 0 : k.Pairs ?? RecipePairs();

    /// <summary>The registry's entry for <see cref="Model"/> (null when unknown; Validate names it).</summary>
    [JsonIgnore]
    public ModelKind? ModelKind => SocoArchitecture.Kinds.FirstOrDefault(k => k.ConfigName == Model);

    /// <summary>A model that takes any number of view pairs takes what the recipe gives (0 when the recipe is unknown;
    /// Validate names it).</summary>
    int RecipePairs()
    {
        try { return ViewRecipe.Pairs.Count; }
        catch (ArgumentException) { return 0; }
    }

    static string ModelNames => string.Join(", ", SocoArchitecture.Kinds.Select(k => k.ConfigName).SkipLast(1)) + " or " + SocoArchitecture.Kinds[^1].ConfigName;

    /// <summary>The model, its norm layers per <see cref="Norm"/> (SyncBN over <paramref name="group"/>, default the
    /// process's own group).</summary>
    public SocoModel BuildModel(int numImages, Soco.Distributed.ProcessGroup? group = null)
    {
        var c = ModelConfig(numImages);
        var kind = ModelKind ?? throw new ArgumentException($"model must be {ModelNames}, not '{Model}'");
        using var norm = Norms.Use(NormKind, group);
        var model = kind.Create(c);
        if (Precision == "fp64") model.to(TorchSharp.torch.ScalarType.Float64);
        return model;
    }

    [JsonIgnore]
    public NormKind NormKind => Norms.Parse(Norm, "norm");

    [JsonIgnore]
    public LarsOptions LarsOptions => new() { Momentum = SgdMomentum, TrustCoefficient = TrustCoefficient, Eps = LarsEps };

    /// <summary>Throws <see cref="ArgumentException"/> listing every bad value.</summary>
    public void Validate()
    {
        var bad = new List<string>();
        void Need(bool ok, string what) { if (!ok) bad.Add(what); }
        Need(ModelKind is not null, $"model must be {ModelNames} (got '{Model}')");
        Need(Pooling is "every_level" or "assigned_levels", $"pooling must be every_level or assigned_levels (got '{Pooling}')");
        Need(Precision is "fp32" or "bf16" or "fp64", $"precision must be fp32, bf16 or fp64 (got '{Precision}')");
        Need(Norm is "BN" or "SyncBN", $"norm must be BN or SyncBN (got '{Norm}')");
        ViewRecipe? recipe = null;
        try { recipe = ViewRecipe; }
        catch (ArgumentException e) { bad.Add(e.Message); }
        if (recipe is not null && ModelKind is { } kind)
        {
            if (kind.Pairs is int pairs)
                Need(recipe.Pairs.Count == pairs, $"model {Model} needs a recipe with {pairs} view pair(s); {recipe.Name} has {recipe.Pairs.Count}");
            if (kind.LevelAwareRecipe == false) Need(!recipe.AwareLevels, $"model {Model} needs the C4 recipe (plain correspondence), not {recipe.Name}");
            if (kind.LevelAwareRecipe == true) Need(recipe.AwareLevels, $"model {Model} needs a level-aware (FPN) recipe, not {recipe.Name}");
        }
        Need(Depth is 18 or 34 or 50 or 101 or 152, $"depth must be 18, 34, 50, 101 or 152 (got {Depth})");
        Need(BaseWidth >= 1, "base_width must be ≥ 1");
        Need(FpnChannels >= 1 && HeadConvDim >= 1 && HeadFcDim >= 1 && MlpHiddenDim >= 1 && EmbeddingDim >= 1, "the layer widths must be ≥ 1");
        Need(ImageSize >= 32, $"image_size must be ≥ 32 (got {ImageSize}): smaller views leave no feature map for the last stages");
        Need(Epochs >= 1, "epochs must be ≥ 1");
        Need(WarmupEpochs >= 0 && WarmupEpochs <= Epochs, $"warmup_epochs must be between 0 and epochs ({Epochs})");
        Need(BatchSize >= 2, "batch_size must be ≥ 2 (BatchNorm needs two samples)");
        Need(Accumulate >= 1, "accumulate must be ≥ 1");
        Need(BaseLr > 0 && double.IsFinite(BaseLr), "base_lr must be > 0");
        Need(WeightDecay >= 0, "weight_decay must be ≥ 0");
        Need(SgdMomentum >= 0 && SgdMomentum < 1, "sgd_momentum must be in [0, 1)");
        Need(TrustCoefficient > 0, "trust_coefficient must be > 0");
        Need(LarsEps >= 0, "lars_eps must be ≥ 0");
        Need(WarmupMultiplier >= 1, "warmup_multiplier must be ≥ 1");
        Need(FinalLr >= 0, "final_lr must be ≥ 0");
        Need(ContrastMomentum >= 0 && ContrastMomentum <= 1, "contrast_momentum must be in [0, 1]");
        Need(SaveFreq >= 1, "save_freq must be ≥ 1");
        Need(CheckpointSteps >= 0, "checkpoint_steps must be ≥ 0");
        Need(KeepLast >= 1, "keep_last must be ≥ 1");
        if (bad.Count > 0) throw new ArgumentException("invalid pretraining config: " + string.Join("; ", bad));
    }
}

/// <summary>Presets, files and <c>key=value</c> overrides for <see cref="PretrainConfig"/>.</summary>
public static class PretrainConfigs
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Values computed from other keys: setting one would be accepted and ignored, so it is refused with what to set instead.</summary>
    static readonly Dictionary<string, string> Derived = new(StringComparer.Ordinal)
    {
        ["total_batch"] = "it is batch_size × accumulate: set batch_size and accumulate in solver (e.g. --set solver.batch_size=128 --set solver.accumulate=16 for 2048)",
        ["model_pairs"] = "it follows from model.arch: set model.arch (c4 → 1 pair, fpn → 2, fpn_star → 3) and a data.recipe with as many view pairs",
        ["backbone_config"] = "set model.depth and model.base_width",
        ["pooling_mode"] = "set model.pooling (every_level or assigned_levels)",
        ["view_recipe"] = "set data.recipe and data.image_size",
        ["lars_options"] = "set solver.sgd_momentum, solver.trust_coefficient and solver.lars_eps",
    };

    /// <summary>The nested form (docs/engine.md §Nested config): each key's flat name (the form before the nesting,
    /// still read from old run folders and checkpoints and accepted by <c>--set</c>) and its path, in writing order.</summary>
    public static readonly ConfigLayout Layout = new(
        ("description", "description"),
        ("model", "model.arch"), ("depth", "model.depth"), ("base_width", "model.base_width"),
        ("fpn_channels", "model.fpn_channels"), ("head_conv_dim", "model.head_conv_dim"), ("head_fc_dim", "model.head_fc_dim"),
        ("mlp_hidden_dim", "model.mlp_hidden_dim"), ("embedding_dim", "model.embedding_dim"), ("pooling", "model.pooling"),
        ("norm", "model.norm"), ("precision", "model.precision"), ("channels_last", "model.channels_last"),
        ("contrast_momentum", "model.contrast_momentum"),
        ("recipe", "data.recipe"), ("image_size", "data.image_size"),
        ("epochs", "solver.epochs"), ("warmup_epochs", "solver.warmup_epochs"), ("batch_size", "solver.batch_size"),
        ("accumulate", "solver.accumulate"), ("base_lr", "solver.base_lr"), ("weight_decay", "solver.weight_decay"),
        ("sgd_momentum", "solver.sgd_momentum"), ("trust_coefficient", "solver.trust_coefficient"), ("lars_eps", "solver.lars_eps"),
        ("warmup_multiplier", "solver.warmup_multiplier"), ("final_lr", "solver.final_lr"),
        ("save_freq", "checkpoint.save_freq"), ("checkpoint_steps", "checkpoint.steps"), ("keep_last", "checkpoint.keep_last"),
        ("seed", "seed"));

    static readonly ConfigReader<PretrainConfig> Reader = new(Json, Layout, c => c.Validate(), Derived);

    /// <summary>Every key (its nested path) and its type (as words).</summary>
    public static IReadOnlyList<(string Key, string Type)> Keys => Reader.Keys;

    /// <summary>The <c>configs/</c> folder: the repository's (found upwards from the current folder and from the binary).</summary>
    public static string? PresetFolder()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "configs", "demo.json")))
                    return Path.Combine(d.FullName, "configs");
        return null;
    }

    /// <summary>The preset names in <c>configs/</c> (or in its <paramref name="subfolder"/>, e.g. <c>finetune</c>).</summary>
    public static IReadOnlyList<string> PresetNames(string? subfolder = null) =>
        PresetFolder() is { } root && Path.Combine(root, subfolder ?? "") is var dir && Directory.Exists(dir)
            ? Directory.GetFiles(dir, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)!).Order().ToList() : [];

    /// <summary>A preset name (<c>configs/[subfolder/]&lt;name&gt;.json</c>) or a JSON file path → its path.</summary>
    public static string Locate(string presetOrPath, string? subfolder = null, string kind = "config")
    {
        if (File.Exists(presetOrPath)) return presetOrPath;
        if (PresetFolder() is { } root)
        {
            string p = Path.Combine(root, subfolder ?? "", presetOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? presetOrPath : presetOrPath + ".json");
            if (File.Exists(p)) return p;
        }
        var names = PresetNames(subfolder);
        throw new FileNotFoundException($"no {kind} file or preset '{presetOrPath}'" +
            (names.Count > 0 ? $"; presets: {string.Join(", ", names)}" : " (and no configs/ folder found: pass a JSON file)"));
    }

    /// <summary>Loads a preset or file and applies <paramref name="overrides"/> (<c>key=value</c>), then validates.</summary>
    public static PretrainConfig Load(string presetOrPath, IEnumerable<string>? overrides = null)
    {
        string path = Locate(presetOrPath);
        return Reader.Parse(File.ReadAllText(path), path, overrides);
    }

    /// <summary>Parses a config JSON text (e.g. a run's saved config.json) with overrides.</summary>
    public static PretrainConfig Parse(string json, string what, IEnumerable<string>? overrides = null) => Reader.Parse(json, what, overrides);

    /// <summary>The config as the nested JSON that <see cref="Parse"/> reads back (saved beside a run and in its checkpoints).</summary>
    public static string ToJson(PretrainConfig config) => Reader.Write(config);

    /// <summary>Keys whose values differ between two configs.</summary>
    public static IReadOnlyList<string> Differences(PretrainConfig a, PretrainConfig b) => Reader.Differences(a, b);
}

/// <summary>A view recipe at another resolution (demo and tests): every view side, the FPN level bounds and the
/// cutout clamp scale by the same factor, so the boxes keep their pyramid levels.</summary>
public static class RecipeScaling
{
    public static ViewRecipe Scale(ViewRecipe recipe, double factor)
    {
        if (factor == 1) return recipe;
        if (!(factor > 0)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "must be > 0");
        int S(int v) => Math.Max(1, (int)Math.Round(v * factor));
        return recipe with
        {
            Name = $"{recipe.Name}@{S(recipe.Views[0].Size)}",
            Views = recipe.Views.Select(v => v with { Size = S(v.Size) }).ToList(),
            AwareRange = recipe.AwareRange.Select(S).ToList(),
            CutoutClampSize = S(recipe.CutoutClampSize),
        };
    }
}
