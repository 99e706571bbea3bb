using System.Collections.Concurrent;
using System.Diagnostics;
using Soco.Data;
using Soco.Imaging;

namespace Soco.Proposals;

/// <summary>Settings of a proposal-generation run.</summary>
public sealed record GenerateOptions
{
    /// <summary>Worker threads, one image each at a time (default: all cores).</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>This machine's shard: it takes images whose index (in the source's sorted order) ≡ ShardIndex mod ShardCount.</summary>
    public int ShardIndex { get; init; }
    public int ShardCount { get; init; } = 1;
    /// <summary>When &gt; 0, images whose longer side exceeds it are downscaled (PIL bilinear) before searching; boxes map back.</summary>
    public int MaxSide { get; init; }
    /// <summary>Retry images that failed in an earlier run (by default they are skipped like done ones).</summary>
    public bool RetryFailed { get; init; }
    /// <summary>A part is written after this many images ...</summary>
    public int FlushEvery { get; init; } = 64;
    /// <summary>... or after this much time, whichever comes first: a killed run loses at most this much work.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(15);

    public void Validate()
    {
        if (Workers < 1) throw new ArgumentException($"--workers must be ≥ 1, got {Workers}");
        if (ShardCount < 1 || ShardIndex < 0 || ShardIndex >= ShardCount)
            throw new ArgumentException($"--shard must be i/n with 0 ≤ i < n, got {ShardIndex}/{ShardCount}");
        if (MaxSide < 0) throw new ArgumentException($"--max-side must be ≥ 0, got {MaxSide}");
        if (FlushEvery < 1) throw new ArgumentException($"flush interval must be ≥ 1 image, got {FlushEvery}");
    }
}

/// <summary>Counts of a run. Done: processed now; Skipped: already in the store; Failed: processed now and failed.</summary>
public sealed record GenerateSummary(int InShard, int Done, int Skipped, int Failed, long Proposals, TimeSpan Elapsed)
{
    public double ImagesPerSecond => Elapsed.TotalSeconds > 0 ? (Done + Failed) / Elapsed.TotalSeconds : 0;

    /// <summary>Where the run's time went (docs/scale.md §Parallel scaling): set by <see cref="ProposalGeneration.Run"/>.</summary>
    public GenerateProfile? Profile { get; init; }
}

/// <summary>
/// Where a generation run's time went, summed over the workers: what separates "two workers do more work per image"
/// (CPU, allocation, GC) from "a worker was not running" (waiting on the writer's queue, the last images' tail, the
/// machine). Seconds are wall time on the worker threads unless named CPU.
/// </summary>
public sealed record GenerateProfile(
    int Workers, int Images, double WallSeconds, double ProcessCpuSeconds,
    double DecodeSeconds, double SearchSeconds, double QueueFullSeconds, double TailSeconds,
    double WriterWaitSeconds, double WriterBusySeconds,
    double GcPauseSeconds, int Gen0, int Gen1, int Gen2, double AllocatedMbPerImage, long LockContentions)
{
    /// <summary>Worker time not spent decoding, searching or waiting on the queue (thread start, the machine's other load).</summary>
    public double OtherSeconds => Workers * WallSeconds - DecodeSeconds - SearchSeconds - QueueFullSeconds - TailSeconds;

    public double CpuMsPerImage => Images > 0 ? 1000 * ProcessCpuSeconds / Images : 0;

    /// <summary>The process's peak resident memory so far (MB): with the next two, whether a growing peak is the managed heap.</summary>
    public double PeakRssMb { get; init; }

    /// <summary>Memory the GC had committed at its last collection in the run (MB; 0 before any).</summary>
    public double GcCommittedMb { get; init; }

    /// <summary>The GC heap's size at its last collection (MB), live objects and the fragmentation between them.</summary>
    public double GcHeapMb { get; init; }
}

/// <summary>
/// Runs a proposal generator over a list of images into a store: resumable (images already in the store are
/// skipped), sharded, one image per worker thread, every per-image failure recorded with its reason.
/// </summary>
public static class ProposalGeneration
{
    /// <summary>
    /// Images of this shard that the store does not hold yet, in source order: a view by index that makes each entry
    /// when it is read, so that a plan holds 4 bytes per image, not an entry and its strings (docs/scale.md).
    /// </summary>
    public static (IReadOnlyList<ImageEntry> Todo, int InShard, int Skipped) Plan(IReadOnlyList<ImageEntry> items, ProposalStore store, GenerateOptions options)
    {
        options.Validate();
        var done = store.ReadKeys(includeFailures: !options.RetryFailed);
        var table = items as ImageTable;
        var todo = new List<int>();
        int inShard = 0;
        for (int i = options.ShardIndex; i < items.Count; i += options.ShardCount)
        {
            inShard++;
            if (done.Count == 0 || !done.Contains(table?.KeyAt(i) ?? items[i].Key)) todo.Add(i);
        }
        return (new EntrySubset(items, todo.ToArray()), inShard, inShard - todo.Count);
    }

    /// <summary>The images <paramref name="indices"/> of <paramref name="items"/>, each made when read.</summary>
    private sealed class EntrySubset(IReadOnlyList<ImageEntry> items, int[] indices) : IReadOnlyList<ImageEntry>
    {
        public int Count => indices.Length;
        public ImageEntry this[int index] => items[indices[index]];

        public IEnumerator<ImageEntry> GetEnumerator()
        {
            foreach (int i in indices) yield return items[i];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>
    /// Processes <paramref name="todo"/> on <see cref="GenerateOptions.Workers"/> threads and writes the results.
    /// <paramref name="load"/> decodes an image (throwing <see cref="ImageDecodeException"/> with a clear reason on bad
    /// input); <paramref name="makeGenerator"/> is called once per worker. <paramref name="onRecord"/> runs on the
    /// calling thread after each image (progress). Cancelling writes what is finished and returns.
    /// </summary>
    public static GenerateSummary Run(IReadOnlyList<ImageEntry> todo, int inShard, int skipped,
        Func<ImageEntry, RgbImage> load, Func<IProposalGenerator> makeGenerator, ProposalStore store, GenerateOptions options,
        Action<ProposalRecord>? onRecord = null, CancellationToken cancel = default, IReadOnlyList<ProposalRecord>? sourceFailures = null)
    {
        options.Validate();
        var sw = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var pause0 = GC.GetTotalPauseDuration();
        long alloc0 = GC.GetTotalAllocatedBytes(precise: false), locks0 = Monitor.LockContentionCount;
        int gc0 = GC.CollectionCount(0), gc1 = GC.CollectionCount(1), gc2 = GC.CollectionCount(2);
        // per worker: decode, search and queue-full ticks, and when it stopped (for the tail: workers that ran out of
        // images while another still searched its last one)
        var ticks = new long[Math.Min(options.Workers, Math.Max(1, todo.Count)), 4];
        int next = -1, done = 0, failed = 0;
        long proposals = 0;
        using var results = new BlockingCollection<ProposalRecord>(boundedCapacity: Math.Max(4, options.Workers * 4));
        var workers = new Thread[Math.Min(options.Workers, Math.Max(1, todo.Count))];
        Exception? fatal = null;
        // Set when the writer fails (a full disk): workers stop and a worker blocked on a full queue is released, so the
        // queue is never disposed under a running thread. A user's cancel still lets in-flight images be saved.
        using var abort = new CancellationTokenSource();
        for (int w = 0; w < workers.Length; w++)
        {
            int wi = w;
            workers[w] = new Thread(() =>
            {
                try
                {
                    var generator = makeGenerator();
                    var timed = new TimedLoad(load);
                    while (!cancel.IsCancellationRequested && !abort.IsCancellationRequested)
                    {
                        int i = Interlocked.Increment(ref next);
                        if (i >= todo.Count) break;
                        long t0 = Stopwatch.GetTimestamp();
                        timed.Ticks = 0;
                        var record = ProcessOne(todo[i], timed.Load, generator, options.MaxSide, store.Info.RectConvention);
                        long t1 = Stopwatch.GetTimestamp();
                        results.Add(record, abort.Token);
                        ticks[wi, 0] += timed.Ticks;
                        ticks[wi, 1] += t1 - t0 - timed.Ticks;
                        ticks[wi, 2] += Stopwatch.GetTimestamp() - t1;
                    }
                }
                catch (OperationCanceledException) when (abort.IsCancellationRequested)
                {
                    // The writer failed; its error is the one reported.
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    fatal ??= e;
                }
                finally
                {
                    ticks[wi, 3] = Stopwatch.GetTimestamp();
                }
            }) { IsBackground = true, Name = $"proposals-{w}" };
            workers[w].Start();
        }
        var closer = new Thread(() =>
        {
            foreach (var t in workers) t.Join();
            results.CompleteAdding();
        }) { IsBackground = true };
        closer.Start();

        long writerWait = 0, writerBusy = 0;
        try
        {
        using (var writer = store.OpenWriter(options.ShardCount > 1 ? $"s{options.ShardIndex:D3}of{options.ShardCount:D3}" : ""))
        {
            var lastFlush = Stopwatch.StartNew();
            foreach (var f in sourceFailures ?? [])
            {
                writer.Add(f);
                failed++;
                onRecord?.Invoke(f);
            }
            long tw = Stopwatch.GetTimestamp();
            foreach (var r in results.GetConsumingEnumerable())
            {
                long tr = Stopwatch.GetTimestamp();
                writerWait += tr - tw;
                writer.Add(r);
                if (r.IsFailure) failed++;
                else { done++; proposals += r.Rects.Length; }
                if (writer.Buffered >= options.FlushEvery || lastFlush.Elapsed >= options.FlushInterval)
                {
                    writer.Flush();
                    lastFlush.Restart();
                }
                onRecord?.Invoke(r);
                tw = Stopwatch.GetTimestamp();
                writerBusy += tw - tr;
            }
        }
        }
        catch (IOException e)
        {
            throw new IOException($"{e.Message}. The images saved before are kept in {store.Directory}; free space and run the same command again to do the rest", e);
        }
        finally
        {
            abort.Cancel();
            closer.Join();
        }
        if (fatal is not null) throw new InvalidOperationException("a proposal worker stopped: " + fatal.Message, fatal);
        var elapsed = sw.Elapsed;
        double Sec(long t) => (double)t / Stopwatch.Frequency;
        long decode = 0, search = 0, queueFull = 0, lastEnd = 0, tail = 0;
        for (int w = 0; w < ticks.GetLength(0); w++)
        {
            decode += ticks[w, 0];
            search += ticks[w, 1];
            queueFull += ticks[w, 2];
            lastEnd = Math.Max(lastEnd, ticks[w, 3]);
        }
        for (int w = 0; w < ticks.GetLength(0); w++) tail += lastEnd - ticks[w, 3];
        int images = done + failed;
        var gcInfo = GC.GetGCMemoryInfo(); // as of the last collection
        var profile = new GenerateProfile(ticks.GetLength(0), images, elapsed.TotalSeconds,
            (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds,
            Sec(decode), Sec(search), Sec(queueFull), Sec(tail), Sec(writerWait), Sec(writerBusy),
            (GC.GetTotalPauseDuration() - pause0).TotalSeconds,
            GC.CollectionCount(0) - gc0, GC.CollectionCount(1) - gc1, GC.CollectionCount(2) - gc2,
            images > 0 ? (GC.GetTotalAllocatedBytes(precise: false) - alloc0) / 1e6 / images : 0,
            Monitor.LockContentionCount - locks0)
        {
            PeakRssMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1e6,
            GcCommittedMb = gcInfo.TotalCommittedBytes / 1e6,
            GcHeapMb = gcInfo.HeapSizeBytes / 1e6,
        };
        return new GenerateSummary(inShard, done, skipped, failed, proposals, elapsed) { Profile = profile };
    }

    /// <summary>The decode delegate with its time measured (one per worker thread).</summary>
    private sealed class TimedLoad(Func<ImageEntry, RgbImage> load)
    {
        public long Ticks;

        public RgbImage Load(ImageEntry e)
        {
            long t0 = Stopwatch.GetTimestamp();
            try { return load(e); }
            finally { Ticks += Stopwatch.GetTimestamp() - t0; }
        }
    }

    /// <summary>Decodes and searches one image; any failure becomes a recorded reason, never an exception.</summary>
    public static ProposalRecord ProcessOne(ImageEntry item, Func<ImageEntry, RgbImage> load, IProposalGenerator generator, int maxSide, string rectConvention)
    {
        RgbImage image;
        try
        {
            image = load(item);
        }
        catch (ImageDecodeException e)
        {
            return ProposalRecord.Failure(item.Key, item.Location, e.Reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return ProposalRecord.Failure(item.Key, item.Location, "cannot read: " + e.Message);
        }
        try
        {
            var searched = maxSide > 0 ? Downscale(image, maxSide) : image;
            var rects = generator.Generate(searched);
            if (!ReferenceEquals(searched, image))
                rects = MapBack(rects, searched.Width, searched.Height, image.Width, image.Height, rectConvention);
            return new ProposalRecord(item.Key, item.Location, image.Width, image.Height, rects);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return ProposalRecord.Failure(item.Key, item.Location, $"selective search failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Downscales so the longer side is <paramref name="maxSide"/> (never upscales).</summary>
    public static RgbImage Downscale(RgbImage image, int maxSide)
    {
        int longer = Math.Max(image.Width, image.Height);
        if (longer <= maxSide) return image;
        double s = (double)maxSide / longer;
        int w = Math.Max(1, (int)Math.Round(image.Width * s)), h = Math.Max(1, (int)Math.Round(image.Height * s));
        return PilResize.Bilinear(image, w, h);
    }

    /// <summary>
    /// Maps rects found on a downscaled image back to the original: the covered pixel range [x, x + extent) is scaled
    /// outward to whole pixels and clipped. Extent = w + 1 for SoCo's convention (w = max − min), w for OpenCV's.
    /// </summary>
    public static ProposalRect[] MapBack(ProposalRect[] rects, int fromW, int fromH, int toW, int toH, string rectConvention)
    {
        int extra = rectConvention == "soco" ? 1 : 0;
        double sx = (double)toW / fromW, sy = (double)toH / fromH;
        var result = new ProposalRect[rects.Length];
        for (int i = 0; i < rects.Length; i++)
        {
            var r = rects[i];
            int x0 = Math.Clamp((int)Math.Floor(r.X * sx), 0, toW - 1), y0 = Math.Clamp((int)Math.Floor(r.Y * sy), 0, toH - 1);
            int x1 = Math.Clamp((int)Math.Ceiling((r.X + r.W + extra) * sx), x0 + 1, toW);
            int y1 = Math.Clamp((int)Math.Ceiling((r.Y + r.H + extra) * sy), y0 + 1, toH);
            result[i] = new ProposalRect(x0, y0, x1 - x0 - extra, y1 - y0 - extra);
        }
        return result;
    }
}
