using System.Diagnostics;
using Spectre.Console;

namespace Soco.Cli;

/// <summary>Console output shared by the commands: errors, a progress display with ETA that also works without a terminal.</summary>
public static class Out
{
    public static void Error(string message) => AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");
    public static void Warn(string message) => AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(message)}");
    public static void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));
    public static void Ok(string message) => AnsiConsole.MarkupLine($"[green]{Markup.Escape(message)}[/]");

    /// <summary>
    /// Runs <paramref name="work"/> with a progress bar (description, bar, count, rate, ETA) on a terminal, and with a
    /// plain line every few seconds otherwise (CI logs, pipes).
    /// </summary>
    public static T WithProgress<T>(string title, int total, Func<Action<int, string?>, T> work)
    {
        if (total <= 0) return work((_, _) => { });
        if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
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
            Console.WriteLine($"{title}: {done}/{total} ({100.0 * done / total:F0}%), {rate:F2}/s, ETA {eta:hh\\:mm\\:ss}{(note is null ? "" : " " + note)}");
        });
        return r;
    }
}
