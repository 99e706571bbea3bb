using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Distributed;

/// <summary>
/// What DistributedDataParallel does for a model, on a <see cref="ProcessGroup"/> (docs/distributed.md §Data parallel):
/// the gradients of <see cref="Parameters"/> averaged over ranks after the backward, through flattened buckets of about
/// <see cref="BucketBytes"/> (25 MB, DDP's default) so a 100 MB gradient set is four all-reduces, not hundreds; and the
/// state broadcasts that make every rank start from rank 0's weights, buffers and optimiser state.
/// <para>The buckets are all-reduced once the whole backward is done (before the optimiser step), not as each bucket's
/// gradients become ready: on CPU ranks the backward and the all-reduce compete for the same cores, and TorchSharp 0.107
/// has no gradient hooks (docs/distributed.md says what an overlap would take).</para>
/// </summary>
public sealed class DataParallel
{
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    readonly Parameter[] _params;

    public DataParallel(ProcessGroup group, IEnumerable<Parameter> parameters, long bucketBytes = DefaultBucketBytes)
    {
        Group = group;
        _params = parameters.Where(p => p.requires_grad).ToArray();
        BucketBytes = bucketBytes;
    }

    public ProcessGroup Group { get; }
    public long BucketBytes { get; }
    public IReadOnlyList<Parameter> Parameters => _params;
    /// <summary>All-reduces of the last <see cref="AverageGradients"/> (buckets).</summary>
    public int LastBuckets { get; private set; }

    /// <summary>
    /// Replaces every gradient by its mean over the ranks. A parameter no rank gave a gradient keeps none (as in one
    /// process, where the optimiser skips it); one that only some ranks reached gets zeros on the others first.
    /// </summary>
    public void AverageGradients()
    {
        LastBuckets = 0;
        if (!Group.IsDistributed || _params.Length == 0) return;
        using var scope = NewDisposeScope();
        var has = new long[_params.Length];
        for (int i = 0; i < _params.Length; i++) has[i] = _params[i].grad is null ? 0 : 1;
        var mask = tensor(has);
        Group.AllReduce(mask, ReduceOp.Max);
        has = mask.data<long>().ToArray();
        var bucket = new List<Tensor>();
        long bytes = 0;
        ScalarType? type = null;
        for (int i = 0; i < _params.Length; i++)
        {
            if (has[i] == 0) continue;
            var p = _params[i];
            var g = p.grad;
            if (g is null)
            {
                p.grad = zeros_like(p);
                g = p.grad!;
            }
            if (bucket.Count > 0 && (g.dtype != type || bytes + g.numel() * g.element_size() > BucketBytes))
            {
                Reduce(bucket);
                bucket.Clear();
                bytes = 0;
            }
            bucket.Add(g);
            type = g.dtype;
            bytes += g.numel() * g.element_size();
        }
        if (bucket.Count > 0) Reduce(bucket);
    }

    void Reduce(List<Tensor> grads)
    {
        using var scope = NewDisposeScope();
        var flat = cat(grads.Select(g => g.reshape(-1)).ToList()).cpu().contiguous();
        Group.AllReduce(flat, ReduceOp.Mean);
        long off = 0;
        using (no_grad())
            foreach (var g in grads)
            {
                long n = g.numel();
                g.copy_(flat.narrow(0, off, n).view(g.shape));
                off += n;
            }
        LastBuckets++;
    }

    /// <summary>Every tensor of <paramref name="module"/>'s state dict (parameters and buffers) becomes rank 0's, in
    /// place (DDP's initial broadcast): ranks start bit-identical whatever each initialised or loaded.</summary>
    public static void BroadcastModule(ProcessGroup group, nn.Module module)
    {
        if (!group.IsDistributed) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, t) in module.state_dict())
        {
            // A contiguous CPU tensor is its own copy here (same storage): the broadcast lands in place.
            var c = t.cpu().contiguous();
            group.Broadcast(c);
            if (!group.IsMain) t.copy_(c);
        }
    }

    sealed record Entry(string Name, string Type, long[] Shape);

    /// <summary>Rank 0's named tensors (e.g. an optimiser's state) on every rank: the names, types and shapes travel
    /// first, so the other ranks need not know them (pass null there).</summary>
    public static Dictionary<string, Tensor> BroadcastState(ProcessGroup group, IReadOnlyDictionary<string, Tensor>? rootState)
    {
        if (!group.IsDistributed) return rootState?.ToDictionary() ?? [];
        var entries = group.IsMain ? rootState!.Select(kv => new Entry(kv.Key, kv.Value.dtype.ToString(), kv.Value.shape)).ToList() : null;
        var json = group.BroadcastBytes(group.IsMain ? JsonSerializer.SerializeToUtf8Bytes(entries) : []);
        entries = JsonSerializer.Deserialize<List<Entry>>(json)!;
        var result = new Dictionary<string, Tensor>();
        foreach (var e in entries)
        {
            var t = group.IsMain ? rootState![e.Name].cpu().contiguous().clone() : empty(e.Shape, Enum.Parse<ScalarType>(e.Type));
            group.Broadcast(t);
            result[e.Name] = t;
        }
        return result;
    }
}
