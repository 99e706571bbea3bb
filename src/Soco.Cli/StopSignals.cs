using System.Runtime.InteropServices;

namespace Soco.Cli;

/// <summary>
/// SIGINT (Ctrl+C), SIGTERM (<c>timeout</c>, <c>docker stop</c>, Slurm, systemd) and SIGHUP (a closed terminal or SSH
/// session) all ask a long command to stop at its next safe point — a step boundary with a checkpoint, or the images in
/// flight written to the store — instead of killing it and losing the work since the last save. A second signal ends
/// the process at once (the default action); what was saved before stays intact.
/// </summary>
public sealed class StopSignals : IDisposable
{
    readonly CancellationTokenSource _cts = new();
    readonly List<PosixSignalRegistration> _registrations = new();
    int _received;

    /// <param name="stopping">What the command will do now, printed once when the first signal arrives.</param>
    public StopSignals(string stopping)
    {
        foreach (var (signal, name, number) in new[] { (PosixSignal.SIGINT, "SIGINT", 2), (PosixSignal.SIGTERM, "SIGTERM", 15), (PosixSignal.SIGHUP, "SIGHUP", 1) })
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, ctx =>
                {
                    if (Interlocked.CompareExchange(ref _received, number, 0) != 0) return; // second signal: default action, exit now
                    ctx.Cancel = true;
                    Out.Warn($"{name} received: {stopping} (a second signal stops at once)");
                    _cts.Cancel();
                }));
            }
            catch (PlatformNotSupportedException) { }
        }
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>The exit code for a stop by signal: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).</summary>
    public int ExitCode => 128 + (_received == 0 ? 2 : _received);

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
