using System.Numerics;

namespace Soco.Runtime;

/// <summary>
/// The random generator of one sample: xoshiro256** seeded through SplitMix64 from (seed, epoch, sample index)
/// (design.md "Habits"), so a sample's views depend on nothing else: not on the worker that builds it, the worker
/// count, the batch it lands in, or what ran before (unlike the official loader, docs/soco-reference.md §10.10). Not thread-safe: one
/// instance per sample. <see cref="Fork"/> gives independent child streams (one per view), so adding a draw in one
/// step does not shift the draws of the others.
/// </summary>
public sealed class SampleRandom
{
    ulong _s0, _s1, _s2, _s3;

    SampleRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>The generator of sample <paramref name="index"/> in epoch <paramref name="epoch"/> of a run seeded <paramref name="seed"/>.</summary>
    public static SampleRandom For(long seed, long epoch, long index) =>
        new(Mix(Mix(Mix(0x50C0_5EED_0000_0001UL, (ulong)seed), (ulong)epoch), (ulong)index));

    /// <summary>A generator from one 64-bit seed (tests, tools).</summary>
    public static SampleRandom FromSeed(ulong seed) => new(Mix(0x50C0_5EED_0000_0002UL, seed));

    /// <summary>An independent child stream named <paramref name="stream"/>; does not advance this generator.</summary>
    public SampleRandom Fork(ulong stream) => new(Mix(Mix(_s0 ^ _s2, _s1 ^ _s3), stream));

    static ulong Mix(ulong h, ulong v)
    {
        ulong x = h ^ (v + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2));
        return SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [a, b) (Python's <c>random.uniform</c> up to the closed end).</summary>
    public double Uniform(double a, double b) => a + (b - a) * NextDouble();

    /// <summary>True with probability <paramref name="p"/> (<c>random() &lt; p</c>, as torchvision's RandomApply).</summary>
    public bool Bernoulli(double p) => NextDouble() < p;

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's method).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong range = (ulong)n;
        UInt128 m = (UInt128)NextUInt64() * range;
        ulong low = (ulong)m;
        if (low < range)
        {
            ulong threshold = (0UL - range) % range;
            while (low < threshold)
            {
                m = (UInt128)NextUInt64() * range;
                low = (ulong)m;
            }
        }
        return (int)(m >> 64);
    }

    /// <summary>Uniform integer in [lo, hi], both inclusive (Python's <c>random.randint</c>).</summary>
    public int RandInt(int lo, int hi)
    {
        if (hi < lo) throw new ArgumentOutOfRangeException(nameof(hi), $"empty range [{lo}, {hi}]");
        return lo + NextInt(hi - lo + 1);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> list)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int k = NextInt(i + 1);
            (list[i], list[k]) = (list[k], list[i]);
        }
    }

    /// <summary><paramref name="k"/> distinct indices of [0, n) in random order (<c>random.sample(range(n), k)</c>).</summary>
    public int[] Sample(int n, int k)
    {
        if (k > n || k < 0) throw new ArgumentOutOfRangeException(nameof(k), $"cannot sample {k} of {n}");
        var pool = new int[n];
        for (int i = 0; i < n; i++) pool[i] = i;
        for (int i = 0; i < k; i++)
        {
            int r = i + NextInt(n - i);
            (pool[i], pool[r]) = (pool[r], pool[i]);
        }
        return pool[..k];
    }
}
