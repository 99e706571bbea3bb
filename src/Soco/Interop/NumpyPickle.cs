using System.Text;
using Razorvine.Pickle;
using Soco.IO;

namespace Soco.Interop;

/// <summary>
/// A NumPy array to be written into a Python pickle: dtype (<c>"f4"</c>, <c>"i8"</c>, ...), shape, little-endian raw bytes.
/// Python's <c>pickle.load</c> with NumPy installed rebuilds it as a real <c>numpy.ndarray</c>, no other package needed.
/// </summary>
public sealed class NdArray
{
    public NdArray(string dtype, long[] shape, byte[] data)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int itemSize = int.Parse(dtype[1..]);
        if (count * itemSize != data.Length)
            throw new ArgumentException($"array of shape ({string.Join(", ", shape)}) and dtype {dtype} needs {count * itemSize} bytes, got {data.Length}");
        Dtype = dtype;
        Shape = shape;
        Data = data;
    }

    public string Dtype { get; }
    public long[] Shape { get; }
    public byte[] Data { get; }

    public static NdArray Float32(float[] values, params long[] shape)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new NdArray("f4", shape, bytes);
    }

    public static NdArray Int64Scalar(long value) => new("i8", [], BitConverter.GetBytes(value));
}

/// <summary>
/// Writes Python pickles (protocol 2, what Detectron2's checkpointer reads) with Razorvine.Pickle, and teaches it to write
/// <see cref="NdArray"/> the way NumPy pickles an array: <c>numpy.core.multiarray._reconstruct</c> + <c>__setstate__</c>.
/// </summary>
public static class PythonPickle
{
    static PythonPickle() => Pickler.registerCustomPickler(typeof(NdArray), new NdArrayPickler());

    /// <summary>Pickles <paramref name="value"/> (dictionaries, lists, strings, numbers, booleans, <see cref="NdArray"/>) to a file, atomically.</summary>
    public static void Dump(object value, string path) => AtomicFile.WriteAllBytes(path, Dumps(value));

    public static byte[] Dumps(object value)
    {
        using var p = new Pickler(useMemo: false);
        return p.dumps(value);
    }

    sealed class NdArrayPickler : IObjectPickler
    {
        public void pickle(object o, Stream outs, Pickler currentPickler)
        {
            var a = (NdArray)o;
            Global(outs, "numpy.core.multiarray", "_reconstruct");
            Global(outs, "numpy", "ndarray");
            outs.WriteByte(Opcodes.BININT1); outs.WriteByte(0);
            outs.WriteByte(Opcodes.TUPLE1);
            Bytes(outs, "b"u8.ToArray());
            outs.WriteByte(Opcodes.TUPLE3);
            outs.WriteByte(Opcodes.REDUCE);
            // state: (version 1, shape, dtype, is_fortran False, raw data)
            outs.WriteByte(Opcodes.MARK);
            outs.WriteByte(Opcodes.BININT1); outs.WriteByte(1);
            outs.WriteByte(Opcodes.MARK);
            foreach (long d in a.Shape) currentPickler.save(d);
            outs.WriteByte(Opcodes.TUPLE);
            Global(outs, "numpy", "dtype");
            currentPickler.save(a.Dtype);
            outs.WriteByte(Opcodes.NEWFALSE);
            outs.WriteByte(Opcodes.NEWTRUE);
            outs.WriteByte(Opcodes.TUPLE3);
            outs.WriteByte(Opcodes.REDUCE);
            // dtype state: (3, '<', None, None, None, -1, -1, 0)
            outs.WriteByte(Opcodes.MARK);
            currentPickler.save(3);
            currentPickler.save("<");
            outs.WriteByte(Opcodes.NONE);
            outs.WriteByte(Opcodes.NONE);
            outs.WriteByte(Opcodes.NONE);
            currentPickler.save(-1);
            currentPickler.save(-1);
            currentPickler.save(0);
            outs.WriteByte(Opcodes.TUPLE);
            outs.WriteByte(Opcodes.BUILD);
            outs.WriteByte(Opcodes.NEWFALSE);
            Bytes(outs, a.Data);
            outs.WriteByte(Opcodes.TUPLE);
            outs.WriteByte(Opcodes.BUILD);
        }

        static void Global(Stream s, string module, string name)
        {
            s.WriteByte(Opcodes.GLOBAL);
            var b = Encoding.ASCII.GetBytes($"{module}\n{name}\n");
            s.Write(b);
        }

        static void Bytes(Stream s, byte[] data)
        {
            if (data.LongLength <= uint.MaxValue)
            {
                s.WriteByte(Opcodes.BINBYTES);
                s.Write(BitConverter.GetBytes((uint)data.Length));
            }
            else
            {
                s.WriteByte(Opcodes.BINBYTES8);
                s.Write(BitConverter.GetBytes((ulong)data.LongLength));
            }
            s.Write(data);
        }
    }
}
