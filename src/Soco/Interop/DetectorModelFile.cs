using System.Collections;
using System.Globalization;
using System.Text.Json;
using Soco.IO;
using Soco.Modeling;
using Soco.Modeling.Detection;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>A detector read from a model file: the architecture, its class names (index = label, 0 background) and
/// the tensors kept for a later branch (a Mask R-CNN's mask head, under torchvision's names).</summary>
public sealed record DetectorModel(FasterRcnnConfig Config, IReadOnlyList<string> ClassNames, Dictionary<string, Tensor> State,
    Dictionary<string, Tensor> Kept, string Source, string Origin)
{
    /// <summary>Builds the detector with these weights, in eval mode, with the given inference settings (score
    /// threshold, detections per image) in place of the recorded ones.</summary>
    public FasterRcnn CreateModel(RoiHeadsOptions? inference = null)
    {
        var config = inference is null ? Config : Config with { RoiHeads = inference };
        var model = new FasterRcnn(config);
        var own = model.state_dict();
        var missing = own.Keys.Where(k => !State.ContainsKey(k)).ToArray();
        var unexpected = State.Keys.Where(k => !own.ContainsKey(k)).ToArray();
        if (missing.Length > 0 || unexpected.Length > 0)
            throw new InvalidDataException($"{Source}: the weights do not fit the recorded detector architecture" +
                (missing.Length > 0 ? $"; missing {missing.Length} (e.g. {string.Join(", ", missing.Take(3))})" : "") +
                (unexpected.Length > 0 ? $"; unexpected {unexpected.Length} (e.g. {string.Join(", ", unexpected.Take(3))})" : ""));
        foreach (var (k, t) in State)
            if (!own[k].shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"{Source}: '{k}' has shape [{string.Join(", ", t.shape)}], the recorded architecture expects [{string.Join(", ", own[k].shape)}]");
        model.load_state_dict(State, strict: true);
        model.eval();
        return model;
    }

    /// <summary>The class name of a label (its index), or "class {label}" when the file names none for it.</summary>
    public string ClassName(long label) => label >= 0 && label < ClassNames.Count ? ClassNames[(int)label] : $"class {label}";
}

/// <summary>
/// The detector kind of our model file (<see cref="ModelFile"/>): a PyTorch zip checkpoint holding
/// <c>{"soco_net": {"kind": "detector", "format": 1, "arch": "faster_rcnn_fpn", "config": JSON, "origin"},
/// "model": {our name: tensor}, "kept": {torchvision name: tensor}}</c>. The config JSON records what the weights cannot
/// tell: class names, transform sizes and pixel statistics (and, for readability, the shape figures). A model file
/// without "kind" is a SoCo pretraining model (the original layout); a kind or format this version does not know is
/// refused with one line.
/// </summary>
public static class DetectorModelFile
{
    public const string Kind = "detector";
    public const int Format = 1;
    public const string Arch = "faster_rcnn_fpn";
    public const string ArchC4 = "faster_rcnn_c4";
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static void Save(string path, DetectorModel m)
    {
        var model = new Hashtable();
        foreach (var (k, t) in m.State) model[k] = t.detach().cpu().contiguous();
        var meta = new Hashtable
        {
            ["kind"] = Kind, ["format"] = Format, ["arch"] = m.Config.Arch == DetectorArch.C4 ? ArchC4 : Arch, ["config"] = ConfigToJson(m.Config, m.ClassNames), ["origin"] = m.Origin,
        };
        var root = new Hashtable { ["soco_net"] = meta, ["model"] = model };
        if (m.Kept.Count > 0)
        {
            var kept = new Hashtable();
            foreach (var (k, t) in m.Kept) kept[k] = t.detach().cpu().contiguous();
            root["kept"] = kept;
        }
        Pth.Write(path, root);
    }

    /// <summary>Reads a detector model file; any other file is refused with a message saying what it is and what to do.</summary>
    public static DetectorModel Load(string path)
    {
        if (Directory.Exists(path))
            throw new InvalidDataException($"{path}: a folder, not a detector model file (write one with `soco import --from <torchvision state_dict> --out model.pth`)");
        var root = Pth.Unpickle(path);
        if (root["soco_net"] is not IDictionary meta || root["model"] is not IDictionary weights)
        {
            if (TorchvisionDetectorState.Recognises(root))
                throw new InvalidDataException($"{path}: a torchvision detector state_dict; `soco import --from` it to get a detector model file");
            throw new InvalidDataException($"{path}: not a detector model file (expected one written by `soco import` from a torchvision fasterrcnn/maskrcnn_resnet50_fpn_v2 state_dict)");
        }
        string kind = ModelFile.KindOf(meta);
        if (kind != Kind)
            throw new InvalidDataException(kind == ModelFile.PretrainingKind
                ? $"{path}: a SoCo pretraining model file ({meta["arch"]}), not a detector; detect and evaluate need a detector model file (soco import --from <torchvision state_dict>)"
                : ModelFile.UnknownKindMessage(path, kind));
        int format = meta["format"] is int f ? f : 0;
        if (format != Format)
            throw new InvalidDataException($"{path}: detector model file format {format}, this version reads format {Format} (written by another SoCo.NET version?)");
        if (meta["config"] is not string json) throw new InvalidDataException($"{path}: the detector model file has no config");
        var (config, names) = ConfigFromJson(json, path);
        var state = TensorsOf(weights);
        var kept = root["kept"] is IDictionary k ? TensorsOf(k) : new Dictionary<string, Tensor>();
        if (!config.MaskOn && kept.Count > 0 && kept.Keys.All(TorchvisionDetectorState.IsMaskKey))
        {
            // A Mask R-CNN imported before the mask branch existed kept its mask tensors under torchvision's names:
            // they become the mask branch now.
            config = config with { MaskOn = true, MaskHeadConvDim = (int)kept["roi_heads.mask_head.0.0.weight"].shape[0],
                MaskClassAgnostic = kept["roi_heads.mask_predictor.mask_fcn_logits.weight"].shape[0] == 1 };
            foreach (var (key, t) in kept) state[TorchvisionNames.FasterRcnnKey(key)!] = t;
            kept = [];
        }
        return new DetectorModel(config, names, state, kept, path, meta["origin"] as string ?? "");
    }

    static Dictionary<string, Tensor> TensorsOf(IDictionary d)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in d) if (e.Key is string k && e.Value is Tensor t) r[k] = t;
        return r;
    }

    public static string ConfigToJson(FasterRcnnConfig c, IReadOnlyList<string> names) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["num_classes"] = c.NumClasses, ["class_names"] = names, ["depth"] = c.Backbone.Depth, ["base_width"] = c.Backbone.BaseWidth,
        ["fpn_channels"] = c.FpnChannels, ["rpn_conv_depth"] = c.RpnConvDepth, ["box_head_conv_dim"] = c.BoxHeadConvDim,
        ["box_head_fc_dim"] = c.BoxHeadFcDim, ["min_size"] = c.MinSizes[^1], ["max_size"] = c.MaxSize,
        ["pixel_mean"] = c.PixelMean, ["pixel_std"] = c.PixelStd,
        ["score_threshold"] = c.RoiHeads.ScoreThreshold, ["detections_per_image"] = c.RoiHeads.DetectionsPerImage,
        ["mask_on"] = c.MaskOn, ["mask_head_conv_dim"] = c.MaskHeadConvDim, ["mask_class_agnostic"] = c.MaskClassAgnostic,
        // Written since the R-C4 detector; a file without them is an R-FPN with torchvision's RPN test settings.
        ["arch"] = SocoArchitecture.DetectorName(c.Arch), ["res5_extra_norm"] = c.Res5ExtraNorm,
        ["rpn_pre_nms_topk_test"] = c.Rpn.PreNmsTopNTest, ["rpn_post_nms_topk_test"] = c.Rpn.PostNmsTopNTest,
    }, Json);

    static (FasterRcnnConfig, IReadOnlyList<string>) ConfigFromJson(string json, string path)
    {
        try
        {
            using var d = JsonDocument.Parse(json);
            var r = d.RootElement;
            int I(string k) => r.TryGetProperty(k, out var v) ? v.GetInt32() : throw new InvalidDataException($"{path}: the detector config lacks \"{k}\"");
            float[] F(string k) => r.GetProperty(k).EnumerateArray().Select(v => v.GetSingle()).ToArray();
            int Opt(string k, int fallback) => r.TryGetProperty(k, out var v) ? v.GetInt32() : fallback;
            var arch = r.TryGetProperty("arch", out var a)
                ? SocoArchitecture.FindDetector(a.GetString() ?? "") ?? throw new InvalidDataException($"{path}: detector arch '{a.GetString()}' is neither fpn nor c4 (written by a newer SoCo.NET version?)")
                : DetectorArch.Fpn;
            var rpn = new RpnOptions();
            var config = new FasterRcnnConfig
            {
                NumClasses = I("num_classes"),
                Backbone = new ResNetConfig { Depth = I("depth"), BaseWidth = I("base_width") },
                FpnChannels = I("fpn_channels"), RpnConvDepth = I("rpn_conv_depth"), BoxHeadConvDim = I("box_head_conv_dim"),
                BoxHeadFcDim = I("box_head_fc_dim"), MinSizes = [I("min_size")], MaxSize = I("max_size"),
                PixelMean = F("pixel_mean"), PixelStd = F("pixel_std"),
                // Files written before the mask branch existed have no mask keys: a box detector.
                MaskOn = r.TryGetProperty("mask_on", out var mo) && mo.GetBoolean(),
                MaskHeadConvDim = r.TryGetProperty("mask_head_conv_dim", out var md) ? md.GetInt32() : 256,
                MaskClassAgnostic = r.TryGetProperty("mask_class_agnostic", out var ma) && ma.GetBoolean(),
                Arch = arch, Res5ExtraNorm = !r.TryGetProperty("res5_extra_norm", out var en) || en.GetBoolean(),
                Rpn = rpn with { PreNmsTopNTest = Opt("rpn_pre_nms_topk_test", rpn.PreNmsTopNTest), PostNmsTopNTest = Opt("rpn_post_nms_topk_test", rpn.PostNmsTopNTest) },
            };
            // Inference settings (added with LVIS's 1e-4 / 300); files written before them keep torchvision's defaults.
            if (r.TryGetProperty("score_threshold", out var st)) config = config with { RoiHeads = config.RoiHeads with { ScoreThreshold = st.GetDouble() } };
            if (r.TryGetProperty("detections_per_image", out var dpi)) config = config with { RoiHeads = config.RoiHeads with { DetectionsPerImage = dpi.GetInt32() } };
            var names = r.TryGetProperty("class_names", out var n) ? n.EnumerateArray().Select(v => v.GetString() ?? "").ToArray() : [];
            return (config, names);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: the detector config cannot be read ({e.Message})");
        }
    }
}

/// <summary>
/// Recognises a torchvision <c>fasterrcnn_resnet50_fpn_v2</c> / <c>maskrcnn_resnet50_fpn_v2</c> state_dict by its keys
/// and reads the architecture from the tensor shapes (docs/detection.md §1 State-dict keys): ResNet depth from the
/// blocks per stage, stem width from <c>conv1</c>, FPN width, RPN conv depth, box-head widths and the number of classes
/// (background included). The transform sizes are not in a state_dict: they are given (torchvision's 800 / 1333 by default).
/// </summary>
public static class TorchvisionDetectorState
{
    const string Body = "backbone.body.";

    public static bool Recognises(IDictionary root) =>
        root.Contains(Body + "conv1.weight") && root.Contains("rpn.head.cls_logits.weight") && root.Contains("roi_heads.box_predictor.cls_score.weight");

    /// <summary>True for a key of the mask branch of a torchvision Mask R-CNN state dict.</summary>
    public static bool IsMaskKey(string key) => key.StartsWith("roi_heads.mask_head.", StringComparison.Ordinal) || key.StartsWith("roi_heads.mask_predictor.", StringComparison.Ordinal);

    /// <param name="classNames">Names for labels 1…K−1 (null: torchvision's COCO names for a 91-class model, "class i" otherwise).</param>
    public static DetectorModel Read(string path, IDictionary root, IReadOnlyList<string>? classNames, int minSize = 800, int maxSize = 1333)
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in root)
            if (e.Key is string k && e.Value is Tensor t) state[k.StartsWith("module.", StringComparison.Ordinal) ? k[7..] : k] = t;
        Tensor Need(string key) => state.TryGetValue(key, out var t) ? t
            : throw new InvalidDataException($"{path}: a torchvision detector state_dict without '{key}'");
        if (state.ContainsKey("roi_heads.box_head.fc6.weight"))
            throw new InvalidDataException($"{path}: a torchvision v1 model (fasterrcnn/maskrcnn_resnet50_fpn: TwoMLPHead fc6/fc7, FPN without BatchNorm); only the *_v2 models (4conv-1fc head with BatchNorm) can be imported");
        int Count(string prefix) => state.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..].Split('.')[0]).Where(s => int.TryParse(s, out _)).Distinct().Count();
        int[] blocks = [Count(Body + "layer1."), Count(Body + "layer2."), Count(Body + "layer3."), Count(Body + "layer4.")];
        int depth = blocks switch
        {
            [3, 4, 6, 3] => state.ContainsKey(Body + "layer1.0.conv3.weight") ? 50 : 34,
            [3, 4, 23, 3] => 101,
            [3, 8, 36, 3] => 152,
            [2, 2, 2, 2] => 18,
            _ => throw new InvalidDataException($"{path}: a ResNet with [{string.Join(", ", blocks)}] blocks per stage is not ResNet-18/34/50/101/152"),
        };
        int anchors = (int)Need("rpn.head.cls_logits.weight").shape[0];
        if (anchors != 3) throw new InvalidDataException($"{path}: the RPN predicts {anchors} anchors per location; the detector's anchor generator has 3 (ratios 0.5, 1, 2)");
        int rpnDepth = Count("rpn.head.conv.");
        if (rpnDepth == 0) throw new InvalidDataException($"{path}: no RPN convolutions (rpn.head.conv.*)");
        int boxConvs = Count("roi_heads.box_head.");
        if (!state.ContainsKey("roi_heads.box_head.3.0.weight") || !state.ContainsKey("roi_heads.box_head.5.weight"))
            throw new InvalidDataException($"{path}: the box head is not the *_v2 4conv-1fc head (roi_heads.box_head.0–3 convs with BatchNorm, 5 the Linear); found {boxConvs} numbered entries");
        var config = new FasterRcnnConfig
        {
            NumClasses = (int)Need("roi_heads.box_predictor.cls_score.weight").shape[0],
            Backbone = new ResNetConfig { Depth = depth, BaseWidth = (int)Need(Body + "conv1.weight").shape[0] },
            FpnChannels = (int)Need("backbone.fpn.inner_blocks.0.0.weight").shape[0],
            RpnConvDepth = rpnDepth,
            BoxHeadConvDim = (int)Need("roi_heads.box_head.0.0.weight").shape[0],
            BoxHeadFcDim = (int)Need("roi_heads.box_head.5.weight").shape[0],
            MinSizes = [minSize],
            MaxSize = maxSize,
        };
        if (state.ContainsKey("roi_heads.mask_head.0.0.weight"))
        {
            // maskrcnn_resnet50_fpn_v2: MaskRCNNHeads (4 convs with BatchNorm) + MaskRCNNPredictor.
            if (!state.ContainsKey("roi_heads.mask_head.3.1.weight") || !state.ContainsKey("roi_heads.mask_predictor.mask_fcn_logits.weight"))
                throw new InvalidDataException($"{path}: the mask branch is not maskrcnn_resnet50_fpn_v2's (roi_heads.mask_head.0–3 convs with BatchNorm and roi_heads.mask_predictor.conv5_mask / mask_fcn_logits)");
            long maskClasses = Need("roi_heads.mask_predictor.mask_fcn_logits.weight").shape[0];
            if (maskClasses != config.NumClasses && maskClasses != 1)
                throw new InvalidDataException($"{path}: the mask predictor has {maskClasses} channels for a box predictor of {config.NumClasses} classes");
            config = config with { MaskOn = true, MaskHeadConvDim = (int)Need("roi_heads.mask_head.0.0.weight").shape[0], MaskClassAgnostic = maskClasses == 1 };
        }
        var names = Names(config.NumClasses, classNames, path);
        using var model = new FasterRcnn(config);
        IReadOnlyList<string> unused;
        try
        {
            unused = model.LoadTorchvisionState(state);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
        if (unused.Count > 0)
            throw new InvalidDataException($"{path}: {unused.Count} tensors that a fasterrcnn/maskrcnn_resnet50_fpn_v2 does not have, e.g. {string.Join(", ", unused.Take(3))}");
        var ours = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        string origin = config.MaskOn ? "torchvision maskrcnn_resnet50_fpn_v2" : "torchvision fasterrcnn_resnet50_fpn_v2";
        return new DetectorModel(config, names, ours, [], path, origin);
    }

    static IReadOnlyList<string> Names(int numClasses, IReadOnlyList<string>? given, string path)
    {
        if (given is not null)
        {
            if (given.Count != numClasses - 1)
                throw new ArgumentException($"{given.Count} class names given for a model with {numClasses - 1} classes (labels 1…{numClasses - 1}; {path})");
            return ["__background__", .. given];
        }
        if (numClasses == CocoLabels.TorchvisionNames.Count) return CocoLabels.TorchvisionNames;
        return Enumerable.Range(0, numClasses).Select(i => i == 0 ? "__background__" : "class " + i.ToString(CultureInfo.InvariantCulture)).ToArray();
    }
}
