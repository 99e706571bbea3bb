using Soco.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>The detector's gather-based RoIAlign (RoiAlign.ApplySparse) against torchvision 0.14's roi_align on the same
/// fixed cases as <see cref="RoiAlignTests"/> (tests/fixtures/.../roi_align.pt), forward and gradient.</summary>
[Collection("torch")]
public class RoiAlignSparseTests(ITestOutputHelper log)
{
    [Fact]
    public void SparseRoiAlignMatchesTorchvisionForwardAndGradient()
    {
        using var f = new TorchFixture("roi_align.pt");
        using var scope = NewDisposeScope();
        Assert.Equal(float32, f["in.x"].dtype);   // the sparse path is the float32 one
        double worstOut = 0, worstGrad = 0;
        int cases = 0;
        for (int i = 0; f.Has($"case{i}.params"); i++)
        {
            var p = f[$"case{i}.params"].data<double>().ToArray();
            bool aligned = p[0] != 0;
            int sr = (int)p[1];
            long oh = (long)p[2], ow = (long)p[3];
            if (oh != ow) continue;   // square outputs only, as detectors use
            double scale = p[4];
            var rois = f[p[5] != 0 ? "in.rois_uniform" : "in.rois_mixed"];
            var x = f["in.x"].clone().requires_grad_(true);
            var outp = RoiAlign.ApplySparse(x, rois, oh, scale, sr, aligned);
            string what = $"case {i} (aligned {aligned}, sampling {sr}, out {oh}, scale {scale})";
            worstOut = Math.Max(worstOut, Parity.Check(log, what + " forward", outp, f[$"case{i}.out"], 1e-5));
            (outp * f[$"case{i}.w"]).sum().backward();
            worstGrad = Math.Max(worstGrad, Parity.Check(log, what + " gradient", x.grad!, f[$"case{i}.grad"], 1e-5));
            cases++;
        }
        Assert.True(cases >= 8, $"only {cases} square cases in the fixture");
        log.WriteLine($"{cases} cases: worst forward rel {worstOut:E2}, worst gradient rel {worstGrad:E2}");
        // Malformed RoIs are refused as by Apply.
        Assert.Throws<ArgumentException>(() => RoiAlign.ApplySparse(f["in.x"], tensor(new float[] { 0, 5, 5, 1, 1 }, [1, 5]), 7, 1.0, 2, true));
    }
}
