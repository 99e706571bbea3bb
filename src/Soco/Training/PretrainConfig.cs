using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Soco.Data;
using Soco.Modeling;
using Soco.Solver;

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
    /// <summary>fp32 (default) | bf16: backbone, FPN and box-head convolutions in bfloat16, float32 master weights and
    /// everything else float32 (TorchSharp has no autocast; see <see cref="Soco.Modeling.MixedPrecision"/>).</summary>
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
    public int ModelPairs => Model switch { "c4" => 1, "fpn" => 2, "fpn_star" => 3, "byol" => ByolPairs(), _ => 0 };

    /// <summary>BYOL takes whatever view pairs the recipe gives (0 when the recipe is unknown; Validate names it).</summary>
    int ByolPairs()
    {
        try { return ViewRecipe.Pairs.Count; }
        catch (ArgumentException) { return 0; }
    }

    /// <summary>The model, its norm layers per <see cref="Norm"/> (SyncBN over <paramref name="group"/>, default the
    /// process's own group).</summary>
    public SocoModel BuildModel(int numImages, Soco.Distributed.ProcessGroup? group = null)
    {
        var c = ModelConfig(numImages);
        using var norm = Norms.Use(NormKind, group);
        return Model switch
        {
            "c4" => new SocoC4(c),
            "fpn" => new SocoFpn(c),
            "fpn_star" => new SocoFpnStar(c),
            "byol" => new ByolModel(c),
            _ => throw new ArgumentException($"model must be c4, fpn, fpn_star or byol, not '{Model}'"),
        };
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
        Need(ModelPairs > 0 || Model == "byol", $"model must be c4, fpn, fpn_star or byol (got '{Model}')");
        Need(Pooling is "every_level" or "assigned_levels", $"pooling must be every_level or assigned_levels (got '{Pooling}')");
        Need(Precision is "fp32" or "bf16", $"precision must be fp32 or bf16 (got '{Precision}')");
        Need(Norm is "BN" or "SyncBN", $"norm must be BN or SyncBN (got '{Norm}')");
        ViewRecipe? recipe = null;
        try { recipe = ViewRecipe; }
        catch (ArgumentException e) { bad.Add(e.Message); }
        if (recipe is not null && ModelPairs > 0)
            Need(recipe.Pairs.Count == ModelPairs, $"model {Model} needs a recipe with {ModelPairs} view pair(s); {recipe.Name} has {recipe.Pairs.Count}");
        if (recipe is not null && Model == "c4") Need(!recipe.AwareLevels, $"model c4 needs the C4 recipe (plain correspondence), not {recipe.Name}");
        if (recipe is not null && Model is "fpn" or "fpn_star") Need(recipe.AwareLevels, $"model {Model} needs a level-aware (FPN) recipe, not {recipe.Name}");
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

    static JsonTypeInfo Info => Json.GetTypeInfo(typeof(PretrainConfig));

    /// <summary>Every key and its type (as words).</summary>
    public static IReadOnlyList<(string Key, string Type)> Keys =>
        Info.Properties.Select(p => (p.Name, TypeWord(p.PropertyType))).ToList();

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
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new ArgumentException($"config {path} is not valid JSON: {e.Message}"); }
        if (node is not JsonObject obj) throw new ArgumentException($"config {path} must be a JSON object of key: value");
        return FromObject(obj, path, overrides);
    }

    /// <summary>Parses a config JSON text (e.g. a run's saved config.json) with overrides.</summary>
    public static PretrainConfig Parse(string json, string what, IEnumerable<string>? overrides = null)
    {
        if (JsonNode.Parse(json) is not JsonObject obj) throw new ArgumentException($"{what} must be a JSON object");
        return FromObject(obj, what, overrides);
    }

    /// <summary>Values computed from other keys: setting one would be accepted and ignored, so it is refused with what to set instead.</summary>
    static readonly Dictionary<string, string> Derived = new(StringComparer.Ordinal)
    {
        ["total_batch"] = "it is batch_size × accumulate: set batch_size and accumulate (e.g. --set batch_size=128 --set accumulate=16 for 2048)",
        ["model_pairs"] = "it follows from model: set model (c4 → 1 pair, fpn → 2, fpn_star → 3) and a recipe with as many view pairs",
        ["backbone_config"] = "set depth and base_width",
        ["pooling_mode"] = "set pooling (every_level or assigned_levels)",
        ["view_recipe"] = "set recipe and image_size",
        ["lars_options"] = "set sgd_momentum, trust_coefficient and lars_eps",
    };

    static PretrainConfig FromObject(JsonObject obj, string what, IEnumerable<string>? overrides)
    {
        var known = Info.Properties.Where(p => !Derived.ContainsKey(p.Name)).ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var (key, _) in obj)
        {
            if (Derived.TryGetValue(key, out var instead)) throw new ArgumentException($"config {what}: '{key}' is derived and cannot be set; {instead}");
            if (!known.ContainsKey(key)) throw new ArgumentException($"config {what}: unknown key '{key}'{Suggest(key, known.Keys)}");
        }
        foreach (var o in overrides ?? [])
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"override '{o}' must be key=value (e.g. epochs=10)");
            string key = Normalize(o[..eq]);
            string value = o[(eq + 1)..].Trim();
            if (Derived.TryGetValue(key, out var instead)) throw new ArgumentException($"config key '{key}' is derived and cannot be set; {instead}");
            if (!known.TryGetValue(key, out var prop)) throw new ArgumentException($"unknown config key '{o[..eq].Trim()}'{Suggest(key, known.Keys)}");
            obj[key] = ParseValue(key, value, prop.PropertyType);
        }
        PretrainConfig config;
        try
        {
            config = obj.Deserialize<PretrainConfig>(Json) ?? throw new ArgumentException($"config {what} is empty");
        }
        catch (JsonException e)
        {
            string key = e.Path?.TrimStart('$', '.') ?? "?";
            string type = known.TryGetValue(key, out var p) ? TypeWord(p.PropertyType) : "another type";
            throw new ArgumentException($"config {what}: key '{key}' has the wrong type (expected {type}; got {obj[key]?.ToJsonString() ?? "null"})");
        }
        config.Validate();
        return config;
    }

    /// <summary>The config as the JSON that <see cref="Parse"/> reads back (saved beside a run).</summary>
    public static string ToJson(PretrainConfig config) => JsonSerializer.Serialize(config, Json);

    /// <summary>Keys whose values differ between two configs.</summary>
    public static IReadOnlyList<string> Differences(PretrainConfig a, PretrainConfig b)
    {
        var ja = JsonSerializer.SerializeToNode(a, Json)!.AsObject();
        var jb = JsonSerializer.SerializeToNode(b, Json)!.AsObject();
        return ja.Where(kv => !JsonNode.DeepEquals(kv.Value, jb[kv.Key])).Select(kv => $"{kv.Key}: {kv.Value?.ToJsonString()} → {jb[kv.Key]?.ToJsonString()}").ToList();
    }

    static string Normalize(string key) => key.Trim().Replace('-', '_').ToLowerInvariant();

    static JsonNode ParseValue(string key, string value, Type type)
    {
        var inv = CultureInfo.InvariantCulture;
        if (type == typeof(int))
            return int.TryParse(value, NumberStyles.Integer, inv, out var i) ? JsonValue.Create(i) : throw WrongType(key, value, type);
        if (type == typeof(long))
            return long.TryParse(value, NumberStyles.Integer, inv, out var l) ? JsonValue.Create(l) : throw WrongType(key, value, type);
        if (type == typeof(double))
            return double.TryParse(value, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? JsonValue.Create(d) : throw WrongType(key, value, type);
        if (type == typeof(bool))
            return bool.TryParse(value, out var b) ? JsonValue.Create(b) : throw WrongType(key, value, type);
        if (type == typeof(string)) return JsonValue.Create(value);
        throw new InvalidOperationException($"config key '{key}' of type {type.Name} cannot be set from the command line");
    }

    static ArgumentException WrongType(string key, string value, Type type) =>
        new($"config key '{key}' takes {TypeWord(type)}; '{value}' is not one");

    static string TypeWord(Type t) =>
        t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(double) ? "a number" : t == typeof(bool) ? "true or false" : t == typeof(string) ? "a string" : t.Name;

    static string Suggest(string key, IEnumerable<string> known)
    {
        var best = known.Select(k => (k, d: Distance(key, k))).OrderBy(x => x.d).First();
        return best.d <= Math.Max(2, key.Length / 3) ? $" (did you mean '{best.k}'?)" : $"; known keys: {string.Join(", ", known)}";
    }

    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
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
