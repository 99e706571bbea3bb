using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling;

/// <summary>SoCo's loss (docs/soco-reference.md §5.9), BYOL's <c>2 − 2cos</c> without the constant, weighted by the correspondence.</summary>
public static class SocoLoss
{
    /// <summary>
    /// q, z: N×M×D L2-normalised (online predictions, target projections); c: N×M×M correspondence.
    /// <c>−2 · mean_n Σ_ab C_ab·(q_a·z_b) / (Σ_ab C_ab + 1e-6)</c>.
    /// </summary>
    public static Tensor Pair(Tensor q, Tensor z, Tensor c)
    {
        if (q.dim() != 3 || z.dim() != 3 || c.dim() != 3 || !q.shape.SequenceEqual(z.shape) || c.shape[1] != q.shape[1] || c.shape[2] != q.shape[1])
            throw new ArgumentException($"loss expects q, z N×M×D and C N×M×M; got q [{string.Join(", ", q.shape)}], z [{string.Join(", ", z.shape)}], C [{string.Join(", ", c.shape)}].");
        using var scope = NewDisposeScope();
        var sim = q.bmm(z.transpose(1, 2));
        var per = (sim * c).sum(-1).sum(-1) / c.sum(-1).sum(-1).Add(1e-6);
        return per.mean().Mul(-2).MoveToOuterDisposeScope();
    }
}
