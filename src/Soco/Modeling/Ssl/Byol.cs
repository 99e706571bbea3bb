using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// BYOL (Grill et al. 2020), the image-level baseline of the transfer benchmark (docs/transfer-benchmark.md §Arms):
/// ResNet → global average pool of C5 → projector → predictor, target network = EMA of encoder and projector. It is a
/// <see cref="SocoModel"/> so that it trains on SoCo's code unchanged — the same views from the same loader, the same
/// LARS groups and schedule, the same EMA with its cosine momentum and saved counter, the same checkpoints and resume —
/// and differs only where BYOL differs: every view is one whole-image embedding, and there are no boxes, no FPN, no head.
/// Names <c>encoder, projector, predictor, encoder_k, projector_k</c> (the backbone exports and initialises detectors as
/// SoCo's does).
/// </summary>
public sealed class ByolModel : SocoModel
{
    public ByolModel(SocoConfig? config = null) : base(nameof(ByolModel), config ?? new SocoConfig())
    {
        FinishConstruction(() => SslBranch.ResNetProjector(Config));
    }

    public ResNet Encoder => Online.Encoder;

    protected override long SlotsPerList(long boxesPerList) => 1;

    /// <summary>N×1×D: the view's one normalised embedding for each box list (the boxes are not used).</summary>
    protected override Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks)
    {
        using var scope = NewDisposeScope();
        var e = ImageEmbedding(image, target).unsqueeze(1);
        return boxLists.Select(_ => e.alias().MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary>Normalised N×D embedding of whole images: online prediction q, or (<paramref name="target"/>) target projection z.</summary>
    public Tensor ImageEmbedding(Tensor image, bool target)
    {
        using var scope = NewDisposeScope();
        var c5 = Branch(target).Encoder.forward(image)[^1];
        var pooled = c5.mean([2, 3]);
        return Project(pooled, target).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// BYOL's step on SoCo's views: for each pair (V1, Vk) the symmetric loss <c>(2 − 2⟨q1, zk⟩) + (2 − 2⟨qk, z1⟩)</c>,
    /// averaged over the batch, summed over pairs (SoCo sums its pair losses the same way). Order as SoCo's forward:
    /// online views, EMA update (when <see cref="SocoModel.UpdateTargetInForward"/>), target views.
    /// </summary>
    public override Tensor forward(SocoBatch batch)
    {
        if (batch.Pairs < 1 || batch.OtherViews.Any(v => v.shape[0] != batch.View1.shape[0]))
            throw new ArgumentException($"a BYOL batch needs view 1 and at least one other view of the same batch size (got {batch.OtherViews.Count} other views).", nameof(batch));
        var ((q1, qo), (z1, zo)) = OnlineThenTarget(target =>
            (ImageEmbedding(batch.View1, target), batch.OtherViews.Select(v => ImageEmbedding(v, target)).ToArray()));
        return SumOverPairs(batch.Pairs, p => ByolLoss.Pair(q1, zo[p]).Plus(ByolLoss.Pair(qo[p], z1)));
    }
}

/// <summary>BYOL's regression loss between normalised vectors: <c>mean_n (2 − 2⟨q_n, z_n⟩)</c> (Grill et al. 2020, eq. 2).</summary>
public static class ByolLoss
{
    public static Tensor Pair(Tensor q, Tensor z)
    {
        if (q.dim() != 2 || !q.shape.SequenceEqual(z.shape))
            throw new ArgumentException($"BYOL loss expects q and z N×D; got q [{string.Join(", ", q.shape)}], z [{string.Join(", ", z.shape)}].");
        using var scope = NewDisposeScope();
        return q.mul(z).sum(1).Mul(-2.0).Add(2.0).mean().MoveToOuterDisposeScope();
    }
}
