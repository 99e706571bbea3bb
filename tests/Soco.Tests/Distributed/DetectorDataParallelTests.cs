using Soco.Data.Coco;
using Soco.Distributed;
using Soco.Modeling;
using Soco.Modeling.Detection;
using Soco.Training;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace Soco.Tests.Distributed;

/// <summary>
/// One data-parallel fine-tuning step of the detector (docs/distributed.md §Fine-tuning): two ranks (threads) with
/// SyncBN, one image each, give the loss terms and — after the gradient average — the gradients of one process with
/// BatchNorm over both images. That needs the batch-wide quantities of <see cref="DataParallelLoss"/> (the detector's
/// <c>Group</c>): the padded size (the two images get different short sides) and the RPN's and RoI heads' loss
/// normalisers; without them (checked when this test was written) loss_objectness is off by 1.2e-4. The RPN / RoI
/// samples come from each image's own generator, so they are the same whichever rank draws them.
/// </summary>
[Collection("torch")]
public class DetectorDataParallelTests(ITestOutputHelper log)
{
    static string Gt => TestPaths.Fixture("detection", "detcli", "voc_gt.json");
    static string VocImages => Path.Combine(TestPaths.Samples, "voc", "JPEGImages");

    /// <summary>float32; the two computations differ by summation order (SyncBN's per-rank sums, the gradient halves):
    /// loss terms measured within 6e-8, gradients within 9.5e-6 of each tensor's largest value (floor a thousandth of
    /// the model's largest gradient).</summary>
    const double LossTolerance = 1e-6, GradTolerance = 1e-4;

    [Fact]
    public void TwoRanksWithSyncBnGiveTheOneProcessLossesAndGradients()
    {
        torch.set_num_threads(1);
        var data = new DetectionTrainData(CocoInstancesReader.Read(Gt), VocImages, seed: 5, flip: true);
        var cfg = FinetuneConfigs.Load("finetune_demo", ["min_sizes=[160,192]", "max_size=300"]).Detector(5, training: true);
        manual_seed(3);
        Dictionary<string, Tensor> state;
        using (var init = new FasterRcnn(cfg)) state = init.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

        (Dictionary<string, double> Losses, Dictionary<string, Tensor> Grads) Step(FasterRcnn m, IEnumerable<int> samples)
        {
            var loaded = samples.Select(i => data.Load(0, i)).ToList();
            m.train();
            var losses = m.Losses(loaded.Select(l => l.Image).ToList(), loaded.Select(l => l.Boxes).ToList(), loaded.Select(l => l.Labels).ToList(), loaded.Select(l => l.Random).ToList());
            Tensor total = losses.Values.Aggregate((a, b) => a.Plus(b));
            total.backward();
            var grads = m.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
            return (losses.ToDictionary(kv => kv.Key, kv => (double)kv.Value.item<float>()), grads);
        }

        Dictionary<string, double> expectedLosses;
        Dictionary<string, Tensor> expected;
        using (var one = new FasterRcnn(cfg))
        {
            one.load_state_dict(state);
            (expectedLosses, expected) = Step(one, [0, 1]);
        }
        var ranks = ThreadGroup.Run(2, g =>
        {
            FasterRcnn m;
            lock (state) using (Norms.Use(NormKind.SyncBN, g)) m = new FasterRcnn(cfg);
            using (m)
            {
                m.load_state_dict(state);
                m.Group = g;
                var (losses, _) = Step(m, [g.Rank]);
                new DataParallel(g, m.parameters()).AverageGradients();
                var grads = m.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
                return (Losses: losses.ToDictionary(kv => kv.Key, kv => g.AllReduce(kv.Value, ReduceOp.Mean)), Grads: grads);
            }
        });
        foreach (var (k, v) in expectedLosses)
        {
            log.WriteLine($"{k}: one process {v:R}, two ranks {ranks[0].Losses[k]:R}");
            Assert.True(Math.Abs(ranks[0].Losses[k] - v) <= LossTolerance * Math.Max(1, Math.Abs(v)), $"{k}: one process {v}, two ranks {ranks[0].Losses[k]}");
        }
        double modelScale = expected.Values.Max(e => e.abs().max().item<float>());
        double worst = 0;
        string worstName = "";
        Assert.Equal(expected.Keys.Order(), ranks[0].Grads.Keys.Order());
        foreach (var (name, e) in expected)
        {
            double scale = Math.Max(e.abs().max().item<float>(), 1e-3 * modelScale);
            double d = ranks[0].Grads[name].sub(e).abs().max().item<float>() / scale;
            if (d > worst) { worst = d; worstName = name; }
            Assert.True(d < GradTolerance, $"{name}: gradient differs by {d:E2} of its largest value");
            Assert.Equal(ranks[0].Grads[name].data<float>().ToArray(), ranks[1].Grads[name].data<float>().ToArray());
        }
        log.WriteLine($"{expected.Count} gradients; worst relative difference {worst:E2} ({worstName})");
    }
}
