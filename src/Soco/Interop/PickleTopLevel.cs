using System.IO.Compression;
using System.Text;

namespace Soco.Interop;

/// <summary>
/// What a PyTorch zip file holds at its top level, read from the first opcodes of its <c>data.pkl</c> (pickle protocol 2,
/// as <c>torch.save</c> writes it): a dictionary, a list or tuple, or an object rebuilt by a global such as
/// <c>torch._utils._rebuild_tensor_v2</c> (a bare tensor). Used to say in one line what a file is when it is not the
/// dictionary of tensors a checkpoint must be.
/// </summary>
public static class PickleTopLevel
{
    public static string Describe(string path)
    {
        try
        {
            using var z = ZipFile.OpenRead(path);
            var entry = z.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal));
            if (entry is null) return "no data.pkl";
            using var s = entry.Open();
            var head = new byte[256];
            int n = 0, r;
            while (n < head.Length && (r = s.Read(head, n, head.Length - n)) > 0) n += r;
            return DescribeBytes(head.AsSpan(0, n));
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return "an unreadable archive";
        }
    }

    /// <summary>The top-level object of a pickle from its first opcodes.</summary>
    public static string DescribeBytes(ReadOnlySpan<byte> p)
    {
        int i = 0;
        if (p.Length >= 2 && p[0] == 0x80) i = 2; // PROTO n
        while (i < p.Length && p[i] == 0x95) i += 9; // FRAME (protocol 4)
        if (i >= p.Length) return "an empty pickle";
        switch (p[i])
        {
            case (byte)'}': return "a dictionary";
            case (byte)']': return "a list";
            case (byte)')': return "an empty tuple";
            case (byte)'N': return "None";
            case (byte)'c':
            {
                // GLOBAL module\nname\n
                int a = p[(i + 1)..].IndexOf((byte)'\n');
                if (a < 0) return "an object";
                int b = p[(i + 2 + a)..].IndexOf((byte)'\n');
                if (b < 0) return "an object";
                string module = Encoding.ASCII.GetString(p.Slice(i + 1, a)), name = Encoding.ASCII.GetString(p.Slice(i + 2 + a, b));
                if (module == "torch._utils" && name.StartsWith("_rebuild_tensor", StringComparison.Ordinal)) return "a bare tensor (torch.save(tensor)), not a dictionary of tensors";
                if (module == "torch._utils" && name.StartsWith("_rebuild_parameter", StringComparison.Ordinal)) return "a bare parameter, not a dictionary of tensors";
                if (module == "collections" && name == "OrderedDict") return "an OrderedDict";
                return $"an object of class {module}.{name} (a whole pickled model? save its state_dict() instead)";
            }
            case (byte)'(': return "a tuple or object";
            default:
                return p[i] is (byte)'K' or (byte)'J' or (byte)'M' or (byte)'G' or (byte)'X' or 0x8c or (byte)'\x88' or (byte)'\x89'
                    ? "a single number, string or flag" : $"a pickle starting with opcode 0x{p[i]:X2}";
        }
    }
}
