using System.Collections;
using System.Text.Json;
using Soco.IO;
using Soco.Modeling;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>
/// Our model file: a PyTorch zip checkpoint (<c>torch.load</c> reads it) holding
/// <c>{"soco_net": {"arch", "config" (JSON), "epoch"}, "model": {name: tensor}}</c> with the official state-dict names.
/// `soco import` writes it from an official checkpoint; `soco export` and `soco features` read it.
/// </summary>
public static class ModelFile
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>The kind of a model file written without a "kind" entry (every file before detectors existed).</summary>
    public const string PretrainingKind = "pretraining";

    /// <summary>"pretraining" (no "kind" entry), "detector" (<see cref="DetectorModelFile"/>), or whatever a newer version wrote.</summary>
    public static string KindOf(IDictionary meta) => meta["kind"] as string ?? PretrainingKind;

    public static string UnknownKindMessage(string path, string kind) =>
        $"{path}: a SoCo.NET model file of kind '{kind}', which this version does not read (it knows '{PretrainingKind}' and '{DetectorModelFile.Kind}'; written by a newer SoCo.NET?)";

    public static void Save(string path, SocoArch arch, SocoConfig config, IReadOnlyDictionary<string, Tensor> state, long? epoch = null)
    {
        var model = new Hashtable();
        foreach (var (k, t) in state) model[k] = t.detach().cpu().contiguous();
        var meta = new Hashtable { ["arch"] = SocoArchitecture.Name(arch), ["config"] = ConfigToJson(config) };
        if (epoch is long e) meta["epoch"] = (int)e;
        var root = new Hashtable { ["soco_net"] = meta, ["model"] = model };
        Pth.Write(path, root);
    }

    public static string ConfigToJson(SocoConfig c) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["depth"] = c.Backbone.Depth, ["base_width"] = c.Backbone.BaseWidth, ["fpn_channels"] = c.FpnChannels,
        ["head_conv_dim"] = c.HeadConvDim, ["head_fc_dim"] = c.HeadFcDim, ["mlp_hidden_dim"] = c.MlpHiddenDim,
        ["embedding_dim"] = c.EmbeddingDim, ["roi_output_size"] = c.RoiOutputSize, ["aligned"] = c.Aligned,
        ["sampling_ratio"] = c.SamplingRatio, ["base_momentum"] = c.BaseMomentum, ["total_steps"] = c.TotalSteps,
        ["pooling"] = c.Pooling.ToString(),
    }, Json);

    /// <summary>Settings that the weights cannot tell (momentum schedule, pooling mode) come from the JSON.</summary>
    public static SocoConfig ConfigFromJson(string json, SocoConfig fromWeights)
    {
        using var d = JsonDocument.Parse(json);
        var r = d.RootElement;
        return fromWeights with
        {
            Aligned = r.TryGetProperty("aligned", out var a) ? a.GetBoolean() : fromWeights.Aligned,
            SamplingRatio = r.TryGetProperty("sampling_ratio", out var s) ? s.GetInt32() : fromWeights.SamplingRatio,
            BaseMomentum = r.TryGetProperty("base_momentum", out var m) ? m.GetDouble() : fromWeights.BaseMomentum,
            TotalSteps = r.TryGetProperty("total_steps", out var k) ? k.GetInt64() : fromWeights.TotalSteps,
            Pooling = r.TryGetProperty("pooling", out var p) && Enum.TryParse<LevelPooling>(p.GetString(), out var pl) ? pl : fromWeights.Pooling,
        };
    }
}
