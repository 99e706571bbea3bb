namespace Soco.IO;

/// <summary>Comparisons of UTF-8 strings in the order their UTF-16 forms compare.</summary>
public static class Utf8Ordinal
{
    /// <summary>
    /// Orders UTF-8 strings as <see cref="string.CompareOrdinal(string, string)"/> orders the strings (UTF-16 code
    /// units): byte order is code-point order, which differs from UTF-16 order only between a character above U+FFFF
    /// (lead byte F0–F4, a surrogate pair in UTF-16) and one in U+E000–U+FFFF (lead byte EE or EF), which UTF-16 sorts
    /// after it. Used where names and keys are held as UTF-8 but must come out in the order of a string sort (proposal
    /// keys, part files, zip entries).
    /// </summary>
    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int i = a.CommonPrefixLength(b);
        if (i == a.Length || i == b.Length) return a.Length.CompareTo(b.Length);
        int x = a[i], y = b[i];
        if (x >= 0xEE && y >= 0xEE)
        {
            // Bytes this high are lead bytes: a byte that differs after equal lead bytes is a continuation byte (< 0xC0).
            if (x >= 0xF0) x -= 0x10;
            if (y >= 0xF0) y -= 0x10;
        }
        return x.CompareTo(y);
    }
}
