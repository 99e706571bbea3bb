using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Soco.Proposals;

/// <summary>
/// The successful records of a store, by key, in a compact read-only form for training (docs/scale.md): the rects of
/// all images in a few large blocks and a small entry per image, instead of a record object, a location string and a
/// rect array each. Held for a whole run by every process (and every rank), so its per-image cost is what a large
/// dataset pays. A lookup gives a new <see cref="ProposalRecord"/> (with an empty <see cref="ProposalRecord.Location"/>).
/// Thread-safe for readers.
/// </summary>
public sealed class ProposalIndex : IReadOnlyDictionary<string, ProposalRecord>
{
    const int BlockSize = 1 << 16;
    readonly record struct Entry(int Width, int Height, int Block, int Offset, int Count);

    readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    readonly List<Entry> _entries = [];
    readonly List<ProposalRect[]> _blocks = [];

    /// <summary>Successful records of <paramref name="records"/>; a key already present is skipped (the first wins).</summary>
    /// <param name="keys">The image source's keys (optional): a record whose key is among them is held under that very
    /// string instead of its own copy, so the source and the index do not each keep a string per image (~64 bytes per
    /// image of an ImageNet-style name; docs/scale.md).</param>
    public ProposalIndex(IEnumerable<ProposalRecord> records, IEnumerable<string>? keys = null)
    {
        var shared = keys is null ? null : new HashSet<string>(keys, StringComparer.Ordinal);
        int open = -1, used = 0; // the block being filled and how much of it is used
        foreach (var r in records)
        {
            if (r.IsFailure || _slots.ContainsKey(r.Key)) continue;
            string key = shared is not null && shared.TryGetValue(r.Key, out var same) ? same : r.Key;
            int n = r.Rects.Length, block, offset = 0;
            if (n > BlockSize)
            {
                _blocks.Add(r.Rects.ToArray()); // a record larger than a block gets one of its own
                block = _blocks.Count - 1;
            }
            else
            {
                if (open < 0 || used + n > BlockSize)
                {
                    if (open >= 0) _blocks[open] = _blocks[open][..used]; // its unused tail
                    _blocks.Add(new ProposalRect[BlockSize]);
                    open = _blocks.Count - 1;
                    used = 0;
                }
                block = open;
                offset = used;
                r.Rects.CopyTo(_blocks[block], offset);
                used += n;
            }
            _slots.Add(key, _entries.Count);
            _entries.Add(new Entry(r.Width, r.Height, block, offset, n));
        }
        if (open >= 0) _blocks[open] = _blocks[open][..used];
        _entries.TrimExcess();
        _slots.TrimExcess();
    }

    public int Count => _entries.Count;

    /// <summary>Rects held (all images).</summary>
    public long RectCount => _entries.Sum(e => (long)e.Count);

    public bool ContainsKey(string key) => _slots.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out ProposalRecord value)
    {
        if (!_slots.TryGetValue(key, out int i))
        {
            value = null;
            return false;
        }
        value = Record(key, i);
        return true;
    }

    public ProposalRecord this[string key] =>
        TryGetValue(key, out var r) ? r : throw new KeyNotFoundException($"no proposals for image key '{key}'");

    ProposalRecord Record(string key, int i)
    {
        var e = _entries[i];
        return new ProposalRecord(key, "", e.Width, e.Height, _blocks[e.Block].AsSpan(e.Offset, e.Count).ToArray());
    }

    public IEnumerable<string> Keys => _slots.Keys;
    public IEnumerable<ProposalRecord> Values => _slots.Select(kv => Record(kv.Key, kv.Value));

    public IEnumerator<KeyValuePair<string, ProposalRecord>> GetEnumerator() =>
        _slots.Select(kv => new KeyValuePair<string, ProposalRecord>(kv.Key, Record(kv.Key, kv.Value))).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
