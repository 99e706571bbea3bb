using Soco.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Tests.Distributed;

/// <summary>The process group: launcher detection, one process with nothing installed, and every collective over real
/// MPI ranks (<c>mpirun -np 2/3 soco distributed check</c>).</summary>
public class ProcessGroupTests
{
    static LaunchEnvironment Detect(params (string, string)[] vars)
    {
        var d = vars.ToDictionary(v => v.Item1, v => v.Item2);
        return LaunchEnvironment.Detect(k => d.TryGetValue(k, out var v) ? v : null);
    }

    [Fact]
    public void LaunchersAreReadFromTheirEnvironment()
    {
        Assert.Equal(LaunchEnvironment.Single, Detect());
        Assert.False(Detect().IsDistributed);
        var ompi = Detect(("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_LOCAL_RANK", "0"));
        Assert.Equal(("mpirun (Open MPI)", 2, 4, 0), (ompi.Launcher, ompi.Rank, ompi.WorldSize, ompi.LocalRank));
        Assert.True(ompi.IsDistributed);
        var slurm = Detect(("SLURM_PROCID", "5"), ("SLURM_STEP_NUM_TASKS", "8"), ("SLURM_LOCALID", "1"), ("SLURM_STEP_ID", "0"), ("SLURM_NTASKS", "8"));
        Assert.Equal(("srun (Slurm)", 5, 8, 1), (slurm.Launcher, slurm.Rank, slurm.WorldSize, slurm.LocalRank));
        // A Slurm batch script (no job step) runs once: not rank 0 of SLURM_NTASKS.
        Assert.False(Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "8")).IsDistributed);
        Assert.Equal(-1, Detect(("PMIX_RANK", "3")).WorldSize);
        Assert.False(Detect(("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "1")).IsDistributed);
        Assert.False(Detect(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"), ("SOCO_DISTRIBUTED", "0")).IsDistributed);
        var bad = Assert.Throws<InvalidOperationException>(() => Detect(("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "2")));
        Assert.Contains("rank 2 of 2", bad.Message);
    }

    [Fact]
    public void OneProcessIsTheIdentity()
    {
        var g = new SingleProcessGroup();
        Assert.All(CollectiveCheck.Run(g), r => Assert.True(r.Ok, $"{r.What}: {r.Detail}"));
        using var t = tensor(new float[] { 1.5f, -2 });
        g.AllReduce(t, ReduceOp.Mean);
        Assert.Equal(new[] { 1.5f, -2 }, t.data<float>().ToArray());
        using var strided = zeros(3, 2).t();
        Assert.Contains("not contiguous", Assert.Throws<ArgumentException>(() => g.AllReduce(strided)).Message);
        Assert.Equal(3.25, g.AllReduce(3.25));
    }

    [RequiresMpiFact]
    public void EveryCollectiveWorksAcrossTwoAndThreeRanks()
    {
        foreach (int n in new[] { 2, 3 })
        {
            using var run = Mpi.Start(n, "distributed", "check");
            int code = run.Wait();
            string output = run.Output;
            Assert.True(code == 0, $"mpirun -np {n} distributed check: exit {code}\n{output}");
            for (int r = 0; r < n; r++)
            {
                Assert.Contains($"rank {r}/{n}: all-reduce sum float32: ok", output);
                Assert.Contains($"rank {r}/{n}: all-gather bytes (lengths differ by rank): ok", output);
                Assert.Contains($"rank {r}/{n}: broadcast from rank {n - 1}: ok", output);
            }
            Assert.DoesNotContain("WRONG", output);
        }
    }
}

/// <summary><c>soco proposals generate --shard auto</c> under mpirun: each rank takes its shard from the launcher and
/// writes its own store ({rank} in --out); together the stores hold every image once.</summary>
public class ShardAutoTests
{
    [RequiresMpiFact]
    public void EachRankGeneratesItsShardIntoItsOwnStore()
    {
        using var data = new Soco.Tests.Training.TrainingData();
        string outPattern = Path.Combine(data["stores"], "part-{rank}");
        using (var p = Mpi.Start(2, "proposals", "generate", "--images", data.Images, "--out", outPattern, "--shard", "auto", "--workers", "1", "--max-side", "200"))
            Assert.True(p.Wait() == 0, p.Output);
        var keys = new List<string>();
        foreach (int r in new[] { 0, 1 })
        {
            var index = Soco.Proposals.ProposalStore.Open(Path.Combine(data["stores"], $"part-{r}")).LoadIndex();
            Assert.Equal(3, index.Count);
            keys.AddRange(index.Keys);
        }
        Assert.Equal(Soco.Tests.Training.TrainingData.PhotoNames.Length, keys.Distinct().Count());

        using var bad = Mpi.Start(2, "proposals", "generate", "--images", data.Images, "--out", data["one-store"], "--shard", "auto");
        Assert.NotEqual(0, bad.Wait());
        Assert.Contains("--out must contain {rank}", bad.Output);
    }
}
