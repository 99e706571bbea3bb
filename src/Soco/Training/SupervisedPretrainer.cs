using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Soco.Data;
using Soco.Data.Scenes;
using Soco.Engine;
using Soco.Imaging;
using Soco.Interop;
using Soco.IO;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Solver;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Training;

/// <summary>A ResNet with global pooling and a linear classifier; names <c>encoder.*</c> (as SoCo's backbone) and <c>fc.*</c>.</summary>
public sealed class ItemClassifier : Module<Tensor, Tensor>
{
    readonly ResNet encoder;
    readonly Linear fc;

    public ItemClassifier(ResNetConfig backbone, int classes) : base(nameof(ItemClassifier))
    {
        encoder = new ResNet(backbone);
        fc = nn.Linear(backbone.StageChannels[3], classes);
        register_module("encoder", encoder);
        register_module("fc", fc);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc.forward(encoder.forward(x)[^1].mean([2, 3])).MoveToOuterDisposeScope();
    }
}

/// <summary>What a supervised pretraining run did.</summary>
/// <summary>What a supervised pretraining run did. <paramref name="Items"/> items were trained on; <paramref name="ValidationItems"/>
/// other items of the same pretraining split (never the evaluation scenes) were held out and scored at the end, in eval mode.</summary>
public sealed record SupervisedResult(string Backbone, long Steps, int BatchSize, int Items, double FirstLoss, double LastLoss, double LastAccuracy, double Seconds,
    int ValidationItems = 0, double? ValidationLoss = null, double? ValidationAccuracy = null, double LearningRate = 0);

/// <summary>
/// The supervised arm of the transfer benchmark (the paper's "supervised ImageNet" row at this scale,
/// docs/transfer-benchmark.md §Arms): classification of the pretraining split's own Fashion-MNIST items, each alone on a
/// photo crop, on the training engine with the SoCo config's backbone, warm-up + cosine schedule, steps and pixel
/// budget (SGD, the usual supervised optimiser). Writes the backbone with torchvision's names (<see cref="BackboneFile"/>), which
/// <c>soco finetune --init</c> reads.
/// </summary>
public static class SupervisedPretraining
{
    public const string BackboneFile = "backbone_torchvision.pth";
    public const string ResultFile = "supervised.json";

    /// <summary>Peak learning rate of the supervised arm's SGD, chosen on held-out pretraining items only (never the evaluation
    /// scenes): at 48² the classifier reached 38 / 47 / 50 / 49 % held-out accuracy with 0.2 / 0.5 / 0.7 / 1.0, cross-entropy
    /// lowest at 0.5 (docs/transfer-benchmark.md §Arms).</summary>
    public const double LearningRate = 0.5;

    /// <summary>The classification images' side: half the pretraining config's (48² at the benchmark's 96), with 4× the
    /// images per step so a step still sees SoCo's pixels (<see cref="BatchSize"/>). At 96² (36 images per step) the
    /// classifier barely left chance in the benchmark's 296 steps (held-out accuracy 26 %, cross-entropy 1.93 at lr 0.2);
    /// at 48² it sees four times the samples for the same pixels and reaches 47 % (docs/transfer-benchmark.md §Arms).</summary>
    public static int ImageSize(PretrainConfig config) => Math.Max(16, config.ImageSize / 2);

    /// <summary>Images per step so that a step sees as many pixels as a SoCo step of <paramref name="config"/>: the batch
    /// times the recipe's view areas (e.g. 96² + 96² + 48² per image for the FPN recipe at 96), in images of
    /// <paramref name="imageSize"/>² (default: the config's image_size; at 96 that is 36 images, at 48 144).</summary>
    public static int BatchSize(PretrainConfig config, int? imageSize = null)
    {
        double perImage = config.ViewRecipe.Views.Sum(v => (double)v.Size * v.Size);
        double side = imageSize ?? config.ImageSize;
        return Math.Max(2, (int)Math.Round(config.TotalBatch * perImage / (side * side)));
    }

    /// <summary>The steps of SoCo's run on <paramref name="images"/> images: whole batches per epoch × epochs (as <see cref="PretrainRun"/>).</summary>
    public static long Steps(PretrainConfig config, int images) => (long)(images / config.BatchSize / config.Accumulate) * config.Epochs;

    /// <summary>Share of the pretraining split's items held out from training to score the classifier (docs/transfer-benchmark.md §Arms).</summary>
    public const double ValidationFraction = 0.1;

    /// <summary>The held-out items: a fixed draw (the same for every seed and learning rate, so runs are scored on the same
    /// items) of <see cref="ValidationFraction"/> of the item list, as positions into it; the rest are trained on.</summary>
    public static (int[] Train, int[] Validation) SplitItems(int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        SampleRandom.For(0, -2, -2).Shuffle(order);
        int held = count >= 10 ? (int)(count * ValidationFraction) : 0;
        return (order[held..].Order().ToArray(), order[..held].Order().ToArray());
    }

    public static SupervisedResult Run(PretrainConfig config, string scenes, string runDirectory, int threads = 1, Action<string>? log = null,
        Action<Trainer>? onStep = null, double learningRate = LearningRate, int? imageSize = null)
    {
        config.Validate();
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(scenes, SceneSet.ManifestFile)))
            ?? throw new InvalidDataException($"{scenes}/{SceneSet.ManifestFile} is empty");
        string itemsPath = Path.Combine(scenes, SceneGenerator.SplitNames[0], SceneSet.ItemsFile);
        var itemsNode = JsonNode.Parse(File.ReadAllText(itemsPath)) ?? throw new InvalidDataException($"{itemsPath} is empty");
        var allItems = itemsNode["items"]!.Deserialize<int[]>()!;
        var allLabels = itemsNode["labels"]!.Deserialize<int[]>()!;
        if (allItems.Length == 0 || allItems.Length != allLabels.Length) throw new InvalidDataException($"{itemsPath}: {allItems.Length} items and {allLabels.Length} labels");
        var (trainAt, heldAt) = SplitItems(allItems.Length);
        int[] items = [.. trainAt.Select(i => allItems[i])], labels = [.. trainAt.Select(i => allLabels[i])];
        int pretrainImages = manifest["scenes"]![0]!.GetValue<int>();
        var train = FashionMnist.Load(manifest["source"]!.GetValue<string>(), test: false);
        var test = FashionMnist.Load(manifest["source"]!.GetValue<string>(), test: true);
        var gen = new SceneGenerator(train, test, SceneSet.LoadBackgrounds(manifest["backgrounds"]!.GetValue<string>()), new SceneOptions(), config.Seed, 1);

        Directory.CreateDirectory(runDirectory);
        TorchRuntime.SetThreads(threads);
        torch.manual_seed(config.Seed);
        int size = imageSize ?? ImageSize(config), batch = BatchSize(config, size);
        long steps = Steps(config, pretrainImages);
        int stepsPerEpoch = Math.Max(1, (int)(steps / config.Epochs));
        using var model = new ItemClassifier(config.BackboneConfig, FashionMnist.ClassNames.Length);
        model.train();
        // The standard supervised recipe (SGD, momentum 0.9, weight decay 1e-4 except on BN, warm-up + cosine), not
        // SoCo's LARS: with LARS's trust coefficient 0.001 the classifier stayed at chance over a 100-step probe on the
        // pretraining items (docs/transfer-benchmark.md §Arms).
        using var sgd = Sgd.ForDetector(model, momentum: 0.9, weightDecay: 1e-4, weightDecayNorm: 0);
        var schedule = new WarmupCosineSchedule(learningRate, (long)stepsPerEpoch * config.WarmupEpochs, steps, config.FinalLr, config.WarmupMultiplier);
        using var metrics = new MetricsLog(Path.Combine(runDirectory, PretrainRun.MetricsFile), 0, log);
        var task = new ClassifyStep(gen, items, labels, model, batch, size, config.Seed);
        var clock = Stopwatch.StartNew();
        var trainer = new Trainer(task, sgd, steps,
        [
            new LrScheduleHook(schedule), task,
            new MetricsHook(metrics, null, null, Path.Combine(runDirectory, PretrainRun.CurvesFile), s => $"supervised ResNet-{config.Depth}×{config.BaseWidth}, batch {batch} at {size}: step {s}/{steps}"),
            new ProgressHook(t => onStep?.Invoke(t)),
        ]);
        trainer.Train();
        string backbone = Path.Combine(runDirectory, BackboneFile);
        ModelExport.Write(model.state_dict(), ExportFormat.PyTorch, backbone);
        double seconds = clock.Elapsed.TotalSeconds;
        var (vLoss, vAcc) = heldAt.Length == 0 ? ((double?)null, (double?)null)
            : Score(model, gen, [.. heldAt.Select(i => allItems[i])], [.. heldAt.Select(i => allLabels[i])], size, config.Seed);
        if (vAcc is double a) log?.Invoke($"supervised: held-out items {heldAt.Length}: cross-entropy {vLoss:F3}, accuracy {a:P1}");
        var result = new SupervisedResult(backbone, steps, batch, items.Length, task.FirstLoss ?? double.NaN, task.LastLoss, task.LastAccuracy, seconds,
            heldAt.Length, vLoss, vAcc, learningRate);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, ResultFile), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    /// <summary>Mean cross-entropy and accuracy of the classifier (eval mode: BN running statistics) on one image of each item,
    /// drawn as a training sample is (photo crop, placement, colour; no flip) from a stream no training step uses.</summary>
    public static (double Loss, double Accuracy) Score(ItemClassifier model, SceneGenerator gen, int[] items, int[] labels, int size, long seed)
    {
        model.eval();
        double lossSum = 0, correct = 0;
        const int chunk = 64;
        using (no_grad())
            for (int start = 0; start < items.Length; start += chunk)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(chunk, items.Length - start);
                var chw = new float[n * 3 * size * size];
                var y = new long[n];
                for (int b = 0; b < n; b++)
                {
                    ColorOps.ToNormalizedTensor(gen.ItemImage(items[start + b], SampleRandom.For(seed, -3, start + b), size), chw, b * 3 * size * size);
                    y[b] = labels[start + b];
                }
                var target = tensor(y);
                var logits = model.forward(tensor(chw, [n, 3, size, size]));
                lossSum += nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(target).sum().item<long>();
            }
        model.train();
        return (lossSum / items.Length, correct / items.Length);
    }

    /// <summary>A batch of item images (drawn by (seed, epoch, position) like every other sample) through the classifier; cross-entropy.</summary>
    sealed class ClassifyStep(SceneGenerator gen, int[] items, int[] labels, ItemClassifier model, int batch, int size, long seed) : IRunStep, IHook
    {
        double _accuracy;
        public double? FirstLoss { get; private set; }
        public double LastLoss { get; private set; }
        public double LastAccuracy { get; private set; }

        public Tensor Forward(Trainer trainer, int micro)
        {
            // Sample k of the run is item order[k % n] of its epoch's shuffle: every item once per pass, as an epoch sampler does.
            long first = trainer.Iter * batch;
            var chw = new float[batch * 3 * size * size];
            var y = new long[batch];
            Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = 2 }, b =>
            {
                long k = first + b;
                long epoch = k / items.Length;
                int pos = (int)(k % items.Length);
                int slot = EpochOrder(epoch)[pos];
                var rnd = SampleRandom.For(seed, epoch, slot);
                var img = gen.ItemImage(items[slot], rnd, size);
                if (rnd.Fork(9).Bernoulli(0.5)) ColorOps.FlipHorizontal(img);
                ColorOps.ToNormalizedTensor(img, chw, b * 3 * size * size);
                y[b] = labels[slot];
            });
            var x = tensor(chw, [batch, 3, size, size]);
            var target = tensor(y);
            var logits = model.forward(x);
            using (no_grad()) _accuracy = logits.argmax(1).eq(target).to(float32).mean().item<float>();
            return nn.functional.cross_entropy(logits, target);
        }

        readonly Dictionary<long, int[]> _orders = [];

        int[] EpochOrder(long epoch)
        {
            lock (_orders)
            {
                if (!_orders.TryGetValue(epoch, out var o))
                {
                    o = Enumerable.Range(0, items.Length).ToArray();
                    SampleRandom.For(seed, epoch, -1).Shuffle(o);
                    _orders.Clear();
                    _orders[epoch] = o;
                }
                return o;
            }
        }

        public void AfterStep(Trainer trainer)
        {
            trainer.Storage.Put("accuracy", _accuracy);
            LastLoss = trainer.Storage["loss"];
            LastAccuracy = _accuracy;
            FirstLoss ??= LastLoss;
        }
    }
}
