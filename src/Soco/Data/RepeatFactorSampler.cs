namespace Soco.Data;

/// <summary>
/// Detectron2's <c>RepeatFactorTrainingSampler</c> (docs/lvis.md §Repeat-factor sampling): each image gets a repeat factor
/// r(I) = max over its categories of r(c) = max(1, sqrt(t / f(c))), f(c) the fraction of training images that contain c
/// (1 for an image without categories), kept as float32 as Detectron2 keeps it; each epoch every image appears
/// trunc(r) times plus once more with probability r − trunc(r) (stochastic rounding), then the epoch is shuffled.
/// Unlike Detectron2, whose single generator runs on across epochs, an epoch's draws come from a generator seeded by
/// (seed, epoch), so any epoch can be rebuilt on its own: a resumed run continues with exactly the samples an
/// uninterrupted one would have seen. Epoch lengths vary; <see cref="At"/> maps a global sample position to its epoch.
/// </summary>
public sealed class RepeatFactorSampler
{
    /// <summary>Stream names for the per-epoch generator (distinct from any sample's index, which is ≥ 0).</summary>
    const long RoundingStream = -2, ShuffleStream = -3;

    readonly float[] _int, _frac;
    readonly List<long> _epochStart = [0];
    int[]? _indices;
    long _indicesEpoch = -1;

    public RepeatFactorSampler(float[] repeatFactors, long seed)
    {
        if (repeatFactors.Length == 0) throw new ArgumentException("repeat-factor sampler: no images");
        for (int i = 0; i < repeatFactors.Length; i++)
            if (!(repeatFactors[i] >= 1) || !float.IsFinite(repeatFactors[i]))
                throw new ArgumentException($"repeat-factor sampler: image {i} has repeat factor {repeatFactors[i]}; factors must be finite and at least 1");
        RepeatFactors = repeatFactors;
        Seed = seed;
        _int = repeatFactors.Select(MathF.Truncate).ToArray();
        _frac = repeatFactors.Select((r, i) => r - _int[i]).ToArray();
    }

    public float[] RepeatFactors { get; }
    public long Seed { get; }

    /// <summary>
    /// Detectron2's <c>repeat_factors_from_category_frequency</c>: per image (the categories of its annotations; repeats
    /// in a list count once) the repeat factor, and per category r(c). <paramref name="sqrt"/> false gives t / f(c).
    /// </summary>
    public static (float[] ImageFactors, IReadOnlyDictionary<long, double> CategoryFactors) FromCategoryFrequency(
        IReadOnlyList<IReadOnlyCollection<long>> imageCategories, double threshold, bool sqrt = true)
    {
        if (!(threshold > 0) || !double.IsFinite(threshold)) throw new ArgumentException($"repeat threshold {threshold} must be a positive number");
        int n = imageCategories.Count;
        if (n == 0) throw new ArgumentException("repeat factors: no images");
        var count = new Dictionary<long, int>();
        foreach (var cats in imageCategories)
            foreach (long c in cats.Distinct())
                count[c] = count.GetValueOrDefault(c) + 1;
        var rc = new Dictionary<long, double>(count.Count);
        foreach (var (c, m) in count)
        {
            double f = (double)m / n;
            rc[c] = Math.Max(1.0, sqrt ? Math.Sqrt(threshold / f) : threshold / f);
        }
        var factors = new float[n];
        for (int i = 0; i < n; i++)
        {
            double r = 1.0; // max(..., default=1.0); every r(c) is at least 1
            foreach (long c in imageCategories[i]) r = Math.Max(r, rc[c]);
            factors[i] = (float)r; // torch.tensor(rep_factors, dtype=torch.float32)
        }
        return (factors, rc);
    }

    /// <summary>The image indices of epoch <paramref name="epoch"/>: each image trunc(r) times plus one with probability
    /// frac(r) (ascending index, as Detectron2 builds the list), then shuffled. Deterministic per (seed, epoch).</summary>
    public int[] EpochIndices(long epoch)
    {
        var rounding = SampleRandom.For(Seed, epoch, RoundingStream);
        var list = new List<int>((int)(_int.Length * 1.5));
        for (int i = 0; i < _int.Length; i++)
        {
            int reps = (int)_int[i] + (rounding.NextDouble() < _frac[i] ? 1 : 0);
            for (int k = 0; k < reps; k++) list.Add(i);
        }
        var order = list.ToArray();
        SampleRandom.For(Seed, epoch, ShuffleStream).Shuffle(order);
        return order;
    }

    /// <summary>The sample at global position <paramref name="position"/>: its epoch, its slot in that epoch and the image index.</summary>
    public (long Epoch, int Slot, int Index) At(long position)
    {
        if (position < 0) throw new ArgumentOutOfRangeException(nameof(position));
        // Epoch start positions, extended as far as needed (one rounding pass per epoch, no shuffle).
        while (_epochStart[^1] <= position) _epochStart.Add(_epochStart[^1] + EpochLength(_epochStart.Count - 1));
        int e = _epochStart.BinarySearch(position);
        long epoch = e >= 0 ? e : ~e - 1;
        if (_indicesEpoch != epoch)
        {
            _indices = EpochIndices(epoch);
            _indicesEpoch = epoch;
        }
        int slot = (int)(position - _epochStart[(int)epoch]);
        return (epoch, slot, _indices![slot]);
    }

    long EpochLength(long epoch)
    {
        var rounding = SampleRandom.For(Seed, epoch, RoundingStream);
        long total = 0;
        for (int i = 0; i < _int.Length; i++) total += (long)_int[i] + (rounding.NextDouble() < _frac[i] ? 1 : 0);
        return total;
    }
}
