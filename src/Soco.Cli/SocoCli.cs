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
        root.Add(FinetuneCommand.Build());
        root.Add(EvaluateCommand.Build());
        root.Add(DetectCommand.Build());
        root.Add(BenchCommand.Build());
        root.Add(DataCommand.Build());
        root.Add(DistributedCommand.Build());
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();

    /// <summary>
    /// Runs a command with everything it prints (results, tables, errors, parse errors) written to
    /// <paramref name="output"/> instead of the process console — for tests and embedding; concurrent invocations
    /// each keep their own writer.
    /// </summary>
    public static int Run(string[] args, TextWriter output)
    {
        using var _ = Out.RedirectTo(output);
        return Build().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = output });
    }

    public static Task<int> RunAsync(string[] args) => Task.FromResult(Run(args));

    /// <summary>Runs a command body; a user error becomes one clear line and exit code 2, never a stack trace.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException
                                       or InvalidDataException or ProposalStoreException or ImageDecodeException or ImageSourceException or IOException or InvalidOperationException)
        {
            Out.Error(e.Message);
            // SOCO_DEBUG=1 adds where it happened, for reports of what looks like an internal error.
            if (Environment.GetEnvironmentVariable("SOCO_DEBUG") == "1") Out.ErrorText.WriteLine(e.ToString());
            return 2;
        }
    }
}
