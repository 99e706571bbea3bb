using Soco.Modeling;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>The three SoCo models by their command-line names, and BYOL (the transfer benchmark's image-level baseline,
/// docs/transfer-benchmark.md §Arms), which SoCo's pretraining code trains as a model.</summary>
public enum SocoArch { SocoC4, SocoFpn, SocoFpnStar, Byol }

/// <summary>Names, construction, and inference of a model's architecture from its weights.</summary>
public static class SocoArchitecture
{
    public static readonly string[] Names = ["soco_c4", "soco_fpn", "soco_fpn_star", "byol"];

    public static SocoArch Parse(string name) => name.ToLowerInvariant().Replace("-", "_") switch
    {
        "soco_c4" or "c4" => SocoArch.SocoC4,
        "soco_fpn" or "fpn" => SocoArch.SocoFpn,
        "soco_fpn_star" or "fpn_star" or "soco*" => SocoArch.SocoFpnStar,
        "byol" => SocoArch.Byol,
        _ => throw new ArgumentException($"unknown architecture '{name}'; use one of: {string.Join(", ", Names)}"),
    };

    public static string Name(SocoArch arch) => arch switch
    {
        SocoArch.SocoC4 => "soco_c4",
        SocoArch.SocoFpn => "soco_fpn",
        SocoArch.Byol => "byol",
        _ => "soco_fpn_star",
    };

    public static SocoModel Create(SocoArch arch, SocoConfig config) => arch switch
    {
        SocoArch.SocoC4 => new SocoC4(config),
        SocoArch.SocoFpn => new SocoFpn(config),
        SocoArch.Byol => new ByolModel(config),
        _ => new SocoFpnStar(config),
    };

    /// <summary>
    /// Reads the sizes of a SoCo model from its state dict (official names without <c>module.</c>: encoder, neck,
    /// head, projector, predictor). FPN and FPN* have the same parameters, and so have C4 and BYOL (encoder, projector on
    /// C5's channels, predictor): <paramref name="hint"/> (e.g. from the run's config) decides between them; without it an
    /// FPN model is reported as <see cref="SocoArch.SocoFpn"/>, one without a neck as <see cref="SocoArch.SocoC4"/>.
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
            if (hint is SocoArch.SocoFpn or SocoArch.SocoFpnStar)
                throw new InvalidDataException($"{source}: expected a SoCo FPN model (neck.* and head.*), found a C4 model (no neck)");
            return (hint == SocoArch.Byol ? SocoArch.Byol : SocoArch.SocoC4, config);
        }
        if (hint is SocoArch.SocoC4 or SocoArch.Byol)
            throw new InvalidDataException($"{source}: expected a {Name(hint.Value)} model, found an FPN model (it has neck.* weights)");
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
