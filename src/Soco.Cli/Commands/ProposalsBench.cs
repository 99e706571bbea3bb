using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Soco.Data;
using Soco.Imaging;
using Soco.Proposals;
using Spectre.Console;

namespace Soco.Cli.Commands;

public static partial class ProposalsCommands
{
    /// <summary>
    /// Times the search alone (images decoded beforehand), per image on one thread (median of --repeat), then the
    /// throughput with 1..N worker threads over all images. Used by bench/proposals/run.sh beside the references.
    /// </summary>
    static Command Bench()
    {
        var images = new Option<string>("--images") { Description = "Images to time", Required = true };
        var mode = ModeOption();
        var repeat = new Option<int>("--repeat") { Description = "Timed runs per image (median)", DefaultValueFactory = _ => 3 };
        var workers = new Option<int>("--max-workers") { Description = "Measure throughput with 1..N worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON here" };
        var cmd = new Command("bench", "Time selective search per image (one thread) and its throughput on 1..N threads") { images, mode, repeat, workers, json };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            string m = p.GetValue(mode)!;
            using var source = ImageSources.Open(p.GetValue(images)!);
            var decoded = source.Entries.Select(e => (e.RelativePath, Image: source.Decode(e))).ToList();
            if (decoded.Count == 0) throw new ArgumentException($"--images {p.GetValue(images)}: no images to time");
            var gen = ProposalModes.Create(m);
            // Warm-up: two untimed passes over every image. One call was not enough: .NET's tiered JIT promotes the
            // hot loops after ~30 calls and a delay, so the first images were timed on unoptimised code (up to 1.5×
            // slower on a quiet machine), which a real run over thousands of images never sees.
            for (int pass = 0; pass < 2; pass++)
                foreach (var (_, img) in decoded) gen.Generate(img);
            var perImage = new SortedDictionary<string, double>(StringComparer.Ordinal);
            var boxes = new SortedDictionary<string, int>(StringComparer.Ordinal);
            foreach (var (name, img) in decoded)
            {
                var times = new List<double>();
                for (int r = 0; r < Math.Max(1, p.GetValue(repeat)); r++)
                {
                    var sw = Stopwatch.StartNew();
                    boxes[name] = gen.Generate(img).Length;
                    times.Add(sw.Elapsed.TotalSeconds);
                }
                times.Sort();
                perImage[name] = times[times.Count / 2];
            }
            var throughput = new SortedDictionary<int, double>();
            // What the runtime did meanwhile: allocation and GC counts do not depend on the machine's load, so they
            // show whether the workers share anything (a stop-the-world GC stops both) when timings cannot.
            var gcStats = new SortedDictionary<int, object>();
            // Each worker count runs over at least 64 images (the image list repeated), on threads that have each
            // searched the largest image once before the clock starts: a data-set run keeps its workers and their
            // per-thread buffers for thousands of images, so neither a fresh thread's first buffers nor the wait for
            // the last of a few images belongs in its images/s (with 18 images they made 2 workers look 1.6–1.7×).
            int timedImages = decoded.Count * Math.Max(2, (64 + decoded.Count - 1) / decoded.Count);
            var largest = decoded.MaxBy(d => (long)d.Image.Width * d.Image.Height).Image;
            for (int n = 1; n <= Math.Max(1, p.GetValue(workers)); n++)
            {
                int next = -1;
                using var ready = new Barrier(n + 1);
                var threads = Enumerable.Range(0, n).Select(_ => new Thread(() =>
                {
                    var g = ProposalModes.Create(m);
                    g.Generate(largest);
                    ready.SignalAndWait();
                    ready.SignalAndWait();
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < timedImages) g.Generate(decoded[i % decoded.Count].Image);
                })).ToList();
                threads.ForEach(t => t.Start());
                ready.SignalAndWait(); // every worker warmed up
                GC.Collect();
                GC.WaitForPendingFinalizers();
                long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
                int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
                var pause0 = GC.GetTotalPauseDuration();
                var sw = Stopwatch.StartNew();
                ready.SignalAndWait(); // go
                threads.ForEach(t => t.Join());
                throughput[n] = timedImages / sw.Elapsed.TotalSeconds;
                int images = timedImages;
                gcStats[n] = new
                {
                    allocated_mb_per_image = (GC.GetTotalAllocatedBytes(precise: true) - alloc0) / 1e6 / images,
                    gen0 = GC.CollectionCount(0) - g0,
                    gen1 = GC.CollectionCount(1) - g1,
                    gen2 = GC.CollectionCount(2) - g2,
                    gc_pause_share = (GC.GetTotalPauseDuration() - pause0).TotalSeconds / sw.Elapsed.TotalSeconds,
                    images,
                };
            }
            var t = new Table().AddColumns("image", "seconds (1 thread)", "proposals");
            foreach (var (k, v) in perImage) t.AddRow(Markup.Escape(k), $"{v:F3}", boxes[k].ToString());
            t.AddRow("[bold]mean[/]", $"[bold]{perImage.Values.Average():F3}[/]", "");
            Out.Ansi.Write(t);
            foreach (var (n, ips) in throughput) Out.Info($"{n} worker(s): {ips:F2} images/s; {JsonSerializer.Serialize(gcStats[n])}");
            if (p.GetValue(json) is string path)
                File.WriteAllText(path, JsonSerializer.Serialize(new
                {
                    impl = "soco.net-" + m,
                    per_image = perImage,
                    boxes,
                    images_per_second_by_workers = throughput.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
                    gc_by_workers = gcStats.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
                    gc = new { server = System.Runtime.GCSettings.IsServerGC, concurrent = AppContext.TryGetSwitch("System.GC.Concurrent", out bool c) ? c : (bool?)null },
                }));
            return 0;
        }));
        return cmd;
    }
}
