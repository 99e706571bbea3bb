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
public sealed record SupervisedResult(string Backbone, long Steps, int BatchSize, int Items, double FirstLoss, double LastLoss, double LastAccuracy, double Seconds);

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

    /// <summary>Peak learning rate of the supervised arm's SGD (chosen on the training loss of the pretraining items only).</summary>
    public const double LearningRate = 0.05;

    /// <summary>Images per step so that a step sees as many pixels as a SoCo step of <paramref name="config"/>: the batch
    /// times the recipe's view areas (e.g. 64² + 64² + 32² per image for the FPN recipe at 64), in images of image_size².</summary>
    public static int BatchSize(PretrainConfig config)
    {
        double perImage = config.ViewRecipe.Views.Sum(v => (double)v.Size * v.Size);
        return Math.Max(2, (int)Math.Round(config.TotalBatch * perImage / ((double)config.ImageSize * config.ImageSize)));
    }

    /// <summary>The steps of SoCo's run on <paramref name="images"/> images: whole batches per epoch × epochs (as <see cref="PretrainRun"/>).</summary>
    public static long Steps(PretrainConfig config, int images) => (long)(images / config.BatchSize / config.Accumulate) * config.Epochs;

    public static SupervisedResult Run(PretrainConfig config, string scenes, string runDirectory, int threads = 1, Action<string>? log = null,
        Action<Trainer>? onStep = null)
    {
        config.Validate();
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(scenes, SceneSet.ManifestFile)))
            ?? throw new InvalidDataException($"{scenes}/{SceneSet.ManifestFile} is empty");
        string itemsPath = Path.Combine(scenes, SceneGenerator.SplitNames[0], SceneSet.ItemsFile);
        var itemsNode = JsonNode.Parse(File.ReadAllText(itemsPath)) ?? throw new InvalidDataException($"{itemsPath} is empty");
        var items = itemsNode["items"]!.Deserialize<int[]>()!;
        var labels = itemsNode["labels"]!.Deserialize<int[]>()!;
        if (items.Length == 0 || items.Length != labels.Length) throw new InvalidDataException($"{itemsPath}: {items.Length} items and {labels.Length} labels");
        int pretrainImages = manifest["scenes"]![0]!.GetValue<int>();
        var train = FashionMnist.Load(manifest["source"]!.GetValue<string>(), test: false);
        var test = FashionMnist.Load(manifest["source"]!.GetValue<string>(), test: true);
        var gen = new SceneGenerator(train, test, SceneSet.LoadBackgrounds(manifest["backgrounds"]!.GetValue<string>()), new SceneOptions(), config.Seed, 1);

        Directory.CreateDirectory(runDirectory);
        TorchRuntime.SetThreads(threads);
        torch.manual_seed(config.Seed);
        int batch = BatchSize(config), size = config.ImageSize;
        long steps = Steps(config, pretrainImages);
        int stepsPerEpoch = Math.Max(1, (int)(steps / config.Epochs));
        using var model = new ItemClassifier(config.BackboneConfig, FashionMnist.ClassNames.Length);
        model.train();
        // The standard supervised recipe (SGD, momentum 0.9, weight decay 1e-4 except on BN, warm-up + cosine), not
        // SoCo's LARS: with LARS's trust coefficient 0.001 the classifier stayed at chance over a 100-step probe on the
        // pretraining items (docs/transfer-benchmark.md §Arms).
        using var sgd = Sgd.ForDetector(model, momentum: 0.9, weightDecay: 1e-4, weightDecayNorm: 0);
        var schedule = new WarmupCosineSchedule(LearningRate, (long)stepsPerEpoch * config.WarmupEpochs, steps, config.FinalLr, config.WarmupMultiplier);
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
        var result = new SupervisedResult(backbone, steps, batch, items.Length, task.FirstLoss ?? double.NaN, task.LastLoss, task.LastAccuracy, clock.Elapsed.TotalSeconds);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, ResultFile), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return result;
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
