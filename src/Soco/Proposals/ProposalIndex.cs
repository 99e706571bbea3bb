using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Soco.Imaging;

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
    // Image: the record's image in the table form (its key is the table's), -1 otherwise.
    readonly record struct Entry(int Width, int Height, int Block, int Offset, int Count, int Image = -1);

    readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal); // key → entry (in the table form: keys not in the table)
    readonly List<Entry> _entries = [];
    readonly List<ProposalRect[]> _blocks = [];
    readonly ImageTable? _table;
    readonly int[]? _byImage; // the table form: image index → entry, -1 for none

    /// <summary>
    /// The table form (docs/scale.md, "The compact image list"): a record whose key is an image of
    /// <paramref name="images"/> is found through the table's key lookup and an int per image, and holds no key
    /// string at all; other keys (images the store has but the source has not) are held as strings as before. Same
    /// contents, lookups and order as <c>ProposalIndex(records)</c>.
    /// </summary>
    public ProposalIndex(IEnumerable<ProposalRecord> records, ImageTable images)
    {
        _table = images;
        _byImage = new int[images.Count];
        Array.Fill(_byImage, -1);
        Fill(records, null);
    }

    /// <summary>Successful records of <paramref name="records"/>; a key already present is skipped (the first wins).</summary>
    /// <param name="keys">The image source's keys (optional): a record whose key is among them is held under that very
    /// string instead of its own copy, so the source and the index do not each keep a string per image (~64 bytes per
    /// image of an ImageNet-style name; docs/scale.md).</param>
    public ProposalIndex(IEnumerable<ProposalRecord> records, IEnumerable<string>? keys = null) =>
        Fill(records, keys is null ? null : new HashSet<string>(keys, StringComparer.Ordinal));

    void Fill(IEnumerable<ProposalRecord> records, HashSet<string>? shared)
    {
        int open = -1, used = 0; // the block being filled and how much of it is used
        foreach (var r in records)
        {
            if (r.IsFailure) continue;
            int image = _table?.IndexOf(r.Key) ?? -1;
            if (image >= 0 ? _byImage![image] >= 0 : _slots.ContainsKey(r.Key)) continue;
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
            if (image >= 0) _byImage![image] = _entries.Count;
            else _slots.Add(key, _entries.Count);
            _entries.Add(new Entry(r.Width, r.Height, block, offset, n, image));
        }
        if (open >= 0) _blocks[open] = _blocks[open][..used];
        _entries.TrimExcess();
        _slots.TrimExcess();
    }

    public int Count => _entries.Count;

    /// <summary>Rects held (all images).</summary>
    public long RectCount => _entries.Sum(e => (long)e.Count);

    /// <summary>The entry of <paramref name="key"/>, or -1.</summary>
    int Find(string key)
    {
        if (_table is not null && _table.IndexOf(key) is int image and >= 0) return _byImage![image];
        return _slots.TryGetValue(key, out int i) ? i : -1;
    }

    public bool ContainsKey(string key) => Find(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out ProposalRecord value)
    {
        int i = Find(key);
        if (i < 0)
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

    // (key, entry) in the order the records came: the dictionary's own order (insertion, nothing is removed) without
    // a table; with one, the entries' order, each key from the table or from the dictionary.
    IEnumerable<KeyValuePair<string, int>> Slots()
    {
        if (_table is null)
        {
            foreach (var kv in _slots) yield return kv;
            yield break;
        }
        Dictionary<int, string>? others = _slots.Count == 0 ? null : _slots.ToDictionary(kv => kv.Value, kv => kv.Key);
        for (int i = 0; i < _entries.Count; i++)
            yield return new(_entries[i].Image >= 0 ? _table.KeyAt(_entries[i].Image) : others![i], i);
    }

    public IEnumerable<string> Keys => Slots().Select(kv => kv.Key);
    public IEnumerable<ProposalRecord> Values => Slots().Select(kv => Record(kv.Key, kv.Value));

    public IEnumerator<KeyValuePair<string, ProposalRecord>> GetEnumerator() =>
        Slots().Select(kv => new KeyValuePair<string, ProposalRecord>(kv.Key, Record(kv.Key, kv.Value))).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
