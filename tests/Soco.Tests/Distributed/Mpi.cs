using Soco.Distributed;
using Soco.Tests.Reliability;

namespace Soco.Tests.Distributed;

/// <summary>
/// A fact that launches the CLI under <c>mpirun</c>: runs where Open MPI's mpirun and the MPI shim exist; reported as
/// skipped (with the reason on the test run's error output) where they are missing, and a failure instead with
/// <c>SOCO_REQUIRE_REFERENCE=1</c> (CI installs openmpi-bin and libopenmpi-dev).
/// </summary>
public sealed class RequiresMpiFactAttribute : FactAttribute
{
    public RequiresMpiFactAttribute()
    {
        if (Mpi.MissingReason is { } why && Environment.GetEnvironmentVariable("SOCO_REQUIRE_REFERENCE") != "1")
        {
            Skip = why;
            Console.Error.WriteLine($"*** SKIPPING an MPI test: {why}. Set SOCO_REQUIRE_REFERENCE=1 to make this a failure. ***");
        }
    }
}

static class Mpi
{
    public static string? Mpirun => new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists);

    public static string? MissingReason =>
        Mpirun is null ? "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
        : !MpiProcessGroup.Available ? "libsocompi.so not built (needs mpicc when building: apt-get install libopenmpi-dev, then rebuild)"
        : null;

    /// <summary>mpirun's arguments for <paramref name="ranks"/> local ranks: CI runs as root (Open MPI refuses that
    /// without --allow-run-as-root) on 2 cores (more ranks than cores needs --oversubscribe).</summary>
    public static string[] Prefix(int ranks)
    {
        if (MissingReason is { } why) Assert.Fail("SOCO_REQUIRE_REFERENCE=1 and " + why);
        return [Mpirun!, "--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString()];
    }

    /// <summary>The CLI of the test build under mpirun with <paramref name="ranks"/> ranks.</summary>
    public static ChildCli Start(int ranks, params string[] args) => ChildCli.Start(Prefix(ranks), args);
}
