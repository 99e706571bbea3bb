using Soco.Cli;

namespace Soco.Tests.Cli;

/// <summary>Runs a <c>soco</c> command with its output captured through the CLI's own writer (never by swapping
/// <see cref="Console.Out"/>, which other test collections running in parallel share).</summary>
public static class CliRunner
{
    public static (int Code, string Output) Run(params string[] args)
    {
        using var writer = new StringWriter();
        int code = SocoCli.Run(args, writer);
        return (code, writer.ToString());
    }

    /// <summary>Runs a command that must succeed (exit code 0); returns its output, which the failure message shows.</summary>
    public static string Ok(params string[] args)
    {
        var (code, output) = Run(args);
        Assert.True(code == 0, $"soco {string.Join(' ', args)}: exit {code}\n{output}");
        return output;
    }

    /// <summary>Runs a command that must fail as a user error: exit code 2 and one "error:" line containing every
    /// expected fragment (the file and the problem), so an internal exception mapped to exit 2 cannot pass.</summary>
    public static string UserError(string[] args, params string[] expected)
    {
        var (code, output) = Run(args);
        Assert.True(code == 2, $"soco {string.Join(' ', args)}: exit {code}, expected 2; output:\n{output}");
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.True(line is not null, $"soco {string.Join(' ', args)}: no 'error:' line in:\n{output}");
        foreach (var e in expected) Assert.True(line!.Contains(e, StringComparison.Ordinal), $"soco {string.Join(' ', args)}: the error line lacks '{e}':\n{line}");
        return line!;
    }
}
