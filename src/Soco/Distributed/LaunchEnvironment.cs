namespace Soco.Distributed;

/// <summary>
/// Which launcher started this process and what rank it gave it, read from the environment before MPI starts
/// (docs/distributed.md §Launchers): Open MPI's <c>mpirun</c> sets <c>OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK</c>;
/// Slurm's <c>srun</c> sets <c>SLURM_PROCID</c>, <c>SLURM_LOCALID</c> and, for a job step, <c>SLURM_STEP_NUM_TASKS</c>
/// (a batch script itself runs once, so <c>SLURM_NTASKS</c> alone does not make it one rank of many); a PMIx launcher
/// sets <c>PMIX_RANK</c>. <c>SOCO_DISTRIBUTED=0</c> forces one process whatever the environment says.
/// </summary>
public sealed record LaunchEnvironment(string Launcher, int Rank, int WorldSize, int LocalRank)
{
    public const string DisableVariable = "SOCO_DISTRIBUTED";

    /// <summary>No launcher: one process.</summary>
    public static readonly LaunchEnvironment Single = new("none", 0, 1, 0);

    /// <summary>Whether a launcher asked for more than one rank (or, for PMIx alone, a rank whose world size MPI will tell).</summary>
    public bool IsDistributed => WorldSize != 1;

    public static LaunchEnvironment Detect() => Detect(Environment.GetEnvironmentVariable);

    /// <summary>Reads the launcher variables through <paramref name="get"/> (tests pass a dictionary).</summary>
    public static LaunchEnvironment Detect(Func<string, string?> get)
    {
        if (get(DisableVariable) == "0") return Single;
        if (Int(get, "OMPI_COMM_WORLD_SIZE") is int osize && Int(get, "OMPI_COMM_WORLD_RANK") is int orank)
            return Checked("mpirun (Open MPI)", orank, osize, Int(get, "OMPI_COMM_WORLD_LOCAL_RANK") ?? 0);
        if (Int(get, "SLURM_STEP_NUM_TASKS") is int ssize && Int(get, "SLURM_PROCID") is int srank && get("SLURM_STEP_ID") is not null)
            return Checked("srun (Slurm)", srank, ssize, Int(get, "SLURM_LOCALID") ?? 0);
        // MPICH's Hydra (mpiexec) and other PMI launchers.
        if (Int(get, "PMI_SIZE") is int psize && Int(get, "PMI_RANK") is int prank)
            return Checked("mpiexec (PMI)", prank, psize, Int(get, "MPI_LOCALRANKID") ?? 0);
        // PMIx gives no size variable: MPI_Init tells it; -1 until then.
        if (Int(get, "PMIX_RANK") is int xrank) return new LaunchEnvironment("PMIx", xrank, -1, 0);
        return Single;
    }

    static LaunchEnvironment Checked(string launcher, int rank, int size, int local)
    {
        if (size < 1 || rank < 0 || rank >= size)
            throw new InvalidOperationException($"{launcher} gave rank {rank} of {size}: not a valid rank");
        return size == 1 ? Single with { Launcher = launcher } : new LaunchEnvironment(launcher, rank, size, local);
    }

    static int? Int(Func<string, string?> get, string name) =>
        int.TryParse(get(name), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v : null;
}
