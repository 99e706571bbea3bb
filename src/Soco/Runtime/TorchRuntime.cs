using TorchSharp;

namespace Soco.Runtime;

/// <summary>Loads LibTorch once and applies process-wide torch settings.</summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool _ready;

    /// <summary>Ensures LibTorch is loaded; throws with the loader's real reason when it cannot be.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_ready) return;
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(
                    "LibTorch could not be loaded. On Debian 12 this is usually libLibTorchSharp.so asking for " +
                    "GLIBCXX_3.4.32; the build patches it (Directory.Build.targets). Run `ldd` on the .so in the " +
                    "output folder to see the real cause. Original error: " + e.Message, e);
            }
            _ready = true;
        }
    }

    /// <summary>Sets intra-op threads (tests use one: OpenMP spins under contention).</summary>
    public static void SetThreads(int threads)
    {
        EnsureLoaded();
        torch.set_num_threads(Math.Max(1, threads));
    }
}
