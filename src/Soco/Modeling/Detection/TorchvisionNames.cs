namespace Soco.Modeling.Detection;

/// <summary>
/// Parameter names of torchvision 0.14's detection modules mapped to ours (docs/detection-parts.md §Names), for
/// loading torchvision state dicts.
/// </summary>
public static class TorchvisionNames
{
    /// <summary>
    /// A key of torchvision's <c>FastRCNNConvFCHead</c> (<c>{i}.0.weight</c> conv i, <c>{i}.1.*</c> its BatchNorm,
    /// <c>5.*</c> the Linear; 4 is Flatten, 6 ReLU) → the <see cref="ConvFcBoxHead"/> key (<c>conv{i+1}</c>,
    /// <c>bn{i+1}</c>, <c>fc1</c>). Returns null for a key that is not part of that head.
    /// </summary>
    public static string? ConvFcBoxHeadKey(string torchvisionKey)
    {
        var parts = torchvisionKey.Split('.', 3);
        if (parts.Length == 2 && parts[0] == "5") return "fc1." + parts[1];
        if (parts.Length == 3 && parts[0].Length == 1 && parts[0][0] is >= '0' and <= '3')
        {
            int i = parts[0][0] - '0' + 1;
            return parts[1] switch
            {
                "0" => $"conv{i}.{parts[2]}",
                "1" => $"bn{i}.{parts[2]}",
                _ => null,
            };
        }
        return null;
    }
}
