namespace Soco.Imaging;

/// <summary>Walks a JPEG's marker structure (no decoding) to tell whether the data reaches the EOI marker.</summary>
internal static class JpegStructure
{
    public static bool IsJpeg(ReadOnlySpan<byte> d) => d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;

    /// <summary>
    /// True when walking the segments (skipping the lengths of marker segments, scanning entropy-coded data for the
    /// next real marker) reaches an EOI marker before the data ends. libjpeg silently invents a missing EOI, but PIL
    /// reports such a file as truncated ("image file is truncated"), so we must too.
    /// </summary>
    public static bool ReachesEoi(ReadOnlySpan<byte> d)
    {
        // the first 0xFF at or after i, or d.Length (a vectorised search)
        static int NextFF(ReadOnlySpan<byte> d, int i)
        {
            if (i >= d.Length) return d.Length;
            int k = d[i..].IndexOf((byte)0xFF);
            return k < 0 ? d.Length : i + k;
        }

        int i = 2;
        while (true)
        {
            // find the next marker: 0xFF followed by a non-0xFF, non-0x00 byte (garbage is skipped, as libjpeg does)
            i = NextFF(d, i);
            while (i < d.Length && d[i] == 0xFF) i++;
            if (i >= d.Length) return false;
            byte m = d[i++];
            if (m == 0x00) continue;
            if (m == 0xD9) return true;
            if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue; // standalone markers
            if (i + 2 > d.Length) return false;
            int len = (d[i] << 8) | d[i + 1];
            if (len < 2) return false;
            i += len;
            if (i > d.Length) return false;
            if (m == 0xDA)
            {
                // entropy-coded data: ends at the first 0xFF followed by a marker other than RSTn / stuffed 0x00
                while (true)
                {
                    i = NextFF(d, i);
                    int j = i;
                    while (j < d.Length && d[j] == 0xFF) j++;
                    if (j >= d.Length) return false;
                    byte n = d[j];
                    if (n == 0x00 || (n >= 0xD0 && n <= 0xD7)) { i = j + 1; continue; }
                    i = j - 1; // at the 0xFF before the marker
                    break;
                }
            }
        }
    }
}
