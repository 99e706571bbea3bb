using System.Diagnostics;
using Spectre.Console;

namespace Soco.Cli;

/// <summary>
/// Console output shared by the commands: errors, a progress display with ETA that also works without a terminal.
/// Everything a command prints goes through <see cref="Ansi"/> (tables, rules, markup) or <see cref="Text"/> (plain
/// lines): the process console, or the writer given to <see cref="SocoCli.Run(string[], TextWriter)"/> for that
/// invocation only (an async-local, so other threads' invocations and <see cref="System.Console"/> are untouched).
/// </summary>
public static class Out
{
    sealed record Target(TextWriter Writer, IAnsiConsole Ansi);

    static readonly AsyncLocal<Target?> Redirected = new();

    /// <summary>Where rich output (tables, rules, markup) goes.</summary>
    public static IAnsiConsole Ansi => Redirected.Value?.Ansi ?? AnsiConsole.Console;

    /// <summary>Where plain output lines go.</summary>
    public static TextWriter Text => Redirected.Value?.Writer ?? Console.Out;

    /// <summary>Where diagnostics that are not a command's result go (loader warnings).</summary>
    public static TextWriter ErrorText => Redirected.Value?.Writer ?? Console.Error;

    /// <summary>Sends this invocation's output (this thread and what it starts) to <paramref name="writer"/> until disposed.</summary>
    public static IDisposable RedirectTo(TextWriter writer)
    {
        var previous = Redirected.Value;
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        ansi.Profile.Width = 160;
        Redirected.Value = new Target(writer, ansi);
        return new Restore(previous);
    }

    sealed class Restore(Target? previous) : IDisposable
    {
        public void Dispose() => Redirected.Value = previous;
    }

    public static void Error(string message) => Line("[red]error:[/] ", "error: ", message, "");
    public static void Warn(string message) => Line("[yellow]warning:[/] ", "warning: ", message, "");
    public static void Info(string message) => Line("", "", message, "");
    public static void Ok(string message) => Line("[green]", "", message, "[/]");

    /// <summary>
    /// One message line. Into a pipe, a file or a test's writer it is written whole, never wrapped: a script (or a test)
    /// that looks for the <c>error:</c> line must find the file name and the problem on it, whatever the path length.
    /// </summary>
    static void Line(string markupPrefix, string plainPrefix, string message, string markupSuffix)
    {
        if (Redirected.Value is { } target) target.Writer.WriteLine(plainPrefix + message);
        else if (Console.IsOutputRedirected) Console.Out.WriteLine(plainPrefix + message);
        else AnsiConsole.Console.MarkupLine(markupPrefix + Markup.Escape(message) + markupSuffix);
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a progress bar (description, bar, count, rate, ETA) on a terminal, and with a
    /// plain line every few seconds otherwise (CI logs, pipes).
    /// </summary>
    public static T WithProgress<T>(string title, int total, Func<Action<int, string?>, T> work)
    {
        if (total <= 0) return work((_, _) => { });
        if (Redirected.Value is null && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
        {
            T result = default!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape($"{title} 0/{total}"), maxValue: total);
                    int count = 0;
                    result = work((n, note) =>
                    {
                        count += n;
                        task.Increment(n);
                        task.Description = Markup.Escape($"{title} {count}/{total}" + (note is null ? "" : " " + note));
                    });
                });
            return result;
        }
        var sw = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        int done = 0;
        var r = work((n, note) =>
        {
            done += n;
            if (sw.Elapsed - last < TimeSpan.FromSeconds(5) && done < total) return;
            last = sw.Elapsed;
            double rate = done / Math.Max(1e-9, sw.Elapsed.TotalSeconds);
            var eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : TimeSpan.Zero;
            Text.WriteLine($"{title}: {done}/{total} ({100.0 * done / total:F0}%), {rate:F2}/s, ETA {eta:hh\\:mm\\:ss}{(note is null ? "" : " " + note)}");
        });
        return r;
    }
}
