namespace Soco.Imaging;

/// <summary>CRC-32 (IEEE 802.3, as in PNG and zip), slicing-by-8.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = MakeTable();

    private static uint[] MakeTable()
    {
        var t = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        for (int i = 256; i < t.Length; i++) t[i] = (t[i - 256] >> 8) ^ t[t[i - 256] & 0xFF];
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> d)
    {
        uint c = 0xFFFFFFFFu;
        var t = Table;
        int i = 0;
        for (; i + 8 <= d.Length; i += 8)
        {
            uint lo = c ^ (uint)(d[i] | (d[i + 1] << 8) | (d[i + 2] << 16) | (d[i + 3] << 24));
            uint hi = (uint)(d[i + 4] | (d[i + 5] << 8) | (d[i + 6] << 16) | (d[i + 7] << 24));
            c = t[7 * 256 + (lo & 0xFF)] ^ t[6 * 256 + ((lo >> 8) & 0xFF)] ^ t[5 * 256 + ((lo >> 16) & 0xFF)] ^ t[4 * 256 + (lo >> 24)]
              ^ t[3 * 256 + (hi & 0xFF)] ^ t[2 * 256 + ((hi >> 8) & 0xFF)] ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
        }
        for (; i < d.Length; i++) c = t[(c ^ d[i]) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
