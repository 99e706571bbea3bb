using Soco.Modeling;
using Soco.Modeling.Detection;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>The pretraining models (SoCo's three and the BYOL baseline).</summary>
public enum SocoArch { SocoC4, SocoFpn, SocoFpnStar, Byol }

/// <summary>
/// One kind of pretraining model as every part of SoCo.NET names and builds it.
/// </summary>
/// <param name="Name">The name in model files, <c>--arch</c> and messages (<c>soco_fpn</c>).</param>
/// <param name="ConfigName">The pretraining config's <c>model</c> value (<c>fpn</c>).</param>
/// <param name="OfficialName">The official code's <c>--model</c> (in its checkpoints' <c>opt</c>); null for BYOL.</param>
/// <param name="Pairs">View pairs it takes; null: as many as the recipe gives (BYOL).</param>
/// <param name="LevelAwareRecipe">true: needs a level-aware (FPN) recipe; false: a plain one (C4); null: either.</param>
/// <param name="HasFpn">Whether its weights hold a neck and a box head (<c>neck.*</c>, <c>head.*</c>).</param>
public sealed record ModelKind(SocoArch Arch, string Name, string ConfigName, string? OfficialName, int? Pairs, bool? LevelAwareRecipe,
    bool HasFpn, Func<SocoConfig, SocoModel> Create, params string[] Aliases)
{
    /// <summary>Every name this kind answers to (lower case).</summary>
    public IEnumerable<string> AllNames => new[] { Name, ConfigName, OfficialName?.ToLowerInvariant() }.Concat(Aliases).OfType<string>();
}

/// <summary>
/// The model registry: the pretraining kinds (<see cref="Kinds"/>) and the detector kinds (<see cref="DetectorKinds"/>),
/// by the names that configs, model files, checkpoints and commands use; construction; and inference of a
/// pretraining model's kind and sizes from its weights. Pretraining, <c>soco export</c>, <c>soco features</c>,
/// <c>soco import</c>, fine-tuning's <c>--init</c> and the model files all look kinds up here.
/// </summary>
public static class SocoArchitecture
{
    public static readonly IReadOnlyList<ModelKind> Kinds =
    [
        new(SocoArch.SocoC4, "soco_c4", "c4", "SoCo_C4", 1, false, false, c => new SocoC4(c)),
        new(SocoArch.SocoFpn, "soco_fpn", "fpn", "SoCo_FPN", 2, true, true, c => new SocoFpn(c)),
        new(SocoArch.SocoFpnStar, "soco_fpn_star", "fpn_star", "SoCo_FPN_Star", 3, true, true, c => new SocoFpnStar(c), "soco*"),
        // The image-level baseline (docs/transfer-benchmark.md §Arms): the weights of a C4 model (encoder, projector,
        // predictor), so only the run's config or the file's arch entry tells it apart.
        new(SocoArch.Byol, "byol", "byol", null, null, null, false, c => new ByolModel(c)),
    ];

    /// <summary>The detector kinds by the name in fine-tuning configs and detector model files.</summary>
    public static readonly IReadOnlyDictionary<string, DetectorArch> DetectorKinds = new Dictionary<string, DetectorArch>
    {
        ["fpn"] = DetectorArch.Fpn,
        ["c4"] = DetectorArch.C4,
    };

    public static readonly string[] Names = Kinds.Select(k => k.Name).ToArray();

    /// <summary>The kind of <paramref name="arch"/>.</summary>
    public static ModelKind Kind(SocoArch arch) => Kinds.First(k => k.Arch == arch);

    /// <summary>The kind by any of its names (<c>soco_fpn</c>, the config's <c>fpn</c>, the official <c>SoCo_FPN</c>),
    /// or null.</summary>
    public static ModelKind? Find(string name)
    {
        string n = name.Trim().ToLowerInvariant().Replace("-", "_");
        return Kinds.FirstOrDefault(k => k.AllNames.Contains(n));
    }

    public static SocoArch Parse(string name) => (Find(name)
        ?? throw new ArgumentException($"unknown architecture '{name}'; use one of: {string.Join(", ", Names)}")).Arch;

    public static string Name(SocoArch arch) => Kind(arch).Name;

    public static SocoModel Create(SocoArch arch, SocoConfig config) => Kind(arch).Create(config);

    /// <summary>The detector kind named <paramref name="name"/> (<c>fpn</c>, <c>c4</c>), or null.</summary>
    public static DetectorArch? FindDetector(string name) => DetectorKinds.TryGetValue(name, out var a) ? a : null;

    /// <summary>The name of a detector kind in configs and model files.</summary>
    public static string DetectorName(DetectorArch arch) => DetectorKinds.First(kv => kv.Value == arch).Key;

    /// <summary>
    /// Reads the sizes of a SoCo model from its state dict (official names without <c>module.</c>: encoder, neck,
    /// head, projector, predictor). FPN and FPN* have the same parameters, and so have C4 and BYOL: <paramref name="hint"/>
    /// (e.g. from the run's config) decides between them; without it an FPN model is reported as
    /// <see cref="SocoArch.SocoFpn"/> and one without a neck as <see cref="SocoArch.SocoC4"/>.
    /// </summary>
    public static (SocoArch Arch, SocoConfig Config) Infer(IReadOnlyDictionary<string, Tensor> state, string source, SocoArch? hint = null)
    {
        Tensor Get(string key) => state.TryGetValue(key, out var t) ? t
            : throw new InvalidDataException($"{source}: not a SoCo model: it has no '{key}' " + Describe(state));
        var stem = Get("encoder.conv1.weight");
        var blocks = new int[4];
        for (int l = 0; l < 4; l++)
            while (state.ContainsKey($"encoder.layer{l + 1}.{blocks[l]}.conv1.weight")) blocks[l]++;
        bool bottleneck = state.ContainsKey("encoder.layer1.0.conv3.weight");
        int depth = (bottleneck, string.Join(",", blocks)) switch
        {
            (false, "2,2,2,2") => 18,
            (false, "3,4,6,3") => 34,
            (true, "3,4,6,3") => 50,
            (true, "3,4,23,3") => 101,
            (true, "3,8,36,3") => 152,
            _ => throw new InvalidDataException($"{source}: encoder has blocks [{string.Join(", ", blocks)}] ({(bottleneck ? "bottleneck" : "basic")}), not a ResNet-18/34/50/101/152"),
        };
        var proj1 = Get("projector.linear1.weight");
        var proj2 = Get("projector.linear2.weight");
        var config = new SocoConfig
        {
            Backbone = new ResNetConfig { Depth = depth, BaseWidth = (int)stem.shape[0], InChannels = (int)stem.shape[1] },
            MlpHiddenDim = (int)proj1.shape[0],
            EmbeddingDim = (int)proj2.shape[0],
        };
        bool fpn = state.ContainsKey("neck.lateral_convs.0.conv.weight");
        if (!fpn)
        {
            if (hint is SocoArch h && Kind(h).HasFpn)
                throw new InvalidDataException($"{source}: expected a SoCo FPN model (neck.* and head.*), found a C4 model (no neck)");
            return (hint ?? SocoArch.SocoC4, config);
        }
        if (hint is SocoArch h2 && !Kind(h2).HasFpn)
            throw new InvalidDataException($"{source}: expected a {Name(h2)} model, found an FPN model (it has neck.* weights)");
        var conv1 = Get("head.conv1.weight");
        var fc1 = Get("head.fc1.weight");
        int convDim = (int)conv1.shape[0];
        int r = (int)Math.Round(Math.Sqrt(fc1.shape[1] / (double)convDim));
        config = config with
        {
            FpnChannels = (int)Get("neck.lateral_convs.0.conv.weight").shape[0],
            HeadConvDim = convDim,
            HeadFcDim = (int)fc1.shape[0],
            RoiOutputSize = r,
        };
        return (hint ?? SocoArch.SocoFpn, config);
    }

    static string Describe(IReadOnlyDictionary<string, Tensor> state)
    {
        var prefixes = state.Keys.Select(k => k.Split('.')[0]).Distinct().Take(8).ToArray();
        return prefixes.Length == 0 ? "(the file holds no tensors)" : $"(top-level names: {string.Join(", ", prefixes)})";
    }
}
