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

    /// <summary>
    /// A key of torchvision's <c>FasterRCNN</c> state dict (<c>fasterrcnn_resnet50_fpn_v2</c> layout) → the
    /// <see cref="FasterRcnn"/> key, or null when it has no place here:
    /// <c>backbone.body.*</c> → <c>backbone.*</c>; <c>backbone.fpn.inner_blocks.{i}.{0,1}.*</c> →
    /// <c>fpn.lateral_convs.{i}.{conv,bn}.*</c>; <c>layer_blocks</c> → <c>fpn_convs</c>; <c>rpn.head.*</c> as is;
    /// <c>roi_heads.box_head.*</c> via <see cref="ConvFcBoxHeadKey"/>; <c>roi_heads.box_predictor.*</c> as is;
    /// Mask R-CNN (<c>maskrcnn_resnet50_fpn_v2</c>): <c>roi_heads.mask_head.{i}.{0,1}.*</c> →
    /// <c>roi_heads.mask_head.{conv,bn}{i+1}.*</c>, <c>roi_heads.mask_predictor.conv5_mask.*</c> →
    /// <c>roi_heads.mask_head.deconv.*</c>, <c>mask_fcn_logits.*</c> → <c>roi_heads.mask_head.predictor.*</c>.
    /// </summary>
    public static string? FasterRcnnKey(string key)
    {
        const string body = "backbone.body.";
        if (key.StartsWith(body, StringComparison.Ordinal)) return "backbone." + key[body.Length..];
        foreach (var (tv, ours) in new[] { ("backbone.fpn.inner_blocks.", "fpn.lateral_convs."), ("backbone.fpn.layer_blocks.", "fpn.fpn_convs.") })
        {
            if (!key.StartsWith(tv, StringComparison.Ordinal)) continue;
            var parts = key[tv.Length..].Split('.', 3);
            if (parts.Length != 3) return null;
            return parts[1] switch
            {
                "0" => $"{ours}{parts[0]}.conv.{parts[2]}",
                "1" => $"{ours}{parts[0]}.bn.{parts[2]}",
                _ => null,
            };
        }
        if (key.StartsWith("rpn.head.", StringComparison.Ordinal) || key.StartsWith("roi_heads.box_predictor.", StringComparison.Ordinal)) return key;
        const string maskHead = "roi_heads.mask_head.";
        if (key.StartsWith(maskHead, StringComparison.Ordinal))
        {
            var parts = key[maskHead.Length..].Split('.', 3);
            // MaskRCNNHeads: {i}.0 conv i+1, {i}.1 its BatchNorm (the same layout as the conv part of the box head).
            return parts.Length == 3 && parts[0].Length == 1 && parts[0][0] is >= '0' and <= '3' ? maskHead + ConvFcBoxHeadKey(key[maskHead.Length..]) : null;
        }
        const string maskPredictor = "roi_heads.mask_predictor.";
        if (key.StartsWith(maskPredictor, StringComparison.Ordinal))
        {
            var rest = key[maskPredictor.Length..];
            if (rest.StartsWith("conv5_mask.", StringComparison.Ordinal)) return maskHead + "deconv." + rest["conv5_mask.".Length..];
            if (rest.StartsWith("mask_fcn_logits.", StringComparison.Ordinal)) return maskHead + "predictor." + rest["mask_fcn_logits.".Length..];
            return null;
        }
        const string boxHead = "roi_heads.box_head.";
        if (key.StartsWith(boxHead, StringComparison.Ordinal))
        {
            var k = ConvFcBoxHeadKey(key[boxHead.Length..]);
            return k is null ? null : boxHead + k;
        }
        return null;
    }
}
