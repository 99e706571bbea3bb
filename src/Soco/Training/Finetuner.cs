using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Soco.Data;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Data.Voc;
using Soco.Engine;
using Soco.Evaluation;
using Soco.Imaging;
using Soco.Interop;
using Soco.IO;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Solver;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Training;

/// <summary>Where and how a fine-tuning run executes (not part of its numbers, except threads and device, which
/// change floating-point reduction order).</summary>
public sealed record FinetuneOptions
{
    /// <summary>COCO instances JSON, or a Pascal VOC folder (Annotations/ + JPEGImages/).</summary>
    public required string Train { get; init; }
    /// <summary>Folder of the training images (by file_name); null → a VOC folder's JPEGImages/.</summary>
    public string? TrainImages { get; init; }
    public string? Val { get; init; }
    public string? ValImages { get; init; }
    /// <summary>"none", one of our SoCo checkpoints / model files / run folders, or a torchvision ResNet state_dict.</summary>
    public string Init { get; init; } = "none";
    public required string RunDirectory { get; init; }
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; } = Environment.ProcessorCount;
    public long? StopAfterStep { get; init; }
    /// <summary>Resume from this checkpoint file instead of the run folder's newest (<c>--resume PATH</c>).</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Move unreadable checkpoints to <c>checkpoints/unreadable/</c> and continue from the newest readable one (<c>--restart</c>).</summary>
    public bool Restart { get; init; }
    /// <summary>A checkpoint must be there to resume from (bare <c>--resume</c>).</summary>
    public bool RequireCheckpoint { get; init; }
    public double PlotEverySeconds { get; init; } = 15;
    public Action<string>? Log { get; init; }
    /// <summary>The processes of a data-parallel fine-tuning (docs/distributed.md §Fine-tuning); null → one process.
    /// Rank 0 owns the run folder; every rank trains its slice of each step's images.</summary>
    public Soco.Distributed.ProcessGroup? Group { get; init; }
}

public sealed record FinetuneResult(string RunDirectory, TrainStop Stop, long StepsDone, long TotalSteps, long StepsThisSession,
    string? LastCheckpoint, string? ModelFile, double? FirstLoss, double? LastLoss, double StepsPerSecond, IReadOnlyDictionary<string, double>? LastEval);

/// <summary>The training data of a run (<c>run.json</c>), checked on resume.</summary>
public sealed record FinetuneDataInfo(string Train, string TrainImages, int Images, int Boxes, string Fingerprint);

/// <summary>One training image: its file, its usable gt boxes (x1, y1, x2, y2 in original pixels), labels (category
/// ids) and, for a Mask R-CNN, each box's segmentation (polygons or RLE, made into a full-image mask when loaded).</summary>
public sealed record DetectionSample(string Path, long ImageId, float[] Boxes, long[] Labels, CocoSegmentation[]? Segmentations = null);

/// <summary>
/// Detection training data (Detectron2's <c>DatasetMapper</c> for boxes): the usable boxes of each annotated image (crowd
/// boxes left out, as Detectron2's mapper drops <c>iscrowd</c> instances; images left with none skipped and counted, as
/// its <c>filter_empty_annotations</c>), an order of the images per epoch seeded by (seed, epoch), and per sample a
/// decode, a seeded horizontal flip that moves the boxes, and the generator the detector draws its short side and
/// RPN/RoI samples from (seeded by seed, epoch and sample). With <c>sampler = "repeat_factor"</c> the epochs come from
/// <see cref="RepeatFactorSampler"/> instead (factors from the usable boxes' categories, as Detectron2 computes them on
/// its filtered dataset dicts), and a sample's generator is seeded by its slot in the epoch, so two repeats of an
/// image in one epoch get different flips and sizes. With <c>masks</c>, each instance's segmentation becomes a
/// full-image mask at load time (pycocotools' annToRLE rules, docs/mask-rcnn.md §Data) that the flip mirrors with the
/// pixels and the detector's transform resizes with them.
/// </summary>
public sealed class DetectionTrainData
{
    public DetectionTrainData(CocoDataset truth, string imageFolder, long seed, bool flip, string sampler = "uniform", double repeatThreshold = 0.001, bool masks = false)
    {
        Truth = truth;
        Seed = seed;
        Flip = flip;
        Masks = masks;
        var byImage = truth.Annotations.Where(a => !a.IsCrowd && a.W > 0 && a.H > 0).GroupBy(a => a.ImageId).ToDictionary(g => g.Key, g => g.ToList());
        var samples = new List<DetectionSample>();
        var skipped = new List<string>();
        foreach (var im in truth.Images)
        {
            if (!byImage.TryGetValue(im.Id, out var anns)) { skipped.Add($"{im.FileName} (image id {im.Id})"); continue; }
            string path = System.IO.Path.Combine(imageFolder, im.FileName);
            if (!File.Exists(path)) throw new FileNotFoundException($"{truth.Source}: image id {im.Id} names {im.FileName}, which is not in {imageFolder}");
            CocoSegmentation[]? segs = null;
            if (masks)
            {
                var without = anns.FirstOrDefault(a => a.Segmentation is null);
                if (without is not null)
                    throw new ArgumentException($"{truth.Source}: annotation id {without.Id} (image {im.FileName}) has no segmentation; a Mask R-CNN trains on instance masks (set mask_on=false to train boxes only)");
                segs = anns.Select(a => a.Segmentation!).ToArray();
            }
            samples.Add(new DetectionSample(path, im.Id,
                anns.SelectMany(a => new[] { (float)a.X, (float)a.Y, (float)(a.X + a.W), (float)(a.Y + a.H) }).ToArray(),
                anns.Select(a => a.CategoryId).ToArray(), segs));
        }
        if (samples.Count == 0) throw new ArgumentException($"{truth.Source}: no image has a usable (non-crowd, positive-size) box; nothing to train on");
        Samples = samples;
        SkippedImages = skipped;
        if (sampler == "repeat_factor")
            Repeat = new RepeatFactorSampler(RepeatFactorSampler.FromCategoryFrequency(samples.Select(s => (IReadOnlyCollection<long>)s.Labels).ToList(), repeatThreshold).ImageFactors, seed);
        else if (sampler != "uniform") throw new ArgumentException($"sampler '{sampler}': expected uniform or repeat_factor");
    }

    /// <summary>The repeat-factor sampler, or null for one uniform pass per epoch.</summary>
    public RepeatFactorSampler? Repeat { get; }

    public CocoDataset Truth { get; }
    public long Seed { get; }
    public bool Flip { get; }
    /// <summary>Whether samples carry instance masks (Mask R-CNN training).</summary>
    public bool Masks { get; }
    public IReadOnlyList<DetectionSample> Samples { get; }
    /// <summary>Images without a usable box (left out of training, as Detectron2 does).</summary>
    public IReadOnlyList<string> SkippedImages { get; }

    /// <summary>SHA-256 of what training reads: every sample's file name, boxes and labels, in order.</summary>
    public string Fingerprint()
    {
        var text = new StringBuilder();
        foreach (var s in Samples)
        {
            text.Append(System.IO.Path.GetFileName(s.Path)).Append('|').AppendJoin(',', s.Boxes.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))
                .Append('|').AppendJoin(',', s.Labels);
            // The masks are part of what a Mask R-CNN trains on (box-only fingerprints stay as they were).
            foreach (var seg in s.Segmentations ?? [])
            {
                using var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms)) seg.WriteTo(w);
                text.Append('|').Append(Encoding.UTF8.GetString(ms.ToArray()));
            }
            text.Append('\n');
        }
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>Reads annotations: a COCO JSON file, or a VOC folder (its JPEGImages/ the default image folder).</summary>
    public static (CocoDataset Truth, string Images) Open(string annotations, string? images) => Open(annotations, images, out _);

    /// <summary>As <see cref="Open(string, string?)"/>; <paramref name="lvis"/> is the LVIS view of an LVIS-format file.</summary>
    public static (CocoDataset Truth, string Images) Open(string annotations, string? images, out LvisDataset? lvis)
    {
        lvis = null;
        if (Directory.Exists(annotations))
            return (VocDatasetReader.Read(annotations), images ?? System.IO.Path.Combine(annotations, "JPEGImages"));
        if (!File.Exists(annotations)) throw new FileNotFoundException($"annotations not found: {annotations}");
        return (LvisReader.ReadGroundTruth(annotations, "auto", out lvis), images ?? throw new ArgumentException($"{annotations}: give the folder of its images (--train-images / --val-images)"));
    }

    int[]? _order;
    long _orderEpoch = -1;

    /// <summary>The sample at global position <paramref name="position"/> (step × images per step + slot): its epoch, its
    /// index and the key its generator is seeded with (the index; with the repeat-factor sampler the slot in the epoch).</summary>
    public (long Epoch, int Index, long Key) Draw(long position)
    {
        if (Repeat is null)
        {
            var (e, i) = At(position);
            return (e, i, i);
        }
        var (epoch, slot, index) = Repeat.At(position);
        return (epoch, index, slot);
    }

    /// <summary>The sample at global position <paramref name="position"/> of the uniform order: its epoch and index.</summary>
    public (long Epoch, int Index) At(long position)
    {
        long epoch = position / Samples.Count;
        if (_orderEpoch != epoch)
        {
            var order = Enumerable.Range(0, Samples.Count).ToArray();
            SampleRandom.For(Seed, epoch, -1).Shuffle(order);
            _order = order;
            _orderEpoch = epoch;
        }
        return (epoch, _order![(int)(position % Samples.Count)]);
    }

    /// <summary>The image (3×H×W float RGB in [0, 1]), boxes (K×4), labels (K) and generator of a sample in an epoch.</summary>
    public (Tensor Image, Tensor Boxes, Tensor Labels, SampleRandom Random) Load(long epoch, int index, long? key = null)
    {
        var (image, boxes, labels, _, random) = LoadWithMasks(epoch, index, key);
        return (image, boxes, labels, random);
    }

    /// <summary>As <see cref="Load"/>, with the instance masks (K×H×W uint8, the decoded image's size, flipped with it)
    /// when the data has masks (null otherwise).</summary>
    public (Tensor Image, Tensor Boxes, Tensor Labels, Tensor? Masks, SampleRandom Random) LoadWithMasks(long epoch, int index, long? key = null)
    {
        var s = Samples[index];
        var random = SampleRandom.For(Seed, epoch, key ?? index);
        var img = ImageDecoder.Decode(s.Path);
        var image = DetectorInference.ToTensor(img);
        var b = (float[])s.Boxes.Clone();
        Tensor? masks = s.Segmentations is null ? null : InstanceMasks(s, img.Height, img.Width);
        if (Flip && random.Fork(7).Bernoulli(0.5))
        {
            image = image.flip(2);
            masks = masks?.flip(2);
            for (int k = 0; k < b.Length; k += 4)
                (b[k], b[k + 2]) = (img.Width - b[k + 2], img.Width - b[k]);
        }
        // Boxes reaching past the decoded image (annotation tolerance) are clipped to it; Detectron2 clips too.
        for (int k = 0; k < b.Length; k += 4)
        {
            b[k] = Math.Clamp(b[k], 0, img.Width); b[k + 2] = Math.Clamp(b[k + 2], 0, img.Width);
            b[k + 1] = Math.Clamp(b[k + 1], 0, img.Height); b[k + 3] = Math.Clamp(b[k + 3], 0, img.Height);
        }
        return (image, tensor(b, [s.Labels.Length, 4]), tensor(s.Labels), masks, random);
    }

    /// <summary>The full-image mask of each instance (K×H×W uint8, row-major), as pycocotools' <c>annToRLE</c> +
    /// <c>decode</c> make it: polygons rasterised at the image's size and merged, RLEs as they are (their size must
    /// be the image's).</summary>
    static Tensor InstanceMasks(DetectionSample s, int height, int width)
    {
        var all = new byte[(long)s.Segmentations!.Length * height * width];
        for (int k = 0; k < s.Segmentations.Length; k++)
        {
            var rle = s.Segmentations[k].ToRle(height, width);
            if (rle.Height != height || rle.Width != width)
                throw new InvalidDataException($"{s.Path}: instance {k}'s RLE mask is {rle.Width}×{rle.Height}, the image is {width}×{height}");
            rle.Decode(all.AsSpan((int)((long)k * height * width), height * width));
        }
        return tensor(all, [s.Segmentations.Length, height, width]);
    }
}

/// <summary>Puts pretrained weights into a fresh detector and says which tensors came from where (docs/detection.md).</summary>
public static class DetectorInit
{
    /// <summary>Loads <paramref name="source"/> ("none", a SoCo checkpoint / model file / run folder, or a torchvision
    /// ResNet state_dict) into <paramref name="model"/>; returns log lines.</summary>
    public static List<string> Apply(FasterRcnn model, string source)
    {
        var lines = new List<string>();
        if (source.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            lines.Add("init: none (every tensor starts from its seeded initialisation)");
            return lines;
        }
        Dictionary<string, Tensor> mapped;
        string what;
        if (!Directory.Exists(source) && !File.Exists(source))
            throw new FileNotFoundException($"--init {source}: no such file or folder (give a SoCo checkpoint, model file or run folder, a torchvision ResNet .pth, or none)");
        var root = Directory.Exists(source) ? null : Pth.Unpickle(source);
        if (root is not null && root.Contains("layer1.0.conv1.weight") && root.Contains("conv1.weight"))
        {
            // torchvision ResNet state_dict: our backbone uses torchvision's names; its fc has no place in a detector.
            what = "torchvision ResNet state_dict";
            mapped = new Dictionary<string, Tensor>();
            foreach (System.Collections.DictionaryEntry e in root)
                if (e.Key is string k && e.Value is Tensor t && !k.StartsWith("fc.", StringComparison.Ordinal)) mapped["backbone." + k] = t;
        }
        else
        {
            var loaded = CheckpointReader.Read(source);
            what = $"SoCo {loaded.Layout} weights ({loaded.Source})";
            // The online network only: encoder → backbone, neck (FPN, BN after lateral and output convs) → fpn, head
            // (4conv-1fc with BN) → the RoI box head, where Detectron2 puts SoCo's pretrained head (docs/soco-reference.md §8).
            mapped = new Dictionary<string, Tensor>();
            foreach (var (k, t) in loaded.State)
            {
                string? ours = k.StartsWith("encoder.", StringComparison.Ordinal) ? "backbone." + k["encoder.".Length..]
                    : k.StartsWith("neck.", StringComparison.Ordinal) ? "fpn." + k["neck.".Length..]
                    : k.StartsWith("head.", StringComparison.Ordinal) ? "roi_heads.box_head." + k["head.".Length..] : null;
                if (ours is not null) mapped[ours] = t;
            }
        }
        if (model.Config.Arch == DetectorArch.C4) mapped = C4Places(mapped, lines);
        var own = model.state_dict();
        var loadedKeys = new List<string>();
        var shapeMismatch = new List<string>();
        using (no_grad())
            foreach (var (k, t) in mapped)
            {
                if (!own.TryGetValue(k, out var target)) { shapeMismatch.Add($"{k} (no such tensor in the detector)"); continue; }
                if (!target.shape.SequenceEqual(t.shape)) { shapeMismatch.Add($"{k} [{string.Join(",", t.shape)}] vs detector [{string.Join(",", target.shape)}]"); continue; }
                target.copy_(t);
                loadedKeys.Add(k);
            }
        if (loadedKeys.Count(k => k.StartsWith("backbone.", StringComparison.Ordinal)) == 0)
            throw new ArgumentException($"--init {source}: {what} gives no backbone tensor that fits this detector (depth/base_width of the config differ from the checkpoint's?)" +
                (shapeMismatch.Count > 0 ? $"; e.g. {shapeMismatch[0]}" : ""));
        var fresh = own.Keys.Where(k => !loadedKeys.Contains(k)).ToList();
        lines.Add($"init: {what}: loaded {loadedKeys.Count} tensors ({Summary(loadedKeys)})");
        lines.Add($"init: {fresh.Count} tensors start fresh ({Summary(fresh)})");
        if (shapeMismatch.Count > 0)
            lines.Add($"init: {shapeMismatch.Count} pretrained tensors do not fit and were not loaded: {string.Join("; ", shapeMismatch.Take(8))}{(shapeMismatch.Count > 8 ? "; ..." : "")}");
        return lines;
    }

    /// <summary>
    /// Where pretrained tensors go in an R-C4 detector (docs/detector-c4.md §Init): the ResNet's stem and layer1–3 stay
    /// the backbone; layer4 (res5, which SoCo_C4 pretrains on its RoIs exactly as the detector's RoI head uses it)
    /// moves to <c>roi_heads.box_head.res5</c> — Detectron2's <c>roi_heads.res5</c>; an FPN checkpoint's neck and
    /// box head have no place here and are left out, with a line saying so.
    /// </summary>
    static Dictionary<string, Tensor> C4Places(Dictionary<string, Tensor> mapped, List<string> lines)
    {
        const string layer4 = "backbone.layer4.", res5 = "roi_heads.box_head.res5.";
        var result = new Dictionary<string, Tensor>();
        int moved = 0, dropped = 0;
        foreach (var (k, t) in mapped)
        {
            if (k.StartsWith(layer4, StringComparison.Ordinal)) { result[res5 + k[layer4.Length..]] = t; moved++; }
            else if (k.StartsWith("fpn.", StringComparison.Ordinal) || k.StartsWith("roi_heads.box_head.", StringComparison.Ordinal)) dropped++;
            else result[k] = t;
        }
        lines.Add($"init: R-C4: {moved} res5 tensors (layer4.*) → roi_heads.box_head.res5.* (Detectron2's roi_heads.res5); stem and layer1–3 → backbone.*; " +
                  "roi_heads.box_head.norm (SoCo's extra norm after res5) starts fresh" +
                  (dropped > 0 ? $"; {dropped} FPN neck / 4conv-1fc head tensors have no place in an R-C4 detector and are not loaded" : ""));
        return result;
    }

    /// <summary>Counts per top-level part (backbone, fpn, rpn, roi_heads.box_head, roi_heads.box_predictor, roi_heads.mask_head).</summary>
    static string Summary(IEnumerable<string> keys) => string.Join(", ", keys.GroupBy(k =>
        k.StartsWith("roi_heads.", StringComparison.Ordinal) ? string.Join('.', k.Split('.').Take(2)) : k.Split('.')[0])
        .OrderBy(g => Array.IndexOf(Parts, g.Key) is int i && i >= 0 ? i : Parts.Length).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));

    static readonly string[] Parts = ["backbone", "fpn", "rpn", "roi_heads.box_head", "roi_heads.box_predictor", "roi_heads.mask_head"];
}

/// <summary>
/// A detector fine-tuning run in a folder, on the engine (docs/detection.md): run_step = a batch of training images
/// through <see cref="FasterRcnn.Losses"/> (the four losses summed, each logged by name), SGD with Detectron2's parameter
/// groups and warm-up + multi-step lr, checkpoints (model, momentum buffers, step) written atomically with exact resume,
/// metrics.jsonl / TensorBoard / curves.png / log.txt, evaluation on a validation set, and the final detector model file
/// (<c>model_final.pth</c>) that <c>soco detect</c> and <c>soco evaluate --checkpoint</c> read.
/// </summary>
public sealed class FinetuneRun : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string ModelFileName = "model_final.pth";
    public const string MetricsFile = "metrics.jsonl";
    public const string LogFile = "log.txt";
    public const string RunFile = "run.json";
    static readonly string[] BoxLossNames = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"];
    /// <summary>The losses summed in a step: Faster R-CNN's four, and <c>loss_mask</c> with a mask branch.</summary>
    string[] LossNames => Config.MaskOn ? [.. BoxLossNames, "loss_mask"] : BoxLossNames;

    readonly FolderLock? _lock;
    readonly StreamWriter _log;
    Checkpoint? _resume;

    FinetuneRun(FinetuneConfig config, FinetuneOptions options, DetectionTrainData data, CocoDataset? val, string? valImages, Checkpoint? resume, StreamWriter log, FolderLock? folderLock)
    {
        Config = config; Options = options; Data = data; Val = val; ValImages = valImages; _resume = resume; _log = log; _lock = folderLock;
        Group = options.Group ?? new Soco.Distributed.SingleProcessGroup();
        StepsDone = resume?.Meta.Step ?? 0;
        long maxCat = Math.Max(data.Truth.Categories.Count == 0 ? 0 : data.Truth.Categories.Max(c => c.Id), data.Samples.SelectMany(s => s.Labels).Max());
        NumClasses = (int)maxCat + 1;
        var names = Enumerable.Range(0, NumClasses).Select(i => i == 0 ? "__background__" : $"class {i}").ToArray();
        foreach (var c in data.Truth.Categories) names[c.Id] = c.Name;
        ClassNames = names;
    }

    public FinetuneConfig Config { get; }
    public FinetuneOptions Options { get; }
    public Soco.Distributed.ProcessGroup Group { get; }
    public DetectionTrainData Data { get; }
    public CocoDataset? Val { get; }
    /// <summary>The validation set's LVIS fields when it is LVIS-format: then it is scored with the LVIS API's evaluation.</summary>
    public LvisDataset? ValLvis { get; private init; }
    public string? ValImages { get; }
    public long StepsDone { get; private set; }
    public long TotalSteps => Config.MaxIter;
    /// <summary>Largest category id + 1 (labels are the datasets' category ids, kept as they are; 0 is background).</summary>
    public int NumClasses { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public string RunDirectory => Options.RunDirectory;
    public string? ResumedFrom => _resume?.Path;

    /// <summary>Opens (or starts) the run: config saved or checked, data read, newest checkpoint found.</summary>
    public static FinetuneRun Open(FinetuneConfig? config, FinetuneOptions options)
    {
        if (options.Group is { IsDistributed: true } g) return OpenDistributed(config, options, g);
        return OpenMain(config, options);
    }

    sealed record OpenMessage(string? Config, string? Train, string? TrainImages, long Step, string? Fingerprint, string? Error);

    /// <summary>
    /// A data-parallel run (as <see cref="PretrainRun"/>'s): rank 0 opens the folder as one process would and sends
    /// the others the resolved config, the training data's paths, its fingerprint and the step; they read the same
    /// data (refusing other data) and write nothing. Every rank learns whether all could open.
    /// </summary>
    static FinetuneRun OpenDistributed(FinetuneConfig? config, FinetuneOptions options, Soco.Distributed.ProcessGroup g)
    {
        FinetuneRun? run = null;
        string? error = null;
        if (g.IsMain)
        {
            try { run = OpenMain(config, options); }
            catch (Exception e) { g.BroadcastBytes(JsonSerializer.SerializeToUtf8Bytes(new OpenMessage(null, null, null, 0, null, e.Message))); throw; }
            if (run.Config.ImagesPerStep % g.WorldSize != 0)
                error = $"images_per_step {run.Config.ImagesPerStep} does not divide into {g.WorldSize} ranks: give a multiple of the number of processes";
            g.BroadcastBytes(JsonSerializer.SerializeToUtf8Bytes(new OpenMessage(FinetuneConfigs.ToJson(run.Config), run.Options.Train, run.Options.TrainImages,
                run.StepsDone, run.Data.Fingerprint(), error)));
        }
        else
        {
            var msg = JsonSerializer.Deserialize<OpenMessage>(g.BroadcastBytes([]))!;
            if (msg.Config is null) throw new Soco.Distributed.DistributedException($"rank 0 could not open the run: {msg.Error}");
            var cfg = FinetuneConfigs.Parse(msg.Config, "rank 0's config");
            var opts = options with { Train = msg.Train!, TrainImages = msg.TrainImages, Val = null, ValImages = null };
            var (truth, images) = DetectionTrainData.Open(opts.Train, opts.TrainImages);
            var data = new DetectionTrainData(truth, images, cfg.Seed, cfg.Flip, cfg.Sampler, cfg.RepeatThreshold, cfg.MaskOn);
            if (data.Fingerprint() != msg.Fingerprint)
                error = $"rank {g.Rank} reads other training data than rank 0 ({opts.Train}); every rank must read the same annotations and images";
            else run = new FinetuneRun(cfg, opts, data, null, null, null, StreamWriter.Null, null) { StepsDone = msg.Step };
        }
        double failed = g.AllReduce(error is null ? 0 : 1);
        if (failed > 0)
        {
            run?.Dispose();
            throw new Soco.Distributed.DistributedException(error ?? $"{failed} rank(s) could not open the run (see their messages)");
        }
        return run!;
    }

    static FinetuneRun OpenMain(FinetuneConfig? config, FinetuneOptions options)
    {
        string dir = options.RunDirectory;
        var folderLock = FolderLock.Acquire(dir, "soco finetune");
        try
        {
            string configPath = Path.Combine(dir, ConfigFile);
            var saved = File.Exists(configPath) ? FinetuneConfigs.Parse(File.ReadAllText(configPath), configPath) : null;
            config ??= saved ?? throw new ArgumentException($"{dir} holds no fine-tuning run ({ConfigFile} missing): give a --config");
            config.Validate();
            if (saved is not null && FinetuneConfigs.ToJson(saved) != FinetuneConfigs.ToJson(config))
                throw new ArgumentException($"{dir} holds a run with another config ({configPath}); resume it with its own config (omit --set changes) or use another --out");
            var (truth, images) = DetectionTrainData.Open(options.Train, options.TrainImages);
            var data = new DetectionTrainData(truth, images, config.Seed, config.Flip, config.Sampler, config.RepeatThreshold, config.MaskOn);
            CocoDataset? val = null;
            string? valImages = null;
            LvisDataset? valLvis = null;
            if (options.Val is not null) (val, valImages) = DetectionTrainData.Open(options.Val, options.ValImages, out valLvis);
            var store = new CheckpointStore(dir, config.KeepLast);
            var notes = new List<string>();
            var latest = store.OpenResume(options.ResumeFrom, options.Restart, options.RequireCheckpoint, notes);
            if (latest is not null && FinetuneConfigs.ToJson(FinetuneConfigs.Parse(latest.Meta.Config, latest.Path)) != FinetuneConfigs.ToJson(config))
            {
                latest.Dispose();
                throw new ArgumentException($"checkpoint {latest.Path} was made with another config than {dir}'s");
            }
            // The training data a run continues with must be the data it was made with (every step's images and
            // boxes depend on it): a resume on other annotations is refused, naming both.
            string runInfoPath = Path.Combine(dir, RunFile);
            var info = new FinetuneDataInfo(Path.GetFullPath(options.Train), Path.GetFullPath(images), data.Samples.Count, NumBoxes(data), data.Fingerprint());
            if (latest is not null && File.Exists(runInfoPath))
            {
                var before = JsonSerializer.Deserialize<FinetuneDataInfo>(File.ReadAllText(runInfoPath), FinetuneConfigs.Json);
                if (before is not null && before.Fingerprint != info.Fingerprint)
                {
                    latest.Dispose();
                    throw new ArgumentException($"{dir} was trained on other data ({before.Train}: {before.Images} images, {before.Boxes} boxes) than given now " +
                        $"({info.Train}: {info.Images} images, {info.Boxes} boxes); resuming would change every step. Give the run's own --train/--train-images or use another --out");
                }
            }
            Directory.CreateDirectory(dir);
            if (saved is null) AtomicFile.WriteAllText(configPath, FinetuneConfigs.ToJson(config));
            AtomicFile.WriteAllText(runInfoPath, JsonSerializer.Serialize(info, FinetuneConfigs.Json));
            var log = new StreamWriter(new FileStream(Path.Combine(dir, LogFile), FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            var run = new FinetuneRun(config, options, data, val, valImages, latest, log, folderLock) { ValLvis = valLvis };
            foreach (var n in notes) run.Note(n);
            foreach (var n in truth.Notes.Concat(truth.Skipped.Select(s => "skipped record: " + s))) run.Note(n);
            if (data.SkippedImages.Count > 0)
                run.Note($"{data.SkippedImages.Count} of {truth.Images.Count} training images have no usable box and are skipped: {string.Join(", ", data.SkippedImages.Take(5))}{(data.SkippedImages.Count > 5 ? ", ..." : "")}");
            run.Note($"{data.Samples.Count} training images, {NumBoxes(data)} boxes, {run.NumClasses - 1} label slots (category ids 1..{run.NumClasses - 1})");
            if (data.Repeat is { } rf)
                run.Note(FormattableString.Invariant($"repeat-factor sampler (threshold {config.RepeatThreshold:G4}): {rf.RepeatFactors.Count(r => r > 1)} of {rf.RepeatFactors.Length} images repeated, ") +
                         FormattableString.Invariant($"largest factor {rf.RepeatFactors.Max():G4}, expected {rf.RepeatFactors.Sum(r => (double)r):F1} samples per epoch"));
            if (latest is not null) run.Note($"resuming from {latest.Path} (step {latest.Meta.Step} of {config.MaxIter})");
            return run;
        }
        catch
        {
            folderLock.Dispose();
            throw;
        }
    }

    static int NumBoxes(DetectionTrainData d) => d.Samples.Sum(s => s.Labels.Length);

    void Note(string line)
    {
        _log.WriteLine($"{DateTime.UtcNow:O} {line}");
        Options.Log?.Invoke(line);
    }

    /// <summary>Runs the remaining steps; <paramref name="onStep"/> sees the engine after every step (for progress).</summary>
    public FinetuneResult Run(Action<Trainer>? onStep = null, CancellationToken cancel = default)
    {
        string modelPath = Path.Combine(RunDirectory, ModelFileName);
        bool finished = StepsDone >= TotalSteps && (!Group.IsMain || File.Exists(modelPath));
        if (Group.IsDistributed) finished = Group.AllReduce(finished ? 1 : 0, Soco.Distributed.ReduceOp.Min) > 0;
        if (finished)
            return new FinetuneResult(RunDirectory, TrainStop.AlreadyFinished, StepsDone, TotalSteps, 0, ResumedFrom, modelPath, null, _resume?.Meta.Loss, 0, null);
        TorchRuntime.SetThreads(Options.Threads);
        var device = TorchRuntime.ResolveDevice(Options.Device);
        torch.manual_seed(Config.Seed);
        FasterRcnn built;
        // Data parallel: the detector's BatchNorms normalise over the whole batch (SyncBN, BatchNorm itself in one
        // process) and its losses and padding are the whole batch's (FasterRcnn.Group).
        using (Group.IsDistributed ? Norms.Use(NormKind.SyncBN, Group) : null) built = new FasterRcnn(Config.Detector(NumClasses, training: true));
        using var model = built;
        if (Group.IsDistributed) model.Group = Group;
        if (_resume is null && Group.IsMain)
            foreach (var line in DetectorInit.Apply(model, Options.Init)) Note(line);
        model.to(device);
        model.train();
        using var sgd = Sgd.ForDetector(model, Config.Momentum, Config.WeightDecay, Config.WeightDecayNorm);
        if (_resume is not null)
        {
            var sd = _resume.Section(Checkpoint.ModelPrefix);
            var missing = model.state_dict().Keys.Where(k => !sd.ContainsKey(k)).ToList();
            if (missing.Count > 0 || sd.Count != model.state_dict().Count)
                throw new InvalidDataException($"checkpoint {_resume.Path} does not fit this detector ({missing.Count} tensors missing, e.g. {missing.FirstOrDefault()})");
            model.load_state_dict(sd.ToDictionary(kv => kv.Key, kv => kv.Value.to(device)), strict: true);
            sgd.LoadStateDict(_resume.Section(Checkpoint.OptimizerPrefix));
            _resume.Dispose();
        }
        Soco.Distributed.DataParallel? dataParallel = null;
        if (Group.IsDistributed)
        {
            // Every rank starts from rank 0's weights, buffers and momentum (DDP's broadcast).
            Soco.Distributed.DataParallel.BroadcastModule(Group, model);
            var state = Soco.Distributed.DataParallel.BroadcastState(Group, Group.IsMain ? sgd.StateDict() : null);
            if (!Group.IsMain && state.Count > 0) sgd.LoadStateDict(state);
            dataParallel = new Soco.Distributed.DataParallel(Group, model.parameters());
        }
        long sessionStart = StepsDone;
        var schedule = new WarmupMultiStepSchedule(Config.BaseLr, Config.MaxIter, Config.Steps, Config.Gamma, Config.WarmupIters, Config.WarmupFactor);
        var store = new CheckpointStore(RunDirectory, Config.KeepLast);
        // Rank 0 alone writes the run's files and evaluates.
        using var metrics = Group.IsMain ? new MetricsLog(Path.Combine(RunDirectory, MetricsFile), sessionStart, Note) : null;
        using var tb = Group.IsMain ? new TensorBoardWriter(Path.Combine(RunDirectory, PretrainRun.TensorBoardFolder), sessionStart > 0 ? sessionStart + 1 : null) : null;
        var task = new DetectionStep(this, model, device);
        string? lastCheckpoint = ResumedFrom;

        string Save(long step, int? epoch)
        {
            var d = new Dictionary<string, Tensor>();
            foreach (var (k, v) in model.state_dict()) d[Checkpoint.ModelPrefix + k] = v.detach().cpu();
            foreach (var (k, v) in sgd.StateDict()) d[Checkpoint.OptimizerPrefix + k] = v.cpu();
            var meta = new CheckpointMeta
            {
                Step = step, TotalSteps = TotalSteps, Lr = task.LastLr, Loss = task.LastLoss, Model = DetectorModelFile.Arch,
                Config = FinetuneConfigs.ToJson(Config), SavedUtc = DateTime.UtcNow,
            };
            d[Checkpoint.MetaKey] = torch.tensor(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(meta, PretrainConfigs.Json)));
            return lastCheckpoint = store.Save(d, step, null);
        }

        var eval = new EvalHook(this, model, Config.EvalPeriod);
        IHook[] hooks = metrics is null || tb is null ? [new LrScheduleHook(schedule), task, new ProgressHook(t => onStep?.Invoke(t))] :
        [
            new LrScheduleHook(schedule), task, eval,
            new MetricsHook(metrics, tb, null, Path.Combine(RunDirectory, PretrainRun.CurvesFile), s => $"fine-tune {Config.Depth}×{Config.BaseWidth}: step {s}/{TotalSteps}", Options.PlotEverySeconds),
            new CheckpointHook(Save, 0, 1, Config.CheckpointPeriod),
            new ProgressHook(t => onStep?.Invoke(t)),
        ];
        var trainer = new Trainer(task, sgd, TotalSteps, hooks, sessionStart) { StopAfter = Options.StopAfterStep, DataParallel = dataParallel };
        TrainStop stop;
        try
        {
            stop = trainer.Train(cancel);
        }
        catch (NonFiniteLossException e)
        {
            throw new TrainingDivergedException(e.Message + (lastCheckpoint is null ? " No checkpoint was written yet." : $" The last good checkpoint is {lastCheckpoint}."));
        }
        StepsDone = trainer.Iter;
        string? written = null;
        if (StepsDone >= TotalSteps && Group.IsMain)
        {
            if (lastCheckpoint is null || CheckpointStore.StepOf(lastCheckpoint) != StepsDone) Save(StepsDone, null);
            model.eval();
            var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu());
            DetectorModelFile.Save(modelPath, new DetectorModel(Config.Detector(NumClasses, training: false), ClassNames, state, [], modelPath,
                $"soco finetune ({Options.Init}, {StepsDone} steps)"));
            written = modelPath;
            Note($"wrote {modelPath}");
        }
        long n = StepsDone - sessionStart;
        Note($"session: {n} steps in {task.SessionSeconds:F1} s; stopped: {stop}");
        return new FinetuneResult(RunDirectory, stop, StepsDone, TotalSteps, n, lastCheckpoint, written, task.FirstLoss, n > 0 ? task.LastLoss : null,
            task.SessionSeconds > 0 ? n / task.SessionSeconds : 0, eval.Last);
    }

    /// <summary>The run_step: <see cref="FinetuneConfig.ImagesPerStep"/> images (in the seeded epoch order) through the
    /// detector's losses; the sum is the step's loss, each term a named scalar.</summary>
    sealed class DetectionStep(FinetuneRun run, FasterRcnn model, Device device) : IRunStep, IHook
    {
        readonly Dictionary<string, double> _terms = [];
        public double? FirstLoss { get; private set; }
        public double LastLoss { get; private set; }
        public double LastLr { get; private set; }
        public double SessionSeconds { get; private set; }

        public Tensor Forward(Trainer trainer, int micro)
        {
            int b = run.Config.ImagesPerStep;
            // Rank r of n takes images r·b/n … (r + 1)·b/n − 1 of the step (the same draws, whatever n).
            int per = b / run.Group.WorldSize, from = run.Group.Rank * per;
            var images = new List<Tensor>(); var boxes = new List<Tensor>(); var labels = new List<Tensor>(); var random = new List<SampleRandom>();
            var masks = run.Data.Masks ? new List<Tensor>() : null;
            for (int j = from; j < from + per; j++)
            {
                var (epoch, index, key) = run.Data.Draw(trainer.Iter * b + j);
                var (im, bx, lb, mk, r) = run.Data.LoadWithMasks(epoch, index, key);
                images.Add(im.to(device)); boxes.Add(bx.to(device)); labels.Add(lb.to(device)); random.Add(r);
                masks?.Add(mk!.to(device));
            }
            var losses = model.Losses(images, boxes, labels, random, masks);
            var names = run.LossNames;
            Tensor total = losses[names[0]];
            for (int i = 1; i < names.Length; i++)
                total = total.Plus(names[i] == "loss_mask" && run.Config.MaskLossWeight != 1 ? losses[names[i]].Mul(run.Config.MaskLossWeight) : losses[names[i]]);
            foreach (var k in names)
            {
                double v = losses[k].detach().to(float32).item<float>();
                _terms[k] = run.Group.IsDistributed ? run.Group.AllReduce(v, Soco.Distributed.ReduceOp.Mean) : v;
            }
            return total;
        }

        public void AfterStep(Trainer trainer)
        {
            var s = trainer.Storage;
            foreach (var k in run.LossNames) s.Put(k, _terms[k]);
            LastLoss = s["loss"];
            LastLr = s["lr"];
            FirstLoss ??= LastLoss;
            SessionSeconds += s["step_seconds"];
        }
    }

    /// <summary>Scores the detector on --val (COCO bbox AP, and mask AP for a Mask R-CNN; the LVIS API's 13 numbers for
    /// LVIS-format data) every <c>period</c> steps and after the last; the numbers become scalars <c>val_AP</c>,
    /// <c>val_AP50</c>, … (mask: <c>val_segm_AP</c>, …).</summary>
    sealed class EvalHook(FinetuneRun run, FasterRcnn model, long period) : IHook
    {
        public IReadOnlyDictionary<string, double>? Last { get; private set; }

        public void AfterStep(Trainer trainer)
        {
            if (run.Val is null) return;
            if (!(trainer.Iter == trainer.MaxIter || (period > 0 && trainer.Iter % period == 0))) return;
            var stats = Evaluate();
            foreach (var (k, v) in stats) trainer.Storage.Put("val_" + k, v);
            Last = stats;
            run.Note($"step {trainer.Iter}: val AP {stats["AP"]:F4}, AP50 {stats["AP50"]:F4}, AP75 {stats["AP75"]:F4}" +
                (stats.ContainsKey("segm_AP") ? $"; mask AP {stats["segm_AP"]:F4}, AP50 {stats["segm_AP50"]:F4}, AP75 {stats["segm_AP75"]:F4}" : ""));
        }

        Dictionary<string, double> Evaluate()
        {
            // Inference settings (short side) as the saved model file will have them.
            using var probe = new FasterRcnn(run.Config.Detector(run.NumClasses, training: false));
            using (no_grad())
            {
                var own = probe.state_dict();
                foreach (var (k, v) in model.state_dict()) own[k].copy_(v.cpu());
            }
            probe.eval();
            var detections = DetectorEvaluation.Detect(probe, run.Val!, run.ValImages!);
            if (run.ValLvis is not null)
            {
                var lvis = LvisEvaluator.Evaluate(run.ValLvis, detections.Detections);
                return lvis.Names.Select((n, i) => (n, lvis.Stats[i])).ToDictionary(x => x.n, x => x.Item2);
            }
            var result = CocoEvaluator.Evaluate(run.Val!, detections.Detections);
            var stats = CocoEvalResult.StatNames.Select((n, i) => (n, result.Stats[i])).ToDictionary(x => x.n, x => x.Item2);
            if (run.Config.MaskOn)
            {
                // Mask AP as torchvision's and Detectron2's evaluators compute it (detection area = mask area).
                var segm = CocoEvaluator.Evaluate(run.Val!, detections.Detections, CocoIouType.Segm);
                for (int i = 0; i < CocoEvalResult.StatNames.Length; i++) stats["segm_" + CocoEvalResult.StatNames[i]] = segm.Stats[i];
            }
            return stats;
        }
    }

    public void Dispose()
    {
        _resume?.Dispose();
        _resume = null;
        _log.Dispose();
        _lock?.Dispose();
    }
}
