using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>Random SoCo box lists for model tests that build a <c>SocoBatch</c> by hand.</summary>
public static class SyntheticBoxes
{
    /// <summary>n × l × 5: per image l boxes (x1, y1, x2, y2 normalised, each 0.3–0.5 wide and high inside the
    /// unit square) and the box's list index, drawn from <paramref name="rng"/> in order.</summary>
    public static Tensor Lists(Random rng, int n, int l)
    {
        var v = new float[n * l * 5];
        for (int i = 0; i < n * l; i++)
        {
            float x1 = (float)rng.NextDouble() * 0.5f, y1 = (float)rng.NextDouble() * 0.5f;
            v[i * 5] = x1; v[i * 5 + 1] = y1; v[i * 5 + 2] = x1 + 0.3f + (float)rng.NextDouble() * 0.2f; v[i * 5 + 3] = y1 + 0.3f + (float)rng.NextDouble() * 0.2f; v[i * 5 + 4] = i % l;
        }
        return tensor(v).view(n, l, 5);
    }
}
