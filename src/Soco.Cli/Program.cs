using Soco.Cli;
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
return await SocoCli.RunAsync(args);
