namespace Soco.Imaging;

/// <summary>
/// An open-addressing table from UTF-8 keys to indexes 0..n-1, the keys held by the caller (<paramref name="keyOf"/>
/// in each call gives index i's key): slot = index + 1, 0 = free, linear probing. The first index of a key keeps it.
/// The image list's key lookup and the zip's name lookup (docs/scale.md, "The compact image list").
/// </summary>
internal static class Utf8KeySlots
{
    /// <summary>A table of the keys of indexes 0..<paramref name="count"/>-1, at most half full.</summary>
    public static int[] Build(int count, Func<int, ReadOnlySpan<byte>> keyOf)
    {
        int cap = 16;
        while (cap < 2L * count) cap <<= 1;
        var slots = new int[cap];
        for (int i = 0; i < count; i++)
        {
            var key = keyOf(i);
            int s = Hash(key) & (cap - 1);
            while (slots[s] != 0)
            {
                if (keyOf(slots[s] - 1).SequenceEqual(key)) goto next; // a duplicate key: the first keeps it
                s = (s + 1) & (cap - 1);
            }
            slots[s] = i + 1;
        next:;
        }
        return slots;
    }

    /// <summary>The first index whose key is <paramref name="key"/>, or -1.</summary>
    public static int Find(int[] slots, ReadOnlySpan<byte> key, Func<int, ReadOnlySpan<byte>> keyOf)
    {
        int s = Hash(key) & (slots.Length - 1);
        while (slots[s] != 0)
        {
            if (keyOf(slots[s] - 1).SequenceEqual(key)) return slots[s] - 1;
            s = (s + 1) & (slots.Length - 1);
        }
        return -1;
    }

    static int Hash(ReadOnlySpan<byte> key)
    {
        uint h = 2166136261; // FNV-1a, then a final mix so linear probing sees spread low bits
        foreach (byte b in key) h = (h ^ b) * 16777619;
        h ^= h >> 15;
        h *= 0x2c1b3c6d;
        h ^= h >> 12;
        return (int)(h & 0x7fffffff);
    }
}
