using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Soco.Modeling;
using Soco.Interop;
using Soco.Modeling.Detection;

namespace Soco.Training;

/// <summary>
/// A detector fine-tuning recipe (<c>configs/finetune/*.json</c>): the detector's shape, Detectron2's solver (SGD,
/// warm-up + steps, images per step) and the training input (multi-scale short side, max size, flip). The released
/// SoCo recipe is <c>soco_fpn_1x</c> (docs/soco-reference.md §8), with its mask branch <c>soco_mask_rcnn_fpn_1x</c>
/// (docs/mask-rcnn.md); the R-C4 pair is <c>soco_c4_1x</c> / <c>soco_mask_rcnn_c4_1x</c> (docs/mask-rcnn-c4.md).
/// </summary>
public sealed record FinetuneConfig
{
    public string Description { get; init; } = "";
    /// <summary>"fpn" (R-FPN, 4conv-1fc head) or "c4" (R-C4: RPN on C4, res5 RoI head; docs/detector-c4.md).</summary>
    public string Arch { get; init; } = "fpn";
    /// <summary>R-C4: SoCo's extra BatchNorm after res5 (<c>Res5ROIHeadsExtraNorm</c>).</summary>
    public bool Res5ExtraNorm { get; init; } = true;
    public int Depth { get; init; } = 50;
    public int BaseWidth { get; init; } = 64;
    public int FpnChannels { get; init; } = 256;
    public int RpnConvDepth { get; init; } = 1;
    public int BoxHeadConvDim { get; init; } = 256;
    public int BoxHeadFcDim { get; init; } = 1024;
    /// <summary>Mask R-CNN: train and keep a mask branch (Detectron2's MASK_ON; the data needs segmentations).</summary>
    public bool MaskOn { get; init; }
    /// <summary>Width of the mask head's convs (Detectron2's ROI_MASK_HEAD.CONV_DIM, 256).</summary>
    public int MaskHeadConvDim { get; init; } = 256;
    /// <summary>One mask per RoI for every class (Detectron2's ROI_MASK_HEAD.CLS_AGNOSTIC_MASK; default false, per class).</summary>
    public bool MaskClassAgnostic { get; init; }
    /// <summary>Factor on <c>loss_mask</c> in the step's total (mmdetection's <c>loss_mask.loss_weight</c>; Detectron2 and
    /// torchvision sum it unweighted: 1). metrics.jsonl logs the unweighted loss. docs/mask-rcnn-results.md says where
    /// the labelme overfit uses it.</summary>
    public double MaskLossWeight { get; init; } = 1;
    /// <summary>Mask targets thresholded at ≥ 0.5 (Detectron2's binary targets) instead of torchvision's soft ones (the
    /// default, false).</summary>
    public bool MaskBinaryTargets { get; init; }
    /// <summary>Short sides drawn per image in training (one, seeded by seed, epoch and sample).</summary>
    public int[] MinSizes { get; init; } = [640, 672, 704, 736, 768, 800];
    public int MaxSize { get; init; } = 1333;
    /// <summary>Short side of inference (evaluation and the saved model file).</summary>
    public int TestSize { get; init; } = 800;
    public bool Flip { get; init; } = true;
    public int ImagesPerStep { get; init; } = 16;
    public double BaseLr { get; init; } = 0.02;
    public long MaxIter { get; init; } = 90000;
    public long[] Steps { get; init; } = [60000, 80000];
    public double Gamma { get; init; } = 0.1;
    public long WarmupIters { get; init; } = 1000;
    public double WarmupFactor { get; init; } = 0.001;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 2.5e-5;
    public double WeightDecayNorm { get; init; } = 0;
    /// <summary>RPN proposals kept per image before and after NMS in training (Detectron2's FPN defaults 2000/1000;
    /// torchvision counts pre-NMS per level, as does our RPN). Inference keeps the detector model file's settings
    /// (1000/1000), so evaluation during training scores what <c>soco evaluate --checkpoint</c> will.</summary>
    public int RpnPreNmsTopkTrain { get; init; } = 2000;
    public int RpnPostNmsTopkTrain { get; init; } = 1000;
    /// <summary>RPN proposals kept per image at inference, recorded in the model file (torchvision's and Detectron2's
    /// FPN 1000/1000; Detectron2's C4 6000/1000).</summary>
    public int RpnPreNmsTopkTest { get; init; } = 1000;
    public int RpnPostNmsTopkTest { get; init; } = 1000;
    /// <summary>RoIs sampled per image for the box head's losses (Detectron2's 512).</summary>
    public int RoiBatchSizePerImage { get; init; } = 512;
    public long Seed { get; init; } = 0;
    public long CheckpointPeriod { get; init; } = 5000;
    public int KeepLast { get; init; } = 2;
    /// <summary>Evaluate on --val every this many steps (and after the last); 0 → after the last only.</summary>
    public long EvalPeriod { get; init; } = 0;
    /// <summary>"uniform" (each image once per epoch, shuffled) or "repeat_factor" (Detectron2's
    /// RepeatFactorTrainingSampler: rare-category images repeated, docs/lvis.md §Repeat-factor sampling).</summary>
    public string Sampler { get; init; } = "uniform";
    /// <summary>t of the repeat-factor sampler: categories in fewer than this fraction of images are repeated.</summary>
    public double RepeatThreshold { get; init; } = 0.001;
    /// <summary>Inference: detections scoring at or below this are dropped (Detectron2's SCORE_THRESH_TEST; LVIS 1e-4).</summary>
    public double TestScoreThreshold { get; init; } = 0.05;
    /// <summary>Inference: detections kept per image (Detectron2's DETECTIONS_PER_IMAGE; LVIS 300).</summary>
    public int TestDetectionsPerImage { get; init; } = 100;

    public static readonly string[] Samplers = ["uniform", "repeat_factor"];

    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"finetune config: {what}"); }
        Need(SocoArchitecture.FindDetector(Arch) is not null, $"arch '{Arch}' is neither fpn nor c4");
        Need(Depth is 18 or 34 or 50 or 101 or 152, $"depth {Depth} is not a ResNet depth (18, 34, 50, 101, 152)");
        Need(BaseWidth > 0 && FpnChannels > 0 && BoxHeadConvDim > 0 && BoxHeadFcDim > 0 && MaskHeadConvDim > 0, "widths must be positive");
        Need(RpnConvDepth >= 1, "rpn_conv_depth must be at least 1");
        Need(MinSizes.Length > 0 && MinSizes.All(s => s > 0), "min_sizes must be a non-empty list of positive sizes");
        Need(MaxSize > 0 && TestSize > 0, "max_size and test_size must be positive");
        Need(RpnPreNmsTopkTrain > 0 && RpnPostNmsTopkTrain > 0 && RpnPreNmsTopkTest > 0 && RpnPostNmsTopkTest > 0 && RoiBatchSizePerImage > 0, "RPN top-k and RoI batch sizes must be positive");
        Need(ImagesPerStep > 0, "images_per_step must be positive");
        Need(MaxIter > 0, "max_iter must be positive");
        Need(BaseLr > 0 && double.IsFinite(BaseLr), "base_lr must be positive");
        Need(Steps.Zip(Steps.Skip(1)).All(p => p.First <= p.Second), "steps must be increasing");
        Need(CheckpointPeriod >= 0 && EvalPeriod >= 0 && KeepLast >= 1, "checkpoint_period/eval_period ≥ 0, keep_last ≥ 1");
        Need(Samplers.Contains(Sampler), $"sampler '{Sampler}' is not one of {string.Join(", ", Samplers)}");
        Need(RepeatThreshold > 0 && double.IsFinite(RepeatThreshold), "repeat_threshold must be positive");
        Need(MaskLossWeight > 0 && double.IsFinite(MaskLossWeight), "mask_loss_weight must be positive");
        Need(TestScoreThreshold >= 0 && TestScoreThreshold < 1 && TestDetectionsPerImage > 0, "test_score_threshold must be in [0, 1) and test_detections_per_image positive");
    }

    /// <summary>The detector this recipe trains, for <paramref name="numClasses"/> classes (background included).</summary>
    public FasterRcnnConfig Detector(int numClasses, bool training) => new()
    {
        Arch = SocoArchitecture.FindDetector(Arch) ?? throw new ArgumentException($"finetune config: arch '{Arch}' is neither fpn nor c4"), Res5ExtraNorm = Res5ExtraNorm,
        NumClasses = numClasses,
        Backbone = new ResNetConfig { Depth = Depth, BaseWidth = BaseWidth },
        FpnChannels = FpnChannels, RpnConvDepth = RpnConvDepth, BoxHeadConvDim = BoxHeadConvDim, BoxHeadFcDim = BoxHeadFcDim,
        MaskOn = MaskOn, MaskHeadConvDim = MaskHeadConvDim, MaskClassAgnostic = MaskClassAgnostic,
        MinSizes = training ? MinSizes : [TestSize], MaxSize = MaxSize,
        Rpn = new RpnOptions { PreNmsTopNTrain = RpnPreNmsTopkTrain, PostNmsTopNTrain = RpnPostNmsTopkTrain, PreNmsTopNTest = RpnPreNmsTopkTest, PostNmsTopNTest = RpnPostNmsTopkTest },
        RoiHeads = training ? new RoiHeadsOptions { BatchSizePerImage = RoiBatchSizePerImage, MaskBinaryTargets = MaskBinaryTargets }
            : new RoiHeadsOptions { ScoreThreshold = TestScoreThreshold, DetectionsPerImage = TestDetectionsPerImage },
    };
}

/// <summary>Presets (<c>configs/finetune/&lt;name&gt;.json</c>), files and <c>key=value</c> overrides for <see cref="FinetuneConfig"/>.</summary>
public static class FinetuneConfigs
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    /// <summary>Presets live in <c>configs/finetune/</c>; the lookup is the pretraining configs' one.</summary>
    public static IReadOnlyList<string> PresetNames() => PretrainConfigs.PresetNames("finetune");

    public static FinetuneConfig Load(string presetOrPath, IEnumerable<string>? overrides = null)
    {
        string path = PretrainConfigs.Locate(presetOrPath, "finetune", "finetune config");
        return Parse(File.ReadAllText(path), path, overrides);
    }

    /// <summary>JSON text (a preset, a run's config.json, a checkpoint's copy) with overrides: the pretraining
    /// configs' reader and messages.</summary>
    public static FinetuneConfig Parse(string json, string what, IEnumerable<string>? overrides = null) => Reader.Parse(json, what, overrides);

    /// <summary>The nested form, grouped as detectron2's config (MODEL, INPUT, DATALOADER, SOLVER, TEST; docs/engine.md
    /// §Nested config): each key's flat name (the form before the nesting, still read from old run folders and
    /// checkpoints and accepted by <c>--set</c>) and its path, in writing order.</summary>
    public static readonly ConfigLayout Layout = new(
        ("description", "description"),
        ("arch", "model.arch"), ("depth", "model.depth"), ("base_width", "model.base_width"), ("res5_extra_norm", "model.res5_extra_norm"),
        ("fpn_channels", "model.fpn_channels"), ("rpn_conv_depth", "model.rpn_conv_depth"),
        ("rpn_pre_nms_topk_train", "model.rpn_pre_nms_topk_train"), ("rpn_post_nms_topk_train", "model.rpn_post_nms_topk_train"),
        ("rpn_pre_nms_topk_test", "model.rpn_pre_nms_topk_test"), ("rpn_post_nms_topk_test", "model.rpn_post_nms_topk_test"),
        ("box_head_conv_dim", "model.box_head_conv_dim"), ("box_head_fc_dim", "model.box_head_fc_dim"),
        ("roi_batch_size_per_image", "model.roi_batch_size_per_image"),
        ("mask_on", "model.mask_on"), ("mask_head_conv_dim", "model.mask_head_conv_dim"), ("mask_class_agnostic", "model.mask_class_agnostic"),
        ("mask_loss_weight", "model.mask_loss_weight"), ("mask_binary_targets", "model.mask_binary_targets"),
        ("min_sizes", "input.min_sizes"), ("max_size", "input.max_size"), ("test_size", "input.test_size"), ("flip", "input.flip"),
        ("sampler", "data.sampler"), ("repeat_threshold", "data.repeat_threshold"),
        ("images_per_step", "solver.images_per_step"), ("base_lr", "solver.base_lr"), ("max_iter", "solver.max_iter"),
        ("steps", "solver.steps"), ("gamma", "solver.gamma"), ("warmup_iters", "solver.warmup_iters"), ("warmup_factor", "solver.warmup_factor"),
        ("momentum", "solver.momentum"), ("weight_decay", "solver.weight_decay"), ("weight_decay_norm", "solver.weight_decay_norm"),
        ("checkpoint_period", "checkpoint.period"), ("keep_last", "checkpoint.keep_last"),
        ("eval_period", "test.eval_period"), ("test_score_threshold", "test.score_threshold"), ("test_detections_per_image", "test.detections_per_image"),
        ("seed", "seed"));

    static readonly ConfigReader<FinetuneConfig> Reader = new(Json, Layout, c => c.Validate());

    /// <summary>Every key (its nested path) and its type (as words).</summary>
    public static IReadOnlyList<(string Key, string Type)> Keys => Reader.Keys;

    /// <summary>The config as the nested JSON that <see cref="Parse"/> reads back (a run's config.json, its checkpoints).</summary>
    public static string ToJson(FinetuneConfig c) => Reader.Write(c);
}
