using System.CommandLine;
using System.Globalization;
using Soco.Distributed;
using Soco.Runtime;

namespace Soco.Cli.Commands;

/// <summary>`soco distributed`: what the launcher and MPI say about this process, a check of every collective, and the
/// all-reduce time (docs/distributed.md).</summary>
public static class DistributedCommand
{
    public static Command Build()
    {
        var info = new Command("info", "Launcher, rank, world size, local rank and MPI library of this process (one line per rank)");
        info.SetAction(_ => SocoCli.Guard(() =>
        {
            var env = LaunchEnvironment.Detect();
            var g = ProcessGroup.World;
            Out.Text.WriteLine($"rank {g.Rank} of {g.WorldSize} (local rank {g.LocalRank}) launched by {env.Launcher}; backend: {g.Backend}; " +
                               $"MPI shim {(MpiProcessGroup.Available ? "built" : "not built")}");
            return 0;
        }));

        var check = new Command("check", "Runs every collective (barrier, all-reduce sum/mean/max in float32/float64/int64, broadcast, all-gather) on values each rank can verify; exit 1 if any differs");
        check.SetAction(_ => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            var g = ProcessGroup.World;
            var results = CollectiveCheck.Run(g);
            foreach (var (what, ok, detail) in results)
                Out.Text.WriteLine($"rank {g.Rank}/{g.WorldSize}: {what}: {(ok ? "ok" : "WRONG")} ({detail})");
            return results.All(x => x.Ok) ? 0 : 1;
        }));

        var mb = new Option<double>("--mb") { Description = "Megabytes of float32 to all-reduce (R50's gradients: ~94)", DefaultValueFactory = _ => 94 };
        var repeat = new Option<int>("--repeat") { Description = "Timed repetitions (median reported)", DefaultValueFactory = _ => 5 };
        var bench = new Command("bench", "Times an in-place float32 sum all-reduce of --mb megabytes between the ranks") { mb, repeat };
        bench.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            var g = ProcessGroup.World;
            long floats = (long)(p.GetValue(mb) * 1e6 / 4);
            double s = CollectiveCheck.AllReduceSeconds(g, floats, Math.Max(1, p.GetValue(repeat)));
            if (g.IsMain)
                Out.Text.WriteLine(string.Create(CultureInfo.InvariantCulture, $"all-reduce of {floats * 4 / 1e6:F1} MB float32 over {g.WorldSize} rank(s): {s * 1000:F1} ms (median of {p.GetValue(repeat)}; {g.Backend})"));
            return 0;
        }));
        return new Command("distributed", "Data-parallel runs under mpirun/srun: info, check, bench") { info, check, bench };
    }
}
