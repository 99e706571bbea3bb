using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Soco.Data;

/// <summary>
/// One batch in the shapes of docs/soco-reference.md §4.12, stacked over N samples: per view an image tensor [N, 3, S, S] float32;
/// per pair (1, k) the V1 box list <c>b1_1k</c> [N, L, 5], the partner's <c>bk</c> [N, L, 5] and the correspondence
/// [N, M, M]; dataset indices and class labels [N] int64. The caller owns the tensors: dispose the batch (they were
/// made on a loader thread, outside any dispose scope of the caller).
/// </summary>
public sealed class SocoBatch : IDisposable
{
    public required int Epoch { get; init; }
    /// <summary>Position of the batch in its epoch (the resume point is BatchIndex + 1).</summary>
    public required int BatchIndex { get; init; }
    public required Tensor[] Images { get; init; }
    public required Tensor[] Boxes1 { get; init; }
    public required Tensor[] BoxesK { get; init; }
    public required Tensor[] Correspondence { get; init; }
    public required Tensor Index { get; init; }
    public required Tensor Label { get; init; }
    /// <summary>Per-sample problems of this batch (replaced images, bad proposals).</summary>
    public required IReadOnlyList<string> Warnings { get; init; }
    public int Count => (int)Index.shape[0];

    /// <summary>
    /// The tensors in the order of the official return tuple: images, V1 box lists, partner box lists,
    /// correspondences, index, label (e.g. FPN: img1, img2, img3, b1_12, b1_13, b2, b3, C12, C13, index, label).
    /// </summary>
    public IReadOnlyList<Tensor> AsTuple() => [.. Images, .. Boxes1, .. BoxesK, .. Correspondence, Index, Label];

    public void Dispose()
    {
        foreach (var t in AsTuple()) t.Dispose();
    }

    /// <summary>Stacks samples (all of one recipe) into a batch.</summary>
    /// <param name="pin">Put the views in page-locked (pinned) host memory, so the trainer's copies to a CUDA device
    /// run without a staging copy and without blocking the host (needs a CUDA LibTorch).</param>
    /// <remarks>
    /// The batch tensors are native (large ones over <see cref="BatchMemory"/>'s recycled buffers) and the samples'
    /// arrays are copied straight into them. Building a
    /// managed array per tensor and handing it to <c>torch.tensor(float[], shape)</c> made two large-object-heap arrays
    /// per view and batch (TorchSharp clones the array and keeps the clone pinned until the tensor is disposed): ~170 MB
    /// of LOH garbage per FPN batch of 64, which the GC let pile up to ~1 GB committed before its gen-2 collections
    /// caught up, so the peak RSS depended on how many batches ran (docs/scale.md, "The loader's peak RSS").
    /// </remarks>
    public static SocoBatch Collate(IReadOnlyList<SocoSample> samples, int epoch, int batchIndex, IReadOnlyList<string>? warnings = null, bool pin = false)
    {
        if (samples.Count == 0) throw new ArgumentException("empty batch");
        int n = samples.Count;
        var first = samples[0];
        var made = new List<Tensor>(); // freed again if a sample does not fit the batch
        Tensor Keep(Tensor t)
        {
            made.Add(t);
            return t;
        }
        Tensor Stack(Func<SocoSample, float[]> pick, long[] rowShape)
        {
            int len = 1;
            foreach (var d in rowShape) len *= (int)d;
            var t = Keep(BatchMemory.EmptyFloat([n, .. rowShape]));
            var data = MemoryMarshal.Cast<byte, float>(t.bytes);
            for (int i = 0; i < n; i++)
            {
                var a = pick(samples[i]);
                if (a.Length != len) throw new InvalidOperationException($"sample {samples[i].Index}: {a.Length} values where {len} were expected");
                a.AsSpan().CopyTo(data.Slice(i * len, len));
            }
            return t;
        }
        try
        {
            var images = new Tensor[first.Images.Length];
            for (int v = 0; v < images.Length; v++)
            {
                int s = first.Sizes[v];
                images[v] = Stack(x => x.Images[v], [3, s, s]);
                if (pin)
                {
                    var plain = images[v];
                    images[v] = made[^1] = plain.pin_memory(); // Stack kept plain last
                    plain.Dispose();
                }
            }
            int pairs = first.Pairs.Length;
            var b1 = new Tensor[pairs];
            var bk = new Tensor[pairs];
            var corr = new Tensor[pairs];
            for (int p = 0; p < pairs; p++)
            {
                int l = first.Pairs[p].Boxes1.Length / 5;
                int m = (int)Math.Round(Math.Sqrt(first.Pairs[p].Correspondence.Length));
                b1[p] = Stack(s => s.Pairs[p].Boxes1, [l, 5]);
                bk[p] = Stack(s => s.Pairs[p].BoxesK, [l, 5]);
                corr[p] = Stack(s => s.Pairs[p].Correspondence, [m, m]);
            }
            return new SocoBatch
            {
                Epoch = epoch,
                BatchIndex = batchIndex,
                Images = images,
                Boxes1 = b1,
                BoxesK = bk,
                Correspondence = corr,
                Index = Keep(tensor(samples.Select(s => (long)s.Index).ToArray(), [n])),
                Label = Keep(tensor(samples.Select(s => (long)s.Label).ToArray(), [n])),
                Warnings = warnings ?? samples.Where(s => s.Warning is not null).Select(s => $"sample {s.Index}: {s.Warning}").ToList(),
            };
        }
        catch
        {
            foreach (var t in made) t.Dispose();
            throw;
        }
    }
}

/// <summary>Loader settings.</summary>
public sealed record LoaderOptions
{
    /// <summary>Threads building batches (each builds whole batches, like PyTorch's workers).</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount);
    /// <summary>Batches built ahead of the consumer, at most (bounds memory); default 2 per worker.</summary>
    public int Prefetch { get; init; } = 0;
    internal int Window => Prefetch > 0 ? Prefetch : 2 * Math.Max(1, Workers);
    /// <summary>Batches' views in pinned host memory (for a CUDA trainer: asynchronous host→device copies).</summary>
    public bool PinMemory { get; init; }
}

/// <summary>
/// Builds the batches of an epoch on <see cref="LoaderOptions.Workers"/> threads, delivered in sampler order through a
/// bounded window (at most <see cref="LoaderOptions.Window"/> batches built and not yet taken, so memory does not grow
/// with the epoch). Samples depend only on (seed, epoch, index), so the batches are identical whatever the worker
/// count. A failing image is logged and replaced (<see cref="SocoDataset.GetOrReplace"/>), never fatal.
/// </summary>
public sealed class SocoLoader
{
    public SocoLoader(SocoDataset dataset, EpochSampler sampler, LoaderOptions? options = null)
    {
        Dataset = dataset;
        Sampler = sampler;
        Options = options ?? new LoaderOptions();
    }

    public SocoDataset Dataset { get; }
    public EpochSampler Sampler { get; }
    public LoaderOptions Options { get; }

    /// <summary>The batches of <paramref name="epoch"/> from <paramref name="startBatch"/> (resume) on. Dispose each batch.</summary>
    public IEnumerable<SocoBatch> Epoch(int epoch, int startBatch = 0, CancellationToken cancel = default)
    {
        var batches = Sampler.Batches(epoch, startBatch).ToArray();
        if (batches.Length == 0) yield break;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        // One slot per batch of the window, reused round the ring (batch b in slot b % window), not one per batch of
        // the epoch: a worker starts batch b only once batch b − window was taken, and the consumer puts the slot of
        // b there before it lets a worker go on (window.Release), so the slot a worker fills is always its batch's.
        int ring = Options.Window;
        var slots = new TaskCompletionSource<SocoBatch>[ring];
        for (int b = 0; b < Math.Min(ring, batches.Length); b++) slots[b] = NewSlot();
        using var window = new SemaphoreSlim(ring, ring);
        int next = -1;
        int workers = Math.Min(Math.Max(1, Options.Workers), batches.Length);
        var threads = new Thread[workers];
        for (int w = 0; w < workers; w++)
        {
            threads[w] = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        window.Wait(cts.Token);
                        int b = Interlocked.Increment(ref next);
                        if (b >= batches.Length) return;
                        try
                        {
                            var samples = batches[b].Select(i => Dataset.GetOrReplace(i, epoch)).ToArray();
                            var batch = SocoBatch.Collate(samples, epoch, startBatch + b, pin: Options.PinMemory);
                            // the samples were copied into the batch and go nowhere else: their view arrays are reused
                            foreach (var s in samples)
                                foreach (var img in s.Images) ViewTensorPool.Return(img);
                            Volatile.Read(ref slots[b % ring]).SetResult(batch);
                        }
                        catch (Exception e)
                        {
                            Volatile.Read(ref slots[b % ring]).TrySetException(e);
                        }
                    }
                }
                catch (OperationCanceledException) { }
            })
            { IsBackground = true, Name = $"soco-loader-{w}" };
            threads[w].Start();
        }

        int taken = 0;
        try
        {
            for (; taken < batches.Length; taken++)
            {
                var batch = Await(slots[taken % ring].Task, cts.Token);
                Volatile.Write(ref slots[taken % ring], taken + ring < batches.Length ? NewSlot() : null!);
                window.Release();
                yield return batch;
            }
        }
        finally
        {
            cts.Cancel();
            foreach (var t in threads) t.Join();
            // Batches built ahead and never taken (a taken batch's slot was already replaced): free their tensors.
            foreach (var slot in slots)
                if (slot is not null && slot.Task.IsCompletedSuccessfully) slot.Task.Result.Dispose();
        }
    }

    static TaskCompletionSource<SocoBatch> NewSlot() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    static SocoBatch Await(Task<SocoBatch> task, CancellationToken cancel)
    {
        try
        {
            task.Wait(cancel);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException!).Throw();
        }
        return task.Result;
    }
}
