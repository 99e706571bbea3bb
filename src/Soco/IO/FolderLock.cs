using System.Diagnostics;
using System.Text.Json;

namespace Soco.IO;

/// <summary>
/// One writer per folder (a proposal store, a pretraining run): a lock file <c>.soco.lock</c> holding the owner's
/// process id, the start time of that process, the host and the command. It is created with CreateNew (atomic: of two
/// processes starting at once exactly one gets it). A lock whose owner no longer runs on this host (killed with
/// SIGKILL, power loss) is stale: the next writer takes it over and says so. A lock held by a live process is an error
/// naming that process. Removed on <see cref="Dispose"/>, with the folder when the lock created it and it is still empty.
/// </summary>
public sealed class FolderLock : IDisposable
{
    public const string FileName = ".soco.lock";

    sealed record Owner(int Pid, long StartTicks, string Host, string Command);

    readonly string _path;
    readonly string? _createdFolder;
    bool _released;

    FolderLock(string path, string? tookOverFrom, string? createdFolder)
    {
        _path = path;
        TookOverFrom = tookOverFrom;
        _createdFolder = createdFolder;
    }

    /// <summary>Description of the stale lock this one replaced (null when there was none), for the log.</summary>
    public string? TookOverFrom { get; }

    /// <summary>Takes the lock of <paramref name="folder"/> (created if needed) for <paramref name="command"/>.</summary>
    /// <exception cref="IOException">Another live process holds it (the message names it).</exception>
    public static FolderLock Acquire(string folder, string command)
    {
        string? created = Directory.Exists(folder) ? null : folder;
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, FileName);
        var me = Process.GetCurrentProcess();
        var mine = new Owner(Environment.ProcessId, StartTicks(me), Environment.MachineName, command);
        string? tookOver = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read))
                {
                    JsonSerializer.Serialize(fs, mine);
                    fs.Flush(flushToDisk: true);
                }
                return new FolderLock(path, tookOver, created);
            }
            catch (IOException) when (File.Exists(path))
            {
                var owner = Read(path);
                if (owner is null)
                {
                    // Half-written by an owner killed between create and write, or not ours: a lock nobody holds.
                    tookOver = "an unreadable lock file";
                }
                else if (owner.Pid == mine.Pid && owner.StartTicks == mine.StartTicks && owner.Host == mine.Host)
                    throw new IOException($"{folder} is already open for writing in this process ({owner.Command})");
                else if (IsAlive(owner))
                    throw new IOException($"{folder} is in use by another process: {owner.Command} (pid {owner.Pid} on {owner.Host}). " +
                        "Wait for it to finish or stop it; two writers would damage the folder.");
                else tookOver = $"a stale lock of {owner.Command} (pid {owner.Pid} on {owner.Host}, no longer running)";
                try { File.Delete(path); } catch (IOException) { }
            }
        }
        throw new IOException($"{folder}: could not take the lock {path} (another process keeps taking it)");
    }

    static Owner? Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Owner>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether the owner still runs: same host, a process with that id, started at the same time (ids are reused).</summary>
    static bool IsAlive(Owner o)
    {
        if (!string.Equals(o.Host, Environment.MachineName, StringComparison.Ordinal)) return true; // cannot tell: assume it runs
        try
        {
            using var p = Process.GetProcessById(o.Pid);
            if (p.HasExited) return false;
            return StartTicks(p) == o.StartTicks;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>When the process started, as an exact number: on Linux field 22 of /proc/PID/stat (clock ticks since
    /// boot); elsewhere the start time to the second (Process.StartTime is derived from the boot time, which is
    /// recomputed per reader and may differ by microseconds).</summary>
    static long StartTicks(Process p)
    {
        try
        {
            string stat = $"/proc/{p.Id}/stat";
            if (File.Exists(stat))
            {
                string text = File.ReadAllText(stat);
                var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
                return long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture); // field 22; fields[0] is field 3
            }
            return p.StartTime.ToUniversalTime().Ticks / TimeSpan.TicksPerSecond;
        }
        catch (IOException) { return 0; }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException) { return 0; }
    }

    public void Dispose()
    {
        if (_released) return;
        _released = true;
        try { File.Delete(_path); } catch (IOException) { }
        // A command that could not start leaves no empty folder behind (one it created only to hold the lock).
        if (_createdFolder is not null)
            try
            {
                if (!Directory.EnumerateFileSystemEntries(_createdFolder).Any()) Directory.Delete(_createdFolder);
            }
            catch (IOException) { }
    }
}
