namespace Soco.Proposals;

/// <summary>
/// Integers in 7-bit groups, low group first, the high bit set on every byte but the last (BinaryWriter's
/// Write7BitEncodedInt for the values a store writes), and ZigZag for signed box numbers: the encoding of the store's
/// parts (<see cref="ProposalStore"/>) and of the export's sort runs (<see cref="ProposalSort"/>).
/// </summary>
internal static class Leb128
{
    /// <summary>Writes <paramref name="v"/> at <paramref name="at"/> (at most 10 bytes; 5 for a uint); the caller makes room.</summary>
    public static void Write(byte[] into, ref int at, ulong v)
    {
        while (v >= 0x80)
        {
            into[at++] = (byte)(v | 0x80);
            v >>= 7;
        }
        into[at++] = (byte)v;
    }

    /// <summary>Reads a value <see cref="Write"/> wrote in <paramref name="block"/> (trusted: the process's own bytes).</summary>
    public static ulong Read(byte[] block, ref int at)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = block[at++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
    }

    /// <summary>Small magnitudes of either sign to small unsigned numbers: 0, -1, 1, -2 → 0, 1, 2, 3.</summary>
    public static uint ZigZag(int v) => (uint)((v << 1) ^ (v >> 31));

    public static int UnZigZag(uint u) => (int)(u >> 1) ^ -(int)(u & 1);
}
