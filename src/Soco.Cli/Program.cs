using Soco.Cli;
using Soco.Distributed;
using Soco.Runtime;

// SOCO_LIBTORCH: load that LibTorch before anything touches TorchSharp (docs/gpu.md).
if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(TorchRuntime.LibTorchVariable)))
{
    try
    {
        TorchRuntime.EnsureLoaded();
    }
    catch (InvalidOperationException e)
    {
        Out.Error(e.Message);
        return 2;
    }
}
// Under mpirun/srun, a rank that fails must end the whole job: the others would otherwise wait in their next collective
// for it forever (docs/distributed.md §Faults).
AppDomain.CurrentDomain.UnhandledException += (_, e) =>
{
    if (ProcessGroup.WorldIfStarted is MpiProcessGroup g)
    {
        Console.Error.WriteLine($"error: rank {g.Rank} of {g.WorldSize} failed: {e.ExceptionObject}; stopping every rank (MPI_Abort)");
        g.Abort(70);
    }
};
int code = await SocoCli.RunAsync(args);
if (ProcessGroup.WorldIfStarted is MpiProcessGroup mpi)
{
    if (code != 0)
    {
        Out.Error($"rank {mpi.Rank} of {mpi.WorldSize} stopped with exit code {code}; stopping every rank (MPI_Abort)");
        mpi.Abort(code);
    }
    mpi.Shutdown();
}
return code;
