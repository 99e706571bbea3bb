namespace Soco.Interop;

/// <summary>
/// The official SoCo converters' renaming tables (docs/soco-reference.md §7; <c>converter_detectron2/*.py</c>,
/// <c>converter_mmdetection/*.py</c>), as pure functions on the official model's state-dict names without the
/// <c>module.</c> prefix (<c>encoder.*</c>, <c>neck.*</c>, <c>head.*</c>). Python's <c>str.replace</c> replaces every
/// occurrence, as <see cref="string.Replace(string, string)"/> does, and the order of the replacements is kept.
/// A null result means the converter drops the key.
/// </summary>
public static class SocoConverters
{
    /// <summary>Detectron2 name of an online-encoder key (§7.1), or null for any other key.</summary>
    public static string? Detectron2Backbone(string key)
    {
        if (!key.StartsWith("encoder.", StringComparison.Ordinal)) return null;
        string k = key["encoder.".Length..];
        if (!k.Contains("layer", StringComparison.Ordinal)) k = "stem." + k;
        return k.Replace("layer1", "res2").Replace("layer2", "res3").Replace("layer3", "res4").Replace("layer4", "res5")
            .Replace("bn1", "conv1.norm").Replace("bn2", "conv2.norm").Replace("bn3", "conv3.norm")
            .Replace("downsample.0", "shortcut").Replace("downsample.1", "shortcut.norm");
    }

    /// <summary>Detectron2 name for the FPN "Head" file (§7.2: backbone, neck, box head; start = 2, num_outs = 4).</summary>
    public static string? Detectron2Head(string key, int start = 2, int numOuts = 4)
    {
        if (key.StartsWith("encoder.", StringComparison.Ordinal)) return Detectron2Backbone(key);
        if (key.StartsWith("neck.", StringComparison.Ordinal))
        {
            string k = key["neck.".Length..];
            for (int i = 0; i < numOuts; i++)
                k = k.Replace($"lateral_convs.{i}.conv", $"fpn_lateral{start + i}").Replace($"lateral_convs.{i}.bn", $"fpn_lateral{start + i}.norm")
                     .Replace($"fpn_convs.{i}.conv", $"fpn_output{start + i}").Replace($"fpn_convs.{i}.bn", $"fpn_output{start + i}.norm");
            return k;
        }
        if (key.StartsWith("head.", StringComparison.Ordinal))
        {
            string k = "box_head." + key["head.".Length..];
            for (int i = 1; i <= 4; i++) k = k.Replace($"bn{i}", $"conv{i}.norm").Replace($"ac{i}", $"conv{i}.activation");
            return k;
        }
        return null;
    }

    /// <summary>mmdetection name (§7.3, the "Head" converter: backbone, neck, 4conv-1fc shared bbox head).</summary>
    public static string? Mmdetection(string key)
    {
        if (key.StartsWith("encoder.", StringComparison.Ordinal)) return "backbone." + key["encoder.".Length..];
        if (key.StartsWith("neck.", StringComparison.Ordinal)) return key;
        if (key.StartsWith("head.", StringComparison.Ordinal))
        {
            string k = "roi_head.bbox_head." + key["head.".Length..];
            for (int i = 1; i <= 4; i++)
                k = k.Replace($"conv{i}", $"shared_convs.{i - 1}.conv").Replace($"bn{i}", $"shared_convs.{i - 1}.bn")
                     .Replace($"ac{i}", $"shared_convs.{i - 1}.activate");
            return k.Replace("fc1", "shared_fcs.0");
        }
        return null;
    }

    /// <summary>torchvision name of an online-encoder key (the plain ResNet state dict), or null.</summary>
    public static string? TorchvisionBackbone(string key) =>
        key.StartsWith("encoder.", StringComparison.Ordinal) ? key["encoder.".Length..] : null;
}
