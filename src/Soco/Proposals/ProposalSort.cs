using Soco.IO;

namespace Soco.Proposals;

/// <summary>
/// Sorts proposal records in bounded memory by (key, failure, order added): among the records of a key, successes
/// first, each kind in the order added, so the first of a key is the one a store read keeps (<see
/// cref="ProposalStore.ReadAll()"/>). Used by the JSON export and by the duplicate check of a store read. Records are
/// packed into one byte block (key, failure flag, a caller's tag, boxes as 7-bit zig-zag numbers; no object per record),
/// the block is sorted through an index array when it holds <c>runBytes</c>, written out as a run file, and the runs
/// are merged (at most <see cref="MaxFanIn"/> at a time, so that a merge of a very large store holds a bounded number
/// of read buffers). Memory is the block (≤ <c>runBytes</c>, or one record larger than that: the block keeps that
/// size), two ints per record of the block, a 64 KB write buffer and 16 KB per merged run (docs/scale.md, "Filter and
/// export at scale").
/// </summary>
internal sealed class ProposalSort(string spillDirectory, long runBytes, long expectedBytes = 0) : IDisposable
{
    const int MaxFanIn = 64;
    const int RunBuffer = 1 << 14;

    // Sized once from the caller's estimate when it has one: grown by doubling, the block's old copies stay in the young
    // generation until a collection, which a short pass may never reach (they would add to its peak memory).
    byte[] _block = new byte[(int)Math.Clamp(expectedBytes, 1 << 16, Math.Clamp(runBytes, 1 << 16, Array.MaxLength))];
    int _used;
    int[] _starts = new int[1024]; // record i (in the order added) starts at _starts[i]
    int[] _order = [];             // the block's records in sorted order (kept: a run's sort allocates nothing)
    readonly byte[] _out = new byte[1 << 16]; // what a run file is written through
    BlockOrder? _comparer;
    int _count;
    readonly List<string> _runs = [];
    int _runNames;

    /// <summary>How many run files were written (0: everything was sorted in memory).</summary>
    public int RunsWritten => _runNames;

    public void Add(ReadOnlySpan<byte> key, bool failure, long tag, ReadOnlySpan<ProposalRect> rects)
    {
        long bound = 5 + key.Length + 1 + 10 + (failure ? 0 : 5 + 20L * rects.Length);
        if (_count > 0 && _used + bound > runBytes) Spill();
        if (_used + bound > Array.MaxLength) throw new InvalidOperationException("a proposal record larger than 2 GB");
        if (_used + bound > _block.Length)
            Array.Resize(ref _block, (int)Math.Min(Array.MaxLength, Math.Max(_used + bound, Math.Min(2L * _block.Length, runBytes))));
        if (_count == _starts.Length) Array.Resize(ref _starts, 2 * _count);
        _starts[_count++] = _used;
        _used = Encode(_block, _used, key, failure, tag, rects);
    }

    /// <summary>The records in key order, each in turn as the current record of the reader yielded (valid until the
    /// next), with <see cref="RunReader.FirstOfKey"/> set on the first of each key: the record a store read keeps. Call
    /// once, after the last <see cref="Add"/>.</summary>
    public IEnumerable<RunReader> Sorted()
    {
        var last = new byte[64];
        int lastLength = -1;
        foreach (var r in Ordered())
        {
            var key = r.Key;
            r.FirstOfKey = lastLength < 0 || !key.SequenceEqual(last.AsSpan(0, lastLength));
            if (r.FirstOfKey)
            {
                if (key.Length > last.Length) last = new byte[Math.Max(key.Length, 2 * last.Length)];
                key.CopyTo(last);
                lastLength = key.Length;
            }
            yield return r;
        }
    }

    IEnumerable<RunReader> Ordered()
    {
        if (_runs.Count == 0)
        {
            var order = SortBlock();
            var reader = new RunReader(_block, _used);
            for (int k = 0; k < _count; k++)
            {
                reader.DecodeAt(_starts[order[k]]);
                yield return reader;
            }
            yield break;
        }
        if (_count > 0) Spill();
        _block = [];
        _starts = [];
        _order = [];
        while (_runs.Count > MaxFanIn)
        {
            // One level: each group of MaxFanIn consecutive runs merged into one that takes the group's place, so run
            // order still says which of two equal keys was added first, and every record is rewritten once a level.
            var level = new List<string>();
            for (int g = 0; g < _runs.Count; g += MaxFanIn)
            {
                var group = _runs.GetRange(g, Math.Min(MaxFanIn, _runs.Count - g));
                if (group.Count == 1)
                {
                    level.Add(group[0]);
                    continue;
                }
                string merged = NextRunPath();
                using (var fs = CreateRun(merged))
                {
                    var record = new byte[64];
                    int at = 0;
                    foreach (var r in Merge(group))
                    {
                        int need = 26 + r.Key.Length + 20 * r.Rects.Length;
                        if (need > record.Length) record = new byte[Math.Max(need, 2 * record.Length)];
                        int n = Encode(record, 0, r.Key, r.IsFailure, r.Tag, r.Rects);
                        Put(fs, record.AsSpan(0, n), ref at);
                    }
                    fs.Write(_out, 0, at);
                }
                foreach (var run in group) File.Delete(run);
                level.Add(merged);
            }
            _runs.Clear();
            _runs.AddRange(level);
        }
        foreach (var r in Merge(_runs))
            yield return r;
    }

    /// <summary>Sorts the block's records; the first <c>_count</c> entries of the returned array are their order.</summary>
    int[] SortBlock()
    {
        if (_order.Length < _count) _order = new int[_starts.Length];
        for (int i = 0; i < _count; i++) _order[i] = i;
        Array.Sort(_order, 0, _count, _comparer ??= new BlockOrder(this));
        return _order;
    }

    sealed class BlockOrder(ProposalSort sort) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            var ka = sort.KeyAt(a, out bool fa);
            var kb = sort.KeyAt(b, out bool fb);
            int c = Utf8Ordinal.Compare(ka, kb);
            if (c == 0) c = fa.CompareTo(fb);
            return c != 0 ? c : a.CompareTo(b);
        }
    }

    ReadOnlySpan<byte> KeyAt(int record, out bool failure)
    {
        int at = _starts[record];
        int length = (int)Leb128.Read(_block, ref at);
        failure = _block[at + length] != 0;
        return _block.AsSpan(at, length);
    }

    void Spill()
    {
        var order = SortBlock();
        Directory.CreateDirectory(spillDirectory);
        string path = NextRunPath();
        using (var fs = CreateRun(path))
        {
            int at = 0;
            for (int k = 0; k < _count; k++)
            {
                int i = order[k];
                int end = i + 1 < _count ? _starts[i + 1] : _used;
                Put(fs, _block.AsSpan(_starts[i], end - _starts[i]), ref at);
            }
            fs.Write(_out, 0, at);
        }
        _runs.Add(path);
        _count = 0;
        _used = 0;
    }

    // Unbuffered: records go through the sort's own 64 KB buffer (a FileStream's buffer per run file was 16 KB of
    // garbage per run: 20 MB over the 1,250 runs of a 10M-image export).
    static FileStream CreateRun(string path) => new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);

    void Put(FileStream fs, ReadOnlySpan<byte> record, ref int at)
    {
        if (at + record.Length > _out.Length)
        {
            fs.Write(_out, 0, at);
            at = 0;
            if (record.Length > _out.Length)
            {
                fs.Write(record);
                return;
            }
        }
        record.CopyTo(_out.AsSpan(at));
        at += record.Length;
    }

    string NextRunPath() => Path.Combine(spillDirectory, $"run-{_runNames++:D6}.bin");

    /// <summary>K-way merge by (key, failure, run position): the runs are in the order their records were added.</summary>
    static IEnumerable<RunReader> Merge(List<string> runs)
    {
        var readers = new List<RunReader>(runs.Count);
        try
        {
            foreach (var run in runs)
                readers.Add(new RunReader(new FileStream(run, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0)));
            var queue = new PriorityQueue<int, int>(Comparer<int>.Create((a, b) =>
            {
                int c = Utf8Ordinal.Compare(readers[a].Key, readers[b].Key);
                if (c == 0) c = readers[a].IsFailure.CompareTo(readers[b].IsFailure);
                return c != 0 ? c : a.CompareTo(b);
            }));
            for (int i = 0; i < readers.Count; i++)
                if (readers[i].Next()) queue.Enqueue(i, i);
            while (queue.TryDequeue(out int i, out _))
            {
                yield return readers[i];
                if (readers[i].Next()) queue.Enqueue(i, i);
            }
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
    }

    /// <summary>Packs one record at <paramref name="at"/>; returns the end. The caller makes room (the bound in <see cref="Add"/>).</summary>
    static int Encode(byte[] into, int at, ReadOnlySpan<byte> key, bool failure, long tag, ReadOnlySpan<ProposalRect> rects)
    {
        Leb128.Write(into, ref at, (uint)key.Length);
        key.CopyTo(into.AsSpan(at));
        at += key.Length;
        into[at++] = failure ? (byte)1 : (byte)0;
        Leb128.Write(into, ref at, (ulong)tag);
        if (failure) return at;
        Leb128.Write(into, ref at, (uint)rects.Length);
        foreach (var r in rects)
        {
            Leb128.Write(into, ref at, Leb128.ZigZag(r.X));
            Leb128.Write(into, ref at, Leb128.ZigZag(r.Y));
            Leb128.Write(into, ref at, Leb128.ZigZag(r.W));
            Leb128.Write(into, ref at, Leb128.ZigZag(r.H));
        }
        return at;
    }

    public void Dispose()
    {
        foreach (var run in _runs)
            try { File.Delete(run); } catch (IOException) { }
        _runs.Clear();
    }

    /// <summary>Decodes packed records from a block in memory (at given offsets) or from a run file (in turn).</summary>
    internal sealed class RunReader : IDisposable
    {
        byte[] _buf;
        int _pos, _len;
        readonly Stream? _source;
        byte[] _key = new byte[64];
        int _keyLength;
        ProposalRect[] _rects = new ProposalRect[16];
        int _rectCount;

        public RunReader(byte[] block, int length)
        {
            _buf = block;
            _len = length;
        }

        /// <summary>A reader of a run file; its read buffer is the shared pool's (returned on <see cref="Dispose"/>):
        /// a merge opens up to 64 of them at a time, and a 10M-image export ~1,300 in all.</summary>
        public RunReader(Stream source)
        {
            _source = source;
            _buf = System.Buffers.ArrayPool<byte>.Shared.Rent(RunBuffer);
        }

        public ReadOnlySpan<byte> Key => _key.AsSpan(0, _keyLength);
        public bool IsFailure { get; private set; }
        /// <summary>The number the record was added with (<see cref="Add"/>).</summary>
        public long Tag { get; private set; }
        /// <summary>Whether no record before this one in the sorted order has its key (set by <see cref="Sorted"/>).</summary>
        public bool FirstOfKey { get; set; }
        public ReadOnlySpan<ProposalRect> Rects => _rects.AsSpan(0, _rectCount);

        public void DecodeAt(int offset)
        {
            _pos = offset;
            Decode();
        }

        /// <summary>The next record of the run file; false at its end.</summary>
        public bool Next()
        {
            if (_pos == _len && !Fill()) return false;
            Decode();
            return true;
        }

        void Decode()
        {
            int n = (int)Varint();
            if (n > _key.Length) _key = new byte[Math.Max(n, 2 * _key.Length)];
            for (int done = 0; done < n;)
            {
                if (_pos == _len && !Fill()) throw new EndOfStreamException("a sort run ends inside a record");
                int take = Math.Min(n - done, _len - _pos);
                _buf.AsSpan(_pos, take).CopyTo(_key.AsSpan(done));
                _pos += take;
                done += take;
            }
            _keyLength = n;
            IsFailure = Byte() != 0;
            Tag = (long)Varint();
            _rectCount = 0;
            if (IsFailure) return;
            int count = (int)Varint();
            if (count > _rects.Length) _rects = new ProposalRect[Math.Max(count, 2 * _rects.Length)];
            for (int i = 0; i < count; i++)
                _rects[i] = new ProposalRect(Signed(), Signed(), Signed(), Signed());
            _rectCount = count;
        }

        bool Fill()
        {
            if (_source is null) return false;
            _len = _source.Read(_buf, 0, _buf.Length);
            _pos = 0;
            return _len > 0;
        }

        byte Byte()
        {
            if (_pos == _len && !Fill()) throw new EndOfStreamException("a sort run ends inside a record");
            return _buf[_pos++];
        }

        ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = Byte();
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
        }

        int Signed() => Leb128.UnZigZag((uint)Varint());

        bool _disposed;

        public void Dispose()
        {
            if (_source is null || _disposed) return;
            _disposed = true;
            _source.Dispose();
            System.Buffers.ArrayPool<byte>.Shared.Return(_buf);
            _buf = [];
        }
    }
}
