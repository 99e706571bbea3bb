using System.CommandLine;

namespace Soco.Cli;

public static class SocoCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("SoCo.NET: object-level self-supervised pretraining for detection");
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        return await root.Parse(args).InvokeAsync();
    }
}
