using System.Diagnostics;
using System.Runtime.InteropServices;
using Soco.Tests.Training;

namespace Soco.Tests.Reliability;

/// <summary>The CLI of the test build as a child process (<c>dotnet Soco.Cli.dll args</c>; also
/// <see cref="TrainingData.StartCli"/>), optionally behind a wrapper command (e.g. <c>setpriv</c>), with its output
/// captured and POSIX signals to send it.</summary>
public sealed class ChildCli : IDisposable
{
    readonly System.Text.StringBuilder _out = new();

    ChildCli(string[] prefix, string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var psi = new ProcessStartInfo(prefix.Length > 0 ? prefix[0] : dotnet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in prefix.Skip(1)) psi.ArgumentList.Add(a);
        if (prefix.Length > 0) psi.ArgumentList.Add(dotnet);
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Soco.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "200";
        Process = Process.Start(psi)!;
        Process.OutputDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
        Process.ErrorDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public static ChildCli Start(string[] prefix, params string[] args) => new(prefix, args);
    public static ChildCli Start(params string[] args) => new([], args);

    public Process Process { get; }
    public string Output { get { lock (_out) return _out.ToString(); } }

    /// <summary>Waits for the exit however long a busy machine takes (no clock decides a test's outcome).</summary>
    public int Wait()
    {
        Process.WaitForExit();
        return Process.ExitCode;
    }

    public const int SIGHUP = 1, SIGINT = 2, SIGKILL = 9, SIGTERM = 15;

    public void Signal(int signal)
    {
        if (kill(Process.Id, signal) != 0) throw new InvalidOperationException($"kill({Process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits (polling, no clock) until <paramref name="ready"/> holds or the child exits; false when it exited first.</summary>
    public bool WaitUntil(Func<bool> ready)
    {
        var guard = Stopwatch.StartNew();
        while (!ready())
        {
            if (Process.HasExited) return false;
            if (guard.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException("the child never reached the point: " + Output);
            Thread.Sleep(2);
        }
        return true;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(true);
        Process.Dispose();
    }
}
