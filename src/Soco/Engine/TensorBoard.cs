using System.Buffers.Binary;
using System.Text;

namespace Soco.Engine;

/// <summary>
/// A TensorBoard event file (<c>events.out.tfevents.&lt;time&gt;.&lt;host&gt;.&lt;pid&gt;</c>) written by hand: TFRecord framing
/// (uint64 length, masked CRC32C of the length, the bytes, masked CRC32C of the bytes) around <c>Event</c> protobuf
/// messages — <c>file_version</c> first, then scalars (<c>Summary.Value{tag, simple_value}</c>). A resumed run starts
/// a new file with a <c>SessionLog START</c> at its first step, which makes TensorBoard drop the old file's events from
/// that step on (the steps the resumed run redoes). Each event is flushed as it is written.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    readonly FileStream _file;

    public TensorBoardWriter(string directory, long? resumedAtStep = null)
    {
        Directory.CreateDirectory(directory);
        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        Path = System.IO.Path.Combine(directory, $"events.out.tfevents.{(long)now}.{Environment.MachineName}.{Environment.ProcessId}");
        _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        Write(EventBytes(now, 0, fileVersion: "brain.Event:2"));
        if (resumedAtStep is long s) Write(EventBytes(now, s, sessionStart: true));
        _file.Flush();
    }

    public string Path { get; }

    /// <summary>Scalars of one step (one Event with one Value per tag).</summary>
    public void Scalars(long step, IEnumerable<(string Tag, float Value)> values, DateTimeOffset? time = null)
    {
        double t = (time ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds() / 1000.0;
        Write(EventBytes(t, step, scalars: values.ToList()));
        _file.Flush();
    }

    void Write(byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        _file.Write(header);
        _file.Write(data);
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(data));
        _file.Write(footer);
    }

    /// <summary>
    /// An <c>Event</c> message: wall_time (1, double), step (2, int64), file_version (3, string), summary (5) =
    /// <c>Summary{ repeated Value value = 1 }</c>, <c>Value{ tag = 1 (string), simple_value = 2 (float) }</c>;
    /// session_log (6) = <c>SessionLog{ status = 1 (enum, START = 1) }</c>.
    /// </summary>
    internal static byte[] EventBytes(double wallTime, long step, string? fileVersion = null, IReadOnlyList<(string Tag, float Value)>? scalars = null, bool sessionStart = false)
    {
        var e = new ProtoWriter();
        e.Double(1, wallTime);
        if (step != 0) e.Varint(2, (ulong)step);
        if (fileVersion is not null) e.Bytes(3, Encoding.UTF8.GetBytes(fileVersion));
        if (scalars is not null)
        {
            var summary = new ProtoWriter();
            foreach (var (tag, value) in scalars)
            {
                var v = new ProtoWriter();
                v.Bytes(1, Encoding.UTF8.GetBytes(tag));
                v.Float(2, value);
                summary.Bytes(1, v.ToArray());
            }
            e.Bytes(5, summary.ToArray());
        }
        if (sessionStart)
        {
            var log = new ProtoWriter();
            log.Varint(1, 1);
            e.Bytes(6, log.ToArray());
        }
        return e.ToArray();
    }

    public void Dispose() => _file.Dispose();

    /// <summary>The protobuf wire format, the few field kinds an Event needs.</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream _s = new();

        void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));

        void Raw(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        public void Varint(int field, ulong v) { Tag(field, 0); Raw(v); }

        public void Double(int field, double v)
        {
            Tag(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Float(int field, float v)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            _s.Write(b);
        }

        public void Bytes(int field, byte[] v) { Tag(field, 2); Raw((ulong)v.Length); _s.Write(v); }

        public byte[] ToArray() => _s.ToArray();
    }
}

/// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord framing uses it.</summary>
public static class Crc32C
{
    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>TFRecord's masked CRC: <c>((crc &gt;&gt; 15) | (crc &lt;&lt; 17)) + 0xa282ead8</c>.</summary>
    public static uint Masked(ReadOnlySpan<byte> data)
    {
        uint c = Compute(data);
        return ((c >> 15) | (c << 17)) + 0xa282ead8u;
    }
}
