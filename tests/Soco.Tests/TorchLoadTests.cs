using Soco.Runtime;
using TorchSharp;

namespace Soco.Tests;

[Collection("torch")]
public class TorchLoadTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        TorchRuntime.SetThreads(1);
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var s = a.sum();
        Assert.Equal(15f, s.item<float>());
    }
}
