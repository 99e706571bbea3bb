using System.CommandLine;
using Soco.Cli.Commands;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Cli;

public static class SocoCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("SoCo.NET: object-level self-supervised pretraining for detection (SoCo, NeurIPS 2021)");
        root.Add(ProposalsCommands.Build());
        root.Add(DemoCommand.Build());
        root.Add(ModelCommands.Export());
        root.Add(ModelCommands.Import());
        root.Add(ModelCommands.Features());
        root.Add(ViewsCommand.Build());
        root.Add(PretrainCommand.Build());
        root.Add(EvaluateCommand.Build());
        root.Add(BenchCommand.Build());
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();

    public static Task<int> RunAsync(string[] args) => Task.FromResult(Run(args));

    /// <summary>Runs a command body; a user error becomes one clear line and exit code 2, never a stack trace.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException
                                       or InvalidDataException or ProposalStoreException or ImageDecodeException or Soco.Data.ImageSourceException or IOException or InvalidOperationException)
        {
            Out.Error(e.Message);
            return 2;
        }
    }
}
