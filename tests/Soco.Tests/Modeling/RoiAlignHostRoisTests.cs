using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>
/// RoIAlign with the RoIs also given on the host (what the SoCo models pass, so a GPU run needs no copy back per
/// pooling): the same checks and the same sample grid, hence bit-identical output and gradient to the path that reads
/// the RoIs back from the tensor.
/// </summary>
[Collection("torch")]
public class RoiAlignHostRoisTests
{
    [Theory]
    [InlineData(true, -1, ScalarType.Float32)]
    [InlineData(false, -1, ScalarType.Float32)]
    [InlineData(true, 2, ScalarType.Float32)]
    [InlineData(true, -1, ScalarType.Float64)]
    [InlineData(false, 0, ScalarType.Float64)]
    public void HostRoisGiveTheSameOutputAndGradient(bool aligned, int samplingRatio, ScalarType dtype)
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        manual_seed(3);
        var rng = new Random(7);
        const int n = 3, k = 40;
        var r = new double[k * 5];
        for (int i = 0; i < k; i++)
        {
            // Boxes from tiny to larger than the 20×24 map (adaptive grids of 1 to 5 samples), some partly outside.
            double x = rng.NextDouble() * 30 - 4, y = rng.NextDouble() * 26 - 4, w = rng.NextDouble() * (i % 4 == 0 ? 0.8 : 30), h = rng.NextDouble() * (i % 5 == 0 ? 0.8 : 26);
            r[i * 5] = i % n; r[i * 5 + 1] = x; r[i * 5 + 2] = y; r[i * 5 + 3] = x + w; r[i * 5 + 4] = y + h;
        }
        var rois = tensor(r, [k, 5]).to(dtype);
        var host = rois.to(float64).data<double>().ToArray(); // as the caller holds them: the tensor's own values
        var f1 = randn(n, 4, 20, 24, dtype: dtype).requires_grad_(true);
        var f2 = f1.detach().clone().requires_grad_(true);
        var wt = randn(k, 4, 7, 7, dtype: dtype);
        var a = RoiAlign.Apply(f1, rois, (7, 7), 0.5, samplingRatio, aligned);
        var b = RoiAlign.Apply(f2, rois, (7, 7), 0.5, samplingRatio, aligned, host);
        Assert.True(a.equal(b).all().item<bool>(), "outputs differ");
        (a * wt).sum().backward();
        (b * wt).sum().backward();
        Assert.True(f1.grad!.equal(f2.grad!).all().item<bool>(), "gradients differ");
    }

    [Fact]
    public void HostRoisAreCheckedLikeTensorRois()
    {
        TorchRuntime.SetThreads(1);
        using var scope = NewDisposeScope();
        var f = zeros(1, 1, 8, 8);
        var rois = tensor(new float[] { 0, 5, 1, 2, 3 }, [1, 5]);
        var e = Assert.Throws<ArgumentException>(() => RoiAlign.Apply(f, rois, (2, 2), 1.0, -1, true, [0, 5, 1, 2, 3]));
        Assert.Contains("inverted", e.Message);
        Assert.Throws<ArgumentException>(() => RoiAlign.Apply(f, rois, (2, 2), 1.0, -1, true, [0, 1, 1]));
    }
}
