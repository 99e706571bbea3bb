using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Distributed;

public enum ReduceOp { Sum, Mean, Max, Min }

/// <summary>A collective failed, or this process cannot join the group it was launched into.</summary>
public sealed class DistributedException(string message) : InvalidOperationException(message);

/// <summary>
/// The processes of a data-parallel run (c10d's <c>ProcessGroup</c> for CPU tensors, docs/distributed.md): rank, world
/// size, local rank, and the collectives training needs. Every rank must call the same collectives in the same order
/// with tensors of the same shape and type (MPI's rule). <see cref="World"/> is the group of this process: one process
/// (<see cref="SingleProcessGroup"/>, nothing to install) unless a launcher (mpirun, srun) started several.
/// </summary>
public abstract class ProcessGroup
{
    public abstract int Rank { get; }
    public abstract int WorldSize { get; }
    /// <summary>Rank among the processes on this machine (for choosing a GPU or a share of the cores).</summary>
    public abstract int LocalRank { get; }
    /// <summary>What runs the collectives ("single process", "MPI: Open MPI v4.1.4 …").</summary>
    public abstract string Backend { get; }
    public bool IsMain => Rank == 0;
    public bool IsDistributed => WorldSize > 1;

    public abstract void Barrier();

    /// <summary>Seconds this process has spent inside collectives (waiting for the other ranks included): what
    /// communication costs a step (bench/distributed).</summary>
    public double CollectiveSeconds => System.Threading.Volatile.Read(ref _collectiveTicks) / (double)System.Diagnostics.Stopwatch.Frequency;

    long _collectiveTicks;

    /// <summary>Adds the time since <paramref name="startTicks"/> (a <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) to <see cref="CollectiveSeconds"/>.</summary>
    protected void Count(long startTicks) => Interlocked.Add(ref _collectiveTicks, System.Diagnostics.Stopwatch.GetTimestamp() - startTicks);

    /// <summary>In place: every rank's <paramref name="tensor"/> (CPU, contiguous, float32/float64/int64) becomes the
    /// element-wise reduction over ranks (<see cref="ReduceOp.Mean"/>: the sum divided by the world size).</summary>
    public abstract void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum);

    /// <summary>In place: every rank's <paramref name="tensor"/> (CPU, contiguous) becomes rank <paramref name="root"/>'s.</summary>
    public abstract void Broadcast(Tensor tensor, int root = 0);

    /// <summary>Every rank's bytes, in rank order (lengths may differ between ranks).</summary>
    public abstract byte[][] AllGatherBytes(byte[] mine);

    /// <summary>Rank <paramref name="root"/>'s bytes on every rank (others pass anything, e.g. empty).</summary>
    public byte[] BroadcastBytes(byte[] bytes, int root = 0)
    {
        if (!IsDistributed) return bytes;
        var len = new long[] { Rank == root ? bytes.Length : 0 };
        using (var t = tensor(len)) { Broadcast(t, root); len[0] = t.item<long>(); }
        var buf = Rank == root ? bytes : new byte[len[0]];
        using (var t = tensor(buf, [buf.LongLength], ScalarType.Byte))
        {
            Broadcast(t, root);
            if (Rank != root) t.data<byte>().CopyTo(buf, 0);
        }
        return buf;
    }

    /// <summary>Every rank's tensor (same shape on every rank), stacked along a new first dimension in rank order.</summary>
    public Tensor AllGather(Tensor t)
    {
        var c = t.cpu().contiguous();
        var bytes = new byte[c.numel() * c.element_size()];
        Marshal.Copy(TensorMemory.Address(c), bytes, 0, bytes.Length);
        var all = AllGatherBytes(bytes);
        if (all.Any(a => a.Length != bytes.Length))
            throw new DistributedException($"all-gather of tensors of different sizes ({string.Join(", ", all.Select(a => a.Length))} bytes by rank)");
        var outp = empty([WorldSize, .. c.shape], c.dtype);
        long off = 0;
        foreach (var a in all) { Marshal.Copy(a, 0, TensorMemory.Address(outp) + (nint)off, a.Length); off += a.Length; }
        return outp;
    }

    /// <summary>A double summed (or averaged, maxed) over ranks.</summary>
    public double AllReduce(double value, ReduceOp op = ReduceOp.Sum)
    {
        if (!IsDistributed) return value;
        using var t = tensor(new[] { value });
        AllReduce(t, op);
        return t.item<double>();
    }

    /// <summary>Ends every rank of the job now (after a failure here, so the others do not wait for it forever).</summary>
    public abstract void Abort(int exitCode);

    static readonly Lock _worldLock = new();
    static ProcessGroup? _world;

    /// <summary>
    /// This process's group, made on first use: a <see cref="SingleProcessGroup"/> when no launcher asked for several
    /// ranks, otherwise an <see cref="MpiProcessGroup"/> (which starts MPI). A launch into several ranks where the MPI
    /// shim was not built is an error naming what to install, never a silent single-process run (each rank would train
    /// the whole run on its own and write into the same folder).
    /// </summary>
    public static ProcessGroup World
    {
        get
        {
            lock (_worldLock)
            {
                if (_world is not null) return _world;
                var env = LaunchEnvironment.Detect();
                _world = env.IsDistributed ? MpiProcessGroup.Start(env) : new SingleProcessGroup();
                return _world;
            }
        }
    }

    /// <summary>Whether <see cref="World"/> was made (and so whether there is MPI to finalise).</summary>
    public static ProcessGroup? WorldIfStarted { get { lock (_worldLock) return _world; } }

    internal static void CheckTensor(Tensor t, string what)
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException($"{what}: the tensor is on {t.device}; MPI collectives here take CPU tensors");
        if (!t.is_contiguous()) throw new ArgumentException($"{what}: the tensor is not contiguous");
    }
}

/// <summary>One process: every collective returns its input (all-reduce of one rank is the identity; mean divides by 1).</summary>
public sealed class SingleProcessGroup : ProcessGroup
{
    public override int Rank => 0;
    public override int WorldSize => 1;
    public override int LocalRank => 0;
    public override string Backend => "single process";
    public override void Barrier() { }
    public override void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum) => CheckTensor(tensor, "all-reduce");
    public override void Broadcast(Tensor tensor, int root = 0)
    {
        CheckTensor(tensor, "broadcast");
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "one process has only rank 0");
    }
    public override byte[][] AllGatherBytes(byte[] mine) => [mine];
    public override void Abort(int exitCode) => Environment.Exit(exitCode);
}

/// <summary>The address of a CPU tensor's first element (TorchSharp's own <c>THSTensor_data</c>, which its
/// <c>bytes</c> property uses but limits to 2 GB).</summary>
static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    public static IntPtr Address(Tensor t)
    {
        var p = THSTensor_data(t.Handle);
        if (p == IntPtr.Zero && t.numel() > 0) throw new InvalidOperationException("THSTensor_data returned no address");
        return p;
    }
}
