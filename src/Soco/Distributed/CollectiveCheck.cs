using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Distributed;

/// <summary>
/// Every collective of a <see cref="ProcessGroup"/> on values whose result each rank can compute by itself
/// (<c>soco distributed check</c>; the tests run it under <c>mpirun -np 2</c>): a launch that reaches the end with
/// every line "ok" has working MPI, ranks and collectives.
/// </summary>
public static class CollectiveCheck
{
    public static IReadOnlyList<(string What, bool Ok, string Detail)> Run(ProcessGroup g)
    {
        int w = g.WorldSize, r = g.Rank;
        var results = new List<(string, bool, string)>();
        void Add(string what, bool ok, string detail) => results.Add((what, ok, detail));
        using var scope = NewDisposeScope();

        g.Barrier();
        Add("barrier", true, "");

        var f = tensor(new float[] { r + 1, 2 * (r + 1), -r });
        g.AllReduce(f, ReduceOp.Sum);
        float tri = w * (w + 1) / 2f;
        var fv = f.data<float>().ToArray();
        Add("all-reduce sum float32", fv[0] == tri && fv[1] == 2 * tri && fv[2] == -(w * (w - 1) / 2f), string.Join(" ", fv));

        var d = tensor(new double[] { r / 3.0, 1e300 * (r % 2 == 0 ? 1 : -1) });
        g.AllReduce(d, ReduceOp.Mean);
        double expectMean = 0;
        for (int i = 0; i < w; i++) expectMean += i / 3.0;
        expectMean /= w;
        var dv = d.data<double>().ToArray();
        Add("all-reduce mean float64", Math.Abs(dv[0] - expectMean) <= 1e-15 * Math.Max(1, Math.Abs(expectMean)), string.Join(" ", dv.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));

        var l = tensor(new long[] { r, -r });
        g.AllReduce(l, ReduceOp.Max);
        var lv = l.data<long>().ToArray();
        Add("all-reduce max int64", lv[0] == w - 1 && lv[1] == 0, string.Join(" ", lv));

        using var fill = (10.0 * r + 0.5).ToScalar();
        var b = full([4], fill, ScalarType.Float64);
        g.Broadcast(b, w - 1);
        Add($"broadcast from rank {w - 1}", b.data<double>().ToArray().All(v => v == 10.0 * (w - 1) + 0.5), b[0].item<double>().ToString(CultureInfo.InvariantCulture));

        var gathered = g.AllGather(tensor(new float[] { r, r * r }));
        var gv = gathered.data<float>().ToArray();
        bool gok = gathered.shape.SequenceEqual(new long[] { w, 2 });
        for (int i = 0; i < w && gok; i++) gok = gv[2 * i] == i && gv[2 * i + 1] == i * i;
        Add("all-gather float32", gok, string.Join(" ", gv));

        var bytes = g.AllGatherBytes(Enumerable.Repeat((byte)r, r + 1).ToArray());
        bool bok = bytes.Length == w;
        for (int i = 0; i < w && bok; i++) bok = bytes[i].Length == i + 1 && bytes[i].All(x => x == i);
        Add("all-gather bytes (lengths differ by rank)", bok, string.Join(" ", bytes.Select(x => x.Length)));

        var text = g.BroadcastBytes(g.IsMain ? "from rank 0"u8.ToArray() : []);
        Add("broadcast bytes", System.Text.Encoding.UTF8.GetString(text) == "from rank 0", System.Text.Encoding.UTF8.GetString(text));
        return results;
    }

    /// <summary>Seconds per in-place sum all-reduce of <paramref name="floats"/> float32 values (median of
    /// <paramref name="repeat"/>, after one warm-up), the same on every rank (rank 0's clock is broadcast).</summary>
    public static double AllReduceSeconds(ProcessGroup g, long floats, int repeat)
    {
        using var t = ones(floats, ScalarType.Float32);
        g.AllReduce(t);
        var times = new List<double>();
        for (int i = 0; i < repeat; i++)
        {
            g.Barrier();
            var sw = Stopwatch.StartNew();
            g.AllReduce(t);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return g.AllReduce(times[times.Count / 2], ReduceOp.Max);
    }
}
