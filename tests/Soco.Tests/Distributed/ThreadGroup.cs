using Soco.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Tests.Distributed;

/// <summary>
/// A process group whose ranks are threads of the test process (a test double for MPI's collectives, so SyncBN and the
/// gradient buckets can be checked without mpirun): each collective waits until every rank has called it, then every
/// rank reads the reduction of all contributions, summed in rank order in float64.
/// </summary>
sealed class ThreadGroup : ProcessGroup
{
    sealed class Shared(int n)
    {
        public readonly Barrier Barrier = new(n);
        public readonly object?[] Slots = new object?[n];
    }

    readonly Shared _shared;
    readonly int _rank;

    ThreadGroup(Shared shared, int rank) { _shared = shared; _rank = rank; }

    public static ThreadGroup[] Create(int n)
    {
        var s = new Shared(n);
        return Enumerable.Range(0, n).Select(r => new ThreadGroup(s, r)).ToArray();
    }

    /// <summary>Runs <paramref name="body"/> once per rank, each on its own thread; returns their results in rank order.</summary>
    public static T[] Run<T>(int n, Func<ThreadGroup, T> body)
    {
        var groups = Create(n);
        var results = new T[n];
        var errors = new Exception?[n];
        var threads = groups.Select((g, r) => new Thread(() =>
        {
            try { results[r] = body(g); }
            catch (Exception e) { errors[r] = e; g._shared.Barrier.RemoveParticipant(); }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw new AggregateException(first);
        return results;
    }

    public override int Rank => _rank;
    public override int WorldSize => _shared.Slots.Length;
    public override int LocalRank => _rank;
    public override string Backend => "threads (test)";

    public override void Barrier() => _shared.Barrier.SignalAndWait();

    T[] Exchange<T>(T mine)
    {
        _shared.Slots[_rank] = mine;
        _shared.Barrier.SignalAndWait();
        var all = _shared.Slots.Select(o => (T)o!).ToArray();
        _shared.Barrier.SignalAndWait();
        return all;
    }

    public override void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        CheckTensor(tensor, "all-reduce");
        var all = Exchange(tensor.to(ScalarType.Float64).data<double>().ToArray());
        if (all.Any(a => a.Length != all[0].Length))
            throw new InvalidOperationException($"all-reduce of different lengths by rank: {string.Join(", ", all.Select(a => a.Length))} (the ranks' collectives are out of step)");
        var r = new double[all[0].Length];
        for (int i = 0; i < r.Length; i++)
        {
            double acc = op switch { ReduceOp.Max => double.NegativeInfinity, ReduceOp.Min => double.PositiveInfinity, _ => 0 };
            foreach (var a in all) acc = op switch { ReduceOp.Max => Math.Max(acc, a[i]), ReduceOp.Min => Math.Min(acc, a[i]), _ => acc + a[i] };
            r[i] = op == ReduceOp.Mean ? acc / all.Length : acc;
        }
        using var t = torch.tensor(r).to(tensor.dtype).view(tensor.shape);
        using (no_grad()) tensor.copy_(t);
    }

    public override void Broadcast(Tensor tensor, int root = 0)
    {
        CheckTensor(tensor, "broadcast");
        var all = Exchange(tensor.clone());
        using (no_grad()) tensor.copy_(all[root]);
        Barrier();
        if (_rank == root) foreach (var t in all) t.Dispose();
    }

    public override byte[][] AllGatherBytes(byte[] mine) => Exchange(mine);

    public override void Abort(int exitCode) => throw new InvalidOperationException($"abort {exitCode}");
}
