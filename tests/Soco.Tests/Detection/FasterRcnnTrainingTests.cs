using Soco.Data;
using Soco.Modeling;
using Soco.Modeling.Detection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>Training the whole detector: losses that fall when it fits one photo, and steps that repeat exactly with the same seeds.</summary>
[Collection("torch")]
public class FasterRcnnTrainingTests(ITestOutputHelper log)
{
    static float[] Train(int steps, long seed)
    {
        using var f = new DetectionFixture("faster_rcnn_tiny.pt");
        using var scope = NewDisposeScope();
        manual_seed(seed);
        var model = new FasterRcnn(FasterRcnnTests.TinyConfig with { MinSizes = [112, 128] });
        model.train();
        var image = f["image.0"]; // 60×80 photo
        var boxes = tensor(new float[] { 8, 10, 40, 55, 45, 5, 78, 30 }).view(2, 4);
        var labels = tensor(new long[] { 1, 3 });
        var opt = optim.SGD(model.parameters(), 0.01, momentum: 0.9);
        var totals = new float[steps];
        for (int s = 0; s < steps; s++)
        {
            using var step = NewDisposeScope();
            opt.zero_grad();
            var losses = model.Losses([image], [boxes], [labels], [SampleRandom.For(seed, s, 0)]);
            Assert.Equal(["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"], losses.Keys);
            var total = losses["loss_objectness"].Plus(losses["loss_rpn_box_reg"]).Plus(losses["loss_classifier"]).Plus(losses["loss_box_reg"]);
            total.backward();
            opt.step();
            totals[s] = total.item<float>();
        }
        return totals;
    }

    [Fact]
    public void LossesFallWhileFittingOnePhotoAndRepeatWithTheSameSeed()
    {
        var a = Train(40, 5);
        log.WriteLine($"total loss: first {a[0]:F4}, mean of last 5 {a.TakeLast(5).Average():F4}");
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
        Assert.True(a.TakeLast(5).Average() < 0.5 * a.Take(5).Average(), $"loss did not fall: {string.Join(", ", a.Select(v => v.ToString("F3")))}");
        var b = Train(5, 5);
        Assert.Equal(a.Take(5), b);
    }

    [Fact]
    public void BadTrainingTargetsAreRefusedWithTheImageAndBox()
    {
        using var scope = NewDisposeScope();
        var model = new FasterRcnn(FasterRcnnTests.TinyConfig);
        model.train();
        var image = rand(3, 40, 50);
        var r = new[] { SampleRandom.For(1, 0, 0) };
        var e = Assert.Throws<ArgumentException>(() => model.Losses([image], [tensor(new float[] { 5, 5, 5, 20 }).view(1, 4)], [tensor(new long[] { 1 })], r));
        Assert.Contains("image 0: gt box 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Losses([image], [tensor(new float[] { 5, 5, float.NaN, 20 }).view(1, 4)], [tensor(new long[] { 1 })], r));
        Assert.Contains("gt box 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Losses([image], [tensor(new float[] { 5, 5, 15, 20 }).view(1, 4)], [tensor(new long[] { 5 })], r));
        Assert.Contains("label 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Losses([image], [tensor(new float[] { 5, 5, 15, 20 }).view(1, 4)], [tensor(new long[] { 1, 2 })], r));
        Assert.Contains("labels", e.Message);
        // An image without boxes trains as all background.
        var losses = model.Losses([image], [zeros(0, 4)], [zeros(0, dtype: int64)], r);
        Assert.Equal(0f, losses["loss_box_reg"].item<float>());
        Assert.True(float.IsFinite(losses["loss_classifier"].item<float>()));
    }
}
