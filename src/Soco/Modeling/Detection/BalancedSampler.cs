using Soco.Data;
using Soco.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>
/// Picks the training examples of one image (torchvision 0.14 <c>BalancedPositiveNegativeSampler</c>;
/// docs/detection-parts.md §Sampler): labels ≥ 1 are positive, 0 negative, anything else ignored; at most
/// <c>int(batchSize·positiveFraction)</c> positives, then negatives fill the batch up to <c>batchSize</c>; each a uniform
/// random subset. Unlike torchvision (global torch RNG) the subsets are drawn from a <see cref="SampleRandom"/>, so a
/// run seeded (seed, epoch, sample) draws the same examples whatever ran before. Returned as masks over the labels.
/// </summary>
public sealed class BalancedSampler
{
    public BalancedSampler(int batchSizePerImage, double positiveFraction)
    {
        if (batchSizePerImage < 1) throw new ArgumentException("sampler batch size must be ≥ 1.", nameof(batchSizePerImage));
        if (!(positiveFraction >= 0 && positiveFraction <= 1)) throw new ArgumentException("positive fraction must be in [0, 1].", nameof(positiveFraction));
        BatchSizePerImage = batchSizePerImage;
        PositiveFraction = positiveFraction;
    }

    public int BatchSizePerImage { get; }
    public double PositiveFraction { get; }

    /// <summary>(positives, negatives) the sampler takes from <paramref name="numPositive"/> and <paramref name="numNegative"/> candidates.</summary>
    public (int Positive, int Negative) Counts(int numPositive, int numNegative)
    {
        int pos = Math.Min(numPositive, (int)(BatchSizePerImage * PositiveFraction));
        int neg = Math.Min(numNegative, BatchSizePerImage - pos);
        return (pos, neg);
    }

    /// <summary>Masks (bool, same length as <paramref name="labels"/>) of the sampled positives and negatives.</summary>
    public (Tensor Positive, Tensor Negative) Sample(Tensor labels, SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(random);
        if (labels.dim() != 1) throw new ArgumentException($"labels must be a vector, got shape [{string.Join(", ", labels.shape)}].", nameof(labels));
        using var scope = NewDisposeScope();
        var l = labels.detach().cpu();
        var positive = l.Ge(1.0).WhereTrue().data<long>().ToArray();
        var negative = l.EqScalar(0).WhereTrue().data<long>().ToArray();
        var (np, nn) = Counts(positive.Length, negative.Length);
        var posMask = Mask(positive, random.Sample(positive.Length, np), labels.shape[0], labels.device);
        var negMask = Mask(negative, random.Sample(negative.Length, nn), labels.shape[0], labels.device);
        return (posMask.MoveToOuterDisposeScope(), negMask.MoveToOuterDisposeScope());
    }

    static Tensor Mask(long[] candidates, int[] picked, long length, Device device)
    {
        var mask = new bool[length];
        foreach (int p in picked) mask[candidates[p]] = true;
        return tensor(mask, device: device);
    }
}
