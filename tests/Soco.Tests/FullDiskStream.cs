namespace Soco.Tests;

/// <summary>A stream that reports a full disk (ENOSPC, HResult 28) after <paramref name="limit"/> bytes.</summary>
public sealed class FullDiskStream(Stream inner, long limit) : Stream
{
    long _written;
    public override bool CanRead => false;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => true;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => inner.SetLength(value);
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_written + buffer.Length > limit) throw new IOException("No space left on device", 28);
        _written += buffer.Length;
        inner.Write(buffer);
    }
}
