using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Distributed;

/// <summary>
/// The process group over MPI_COMM_WORLD through <c>libsocompi.so</c> (Distributed/Native/soco_mpi.c, built with the
/// project where <c>mpicc</c> exists; docs/distributed.md says why a C shim rather than MPI.NET). MPI is started with
/// MPI_THREAD_SERIALIZED and every call here is serialised by one lock, so the training thread and autograd's backward
/// (SyncBN, gradient buckets) can both use it. Errors come back as codes (MPI_ERRORS_RETURN) and are thrown as
/// <see cref="DistributedException"/> with MPI's own message.
/// </summary>
public sealed unsafe class MpiProcessGroup : ProcessGroup
{
    const string Library = "libsocompi.so";

    static delegate* unmanaged<int*, int*, int*, int> _init;
    static delegate* unmanaged<int> _finalize, _barrier;
    static delegate* unmanaged<int, int> _abort;
    static delegate* unmanaged<void*, long, int, int, int> _allreduce;
    static delegate* unmanaged<void*, long, int, int> _bcast;
    static delegate* unmanaged<void*, long*, int, void*, int> _allgatherv;
    static delegate* unmanaged<int, byte*, int, int> _errorString;
    static delegate* unmanaged<byte*, int, int> _version;

    readonly Lock _lock = new();
    readonly int _rank, _size, _local;
    readonly string _backend;
    bool _finalized;

    MpiProcessGroup(int rank, int size, int local, string backend)
    {
        _rank = rank;
        _size = size;
        _local = local;
        _backend = backend;
    }

    public override int Rank => _rank;
    public override int WorldSize => _size;
    public override int LocalRank => _local;
    public override string Backend => _backend;

    /// <summary>Where the shim is looked for: next to the assemblies (the build copies it there).</summary>
    public static string LibraryPath
    {
        get
        {
            string p = Path.Combine(AppContext.BaseDirectory, Library);
            if (File.Exists(p)) return p;
            var here = Path.GetDirectoryName(typeof(MpiProcessGroup).Assembly.Location);
            return string.IsNullOrEmpty(here) ? p : Path.Combine(here, Library);
        }
    }

    /// <summary>Whether the shim exists and loads (libmpi found by the system loader).</summary>
    public static bool Available => TryLoad(out _);

    static bool TryLoad(out string why)
    {
        why = "";
        if (_init != null) return true;
        string path = LibraryPath;
        if (!File.Exists(path))
        {
            why = $"{Library} was not built (no mpicc when the project was built: apt-get install openmpi-bin libopenmpi-dev, then rebuild)";
            return false;
        }
        if (!NativeLibrary.TryLoad(path, out var lib))
        {
            why = $"{path} does not load (is libmpi installed? apt-get install openmpi-bin libopenmpi-dev)";
            return false;
        }
        IntPtr F(string name) => NativeLibrary.GetExport(lib, name);
        _init = (delegate* unmanaged<int*, int*, int*, int>)F("soco_mpi_init");
        _finalize = (delegate* unmanaged<int>)F("soco_mpi_finalize");
        _barrier = (delegate* unmanaged<int>)F("soco_mpi_barrier");
        _abort = (delegate* unmanaged<int, int>)F("soco_mpi_abort");
        _allreduce = (delegate* unmanaged<void*, long, int, int, int>)F("soco_mpi_allreduce");
        _bcast = (delegate* unmanaged<void*, long, int, int>)F("soco_mpi_bcast");
        _allgatherv = (delegate* unmanaged<void*, long*, int, void*, int>)F("soco_mpi_allgatherv");
        _errorString = (delegate* unmanaged<int, byte*, int, int>)F("soco_mpi_error_string");
        _version = (delegate* unmanaged<byte*, int, int>)F("soco_mpi_library_version");
        return true;
    }

    /// <summary>Starts MPI for a process a launcher started as one of several ranks.</summary>
    public static MpiProcessGroup Start(LaunchEnvironment env)
    {
        if (!TryLoad(out string why))
            throw new DistributedException($"{env.Launcher} started this process as rank {env.Rank} of {(env.WorldSize > 0 ? env.WorldSize.ToString() : "several")}, " +
                $"but MPI is not available: {why}. To run as one process instead, start it without the launcher (or set {LaunchEnvironment.DisableVariable}=0).");
        int rank, size, local;
        int rc = _init(&rank, &size, &local);
        if (rc != 0) throw new DistributedException($"MPI_Init failed: {ErrorString(rc)}");
        if (env.WorldSize > 0 && (rank != env.Rank || size != env.WorldSize))
            throw new DistributedException($"MPI says rank {rank} of {size}, {env.Launcher} said rank {env.Rank} of {env.WorldSize}: the launcher's MPI is not the one this program was built with");
        var buf = stackalloc byte[8192];
        _version(buf, 8192);
        string version = Marshal.PtrToStringUTF8((IntPtr)buf) ?? "?";
        int nl = version.IndexOfAny(['\n', ',']);
        return new MpiProcessGroup(rank, size, local, "MPI: " + (nl > 0 ? version[..nl] : version).Trim());
    }

    static string ErrorString(int code)
    {
        var buf = stackalloc byte[1024];
        _errorString(code, buf, 1024);
        return $"{Marshal.PtrToStringUTF8((IntPtr)buf)} (MPI error {code})";
    }

    void Check(int rc, string what)
    {
        if (rc != 0) throw new DistributedException($"rank {_rank}: MPI {what} failed: {ErrorString(rc)}");
    }

    void EnsureOpen(string what)
    {
        if (_finalized) throw new DistributedException($"{what} after MPI was finalised");
    }

    public override void Barrier()
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock) { EnsureOpen("barrier"); Check(_barrier(), "barrier"); }
        Count(t0);
    }

    public override void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        CheckTensor(tensor, "all-reduce");
        int type = tensor.dtype switch
        {
            ScalarType.Float32 => 0,
            ScalarType.Float64 => 1,
            ScalarType.Int64 => 2,
            _ => throw new ArgumentException($"all-reduce takes float32, float64 or int64 tensors, not {tensor.dtype}"),
        };
        int mop = op switch { ReduceOp.Max => 1, ReduceOp.Min => 2, _ => 0 };
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock)
        {
            EnsureOpen("all-reduce");
            Check(_allreduce((void*)TensorMemory.Address(tensor), tensor.numel(), type, mop), "all-reduce");
        }
        Count(t0);
        if (op == ReduceOp.Mean)
        {
            if (tensor.dtype == ScalarType.Int64) throw new ArgumentException("mean of an int64 all-reduce is not an integer");
            using var n = ((double)_size).ToScalar();
            using (no_grad()) tensor.div_(n);
        }
    }

    public override void Broadcast(Tensor tensor, int root = 0)
    {
        CheckTensor(tensor, "broadcast");
        if (root < 0 || root >= _size) throw new ArgumentOutOfRangeException(nameof(root), root, $"rank of {_size}");
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock)
        {
            EnsureOpen("broadcast");
            Check(_bcast((void*)TensorMemory.Address(tensor), tensor.numel() * tensor.element_size(), root), "broadcast");
        }
        Count(t0);
    }

    public override byte[][] AllGatherBytes(byte[] mine)
    {
        var counts = new long[_size];
        counts[_rank] = mine.Length;
        using (var t = torch.tensor(counts))
        {
            AllReduce(t, ReduceOp.Sum);
            t.data<long>().CopyTo(counts, 0);
        }
        var all = new byte[counts.Sum()];
        lock (_lock)
        {
            EnsureOpen("all-gather");
            fixed (byte* s = mine)
            fixed (byte* r = all)
            fixed (long* c = counts)
                Check(_allgatherv(s, c, _size, r), "all-gather");
        }
        var result = new byte[_size][];
        long off = 0;
        for (int i = 0; i < _size; i++)
        {
            result[i] = all.AsSpan((int)off, (int)counts[i]).ToArray();
            off += counts[i];
        }
        return result;
    }

    public override void Abort(int exitCode)
    {
        // No lock: another thread may be blocked inside a collective that will never finish.
        _abort(exitCode);
        Environment.Exit(exitCode);
    }

    /// <summary>MPI_Finalize (collective: call it on every rank at the end).</summary>
    public void Shutdown()
    {
        lock (_lock)
        {
            if (_finalized) return;
            _finalized = true;
            Check(_finalize(), "finalize");
        }
    }
}
