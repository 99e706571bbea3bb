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
        try
        {
            using var pending = Create(path); // disposed (the temporary file deleted) before the catch below runs
            write(pending.Stream);
            pending.Commit();
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            throw Explain(path, e);
        }
    }

    /// <summary>
    /// A temporary file beside <paramref name="path"/> to be written over time (a proposal part of thousands of images
    /// streamed through its compressor instead of held in memory) and renamed to <paramref name="path"/> by
    /// <see cref="Pending.Commit"/>; disposed before that, it is deleted. <paramref name="bufferSize"/> 0 for callers
    /// that write in blocks of their own.
    /// </summary>
    public static Pending Create(string path, int bufferSize = 1 << 16)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}");
        var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize);
        try
        {
            return new Pending(path, tmp, fs, _wrap.Value?.Invoke(path, fs) ?? fs);
        }
        catch
        {
            fs.Dispose();
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The error to report for <paramref name="e"/> met while writing <paramref name="path"/>: a full disk is
    /// said in words naming the file; any other error is returned as it is.</summary>
    public static IOException Explain(string path, IOException e) =>
        IsDiskFull(e) ? new IOException($"no space left on the device while writing {path}; the previous version (if any) is intact", e) : e;

    /// <summary>An open temporary file of <see cref="Create"/>.</summary>
    public sealed class Pending : IDisposable
    {
        readonly FileStream _file;
        readonly string _temp;
        bool _closed;

        internal Pending(string path, string temp, FileStream file, Stream stream)
        {
            Path = path;
            _temp = temp;
            _file = file;
            Stream = stream;
        }

        /// <summary>The target path.</summary>
        public string Path { get; }

        /// <summary>Where to write (the temporary file, or the test hook's wrapper of it).</summary>
        public Stream Stream { get; }

        /// <summary>Flushes to disk and renames the temporary file to <see cref="Path"/>, replacing what was there.</summary>
        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            Stream.Flush();
            _file.Flush(flushToDisk: true);
            _file.Dispose();
            File.Move(_temp, Path, overwrite: true);
            _closed = true;
        }

        /// <summary>Before <see cref="Commit"/> (or after it failed): closes and deletes the temporary file (the
        /// target is untouched). Never throws: closing writes the file's buffer out again, which fails again on a full
        /// disk, and the error that stopped the write is the one to report.</summary>
        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            try
            {
                _file.Dispose();
            }
            catch (IOException)
            {
                // the buffered bytes could not be written either: the file is dropped anyway
            }
            finally
            {
                TryDelete(_temp);
            }
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
