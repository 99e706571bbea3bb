using Soco.Data;
using Soco.Data.Scenes;
using Soco.Imaging;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Training;

/// <summary>The supervised arm of the transfer benchmark: its budget rule and that its classifier learns the items.</summary>
public sealed class SupervisedPretrainingTests(ITestOutputHelper log)
{
    [Fact]
    public void BatchMatchesSocoPixelsPerStep()
    {
        // FPN recipe at 96: views 96², 96², 48² per image = 2.25 images of 96² → 16 × 2.25 = 36.
        var c = PretrainConfigs.Load(Path.Combine(TestPaths.RepoRoot, "bench", "transfer", "pretrain.json"));
        Assert.Equal(36, SupervisedPretraining.BatchSize(c));
        Assert.Equal(1200 / 16 * c.Epochs, SupervisedPretraining.Steps(c, 1200));
    }

    [Fact]
    public void ClassifierFitsABatchOfItemImages()
    {
        Assert.True(Directory.Exists(FashionMnist.DefaultFolder), $"{FashionMnist.DefaultFolder} is missing: {FashionMnist.InstallHint}");
        var train = FashionMnist.Load(FashionMnist.DefaultFolder, false);
        var gen = new SceneGenerator(train, FashionMnist.Load(FashionMnist.DefaultFolder, true), SceneSet.LoadBackgrounds(TestPaths.Photos).Take(3).ToList(),
            new SceneOptions(), 0, 1);
        TorchRuntime.SetThreads(1);
        torch.manual_seed(0);
        const int n = 8, size = 48;
        var chw = new float[n * 3 * size * size];
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            int item = gen.Pool(SceneGenerator.Split.Pretrain)[i];
            ColorOps.ToNormalizedTensor(gen.ItemImage(item, SampleRandom.For(0, 0, i), size), chw, i * 3 * size * size);
            y[i] = train.Labels[item];
        }
        using var model = new ItemClassifier(new ResNetConfig { Depth = 18, BaseWidth = 8 }, 10);
        model.train();
        using var sgd = Sgd.ForDetector(model, 0.9, 1e-4, 0);
        sgd.LearningRate = SupervisedPretraining.LearningRate;
        using var x = tensor(chw, [n, 3, size, size]);
        using var target = tensor(y);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            sgd.ZeroGrad();
            var loss = nn.functional.cross_entropy(model.forward(x), target);
            loss.backward();
            sgd.Step();
            last = loss.item<float>();
            if (step == 0) first = last;
        }
        log.WriteLine($"cross-entropy {first:F3} → {last:F3} over 30 steps on {n} item images");
        Assert.True(last < 0.5 * first, $"the classifier did not fit a batch: {first} → {last}");
    }
}
