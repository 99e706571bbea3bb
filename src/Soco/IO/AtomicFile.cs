namespace Soco.IO;

/// <summary>
/// Writes that matter go to a temporary file beside the target, are flushed to disk, then renamed over the target:
/// a crash or a full disk leaves either the old file or the new one, never half of one.
/// </summary>
public static class AtomicFile
{
    public const string TempSuffix = ".tmp";

    static readonly AsyncLocal<Func<string, Stream, Stream>?> _wrap = new();

    /// <summary>Test hook: wraps the temporary file's stream of every write on this async flow (e.g. a simulated full
    /// disk at one write site); the argument is the target path. Null in normal use.</summary>
    public static Func<string, Stream, Stream>? WrapForTesting
    {
        get => _wrap.Value;
        set => _wrap.Value = value;
    }

    /// <summary>Writes through <paramref name="write"/> into a temporary file, fsyncs it and renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var target = _wrap.Value?.Invoke(path, fs) ?? fs;
                write(target);
                target.Flush();
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            TryDelete(tmp);
            throw new IOException($"no space left on the device while writing {path}; the previous version (if any) is intact", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    /// <summary>True when the file name is one of our temporary files (left behind by a killed writer).</summary>
    public static bool IsTemp(string path) => Path.GetFileName(path).StartsWith('.') && path.EndsWith(TempSuffix, StringComparison.Ordinal);

    static bool IsDiskFull(IOException e) => e.HResult == 28 || e.HResult == unchecked((int)0x80070070) || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

    static void TryDelete(string p)
    {
        try { File.Delete(p); } catch { /* best effort */ }
    }
}
