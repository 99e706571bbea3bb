using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SkiaSharp;
using Soco.Data;
using Soco.Data.Scenes;
using Soco.Engine;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Cli.Commands;

/// <summary>
/// The scale benchmark's pieces (bench/scale/run, docs/scale.md): `soco data synth` makes the image sets;
/// `soco bench scale open | loader | replicate | report` time opening a source, time one loader epoch, make a store for
/// a set larger than selective search can be run on here, and turn the measured stages into a table, a JSON and a PNG.
/// </summary>
public static class ScaleBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>`soco data synth`.</summary>
    public static Command Synth()
    {
        var photos = new Option<string>("--photos") { Description = "Folder of source photos (.jpg/.png), e.g. samples/photos", Required = true };
        var count = new Option<int>("--count") { Description = "Number of images", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed: the same seed and arguments give the same bytes; image i depends only on (seed, i)", DefaultValueFactory = _ => 0 };
        var minSide = new Option<int>("--min-side") { Description = "Smallest longer side, pixels", DefaultValueFactory = _ => new ScaleImageOptions().MinSide };
        var maxSide = new Option<int>("--max-side") { Description = "Largest longer side, pixels", DefaultValueFactory = _ => new ScaleImageOptions().MaxSide };
        var quality = new Option<int>("--quality") { Description = "JPEG quality", DefaultValueFactory = _ => new ScaleImageOptions().Quality };
        var workers = new Option<int>("--workers") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var output = new Option<string>("--out") { Description = "Output folder: train/<class>/<class>_<i>.JPEG, train.zip + train_map.txt (SoCo's ImageNet zip layout), scaleset.json", Required = true };
        var cmd = new Command("synth", "Deterministic set of N distinct JPEGs made from real photos (random crops, flips, sizes and colour shifts), as a folder and as an ImageNet-style train.zip + train_map.txt")
            { photos, count, seed, minSide, maxSide, quality, workers, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException("--count must be ≥ 1");
            var options = new ScaleImageOptions { MinSide = p.GetValue(minSide), MaxSide = p.GetValue(maxSide), Quality = p.GetValue(quality) };
            var gate = new object();
            var r = Out.WithProgress("images", n, tick => ScaleImageSet.Write(p.GetValue(photos)!, p.GetValue(seed), n, options, p.GetValue(output)!,
                p.GetValue(workers), _ => { lock (gate) tick(1, null); }));
            Out.Info($"{r.Count:N0} images, {r.Bytes / 1e6:F1} MB of JPEG ({r.Bytes / (double)r.Count / 1e3:F1} KB each), sha256 {r.Sha256}");
            Out.Ok($"{r.Folder}, {r.Zip} + {Path.GetFileName(r.Map)}: {(r.Reused ? "already made with these arguments (reused)" : "written")}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>`soco bench scale ...`.</summary>
    public static Command Build()
    {
        var cmd = new Command("scale", "Scale benchmark pieces (bench/scale/run)");
        cmd.Add(Open());
        cmd.Add(Loader());
        cmd.Add(Replicate());
        cmd.Add(Repeat());
        cmd.Add(Report());
        return cmd;
    }

    static Option<string?> JsonOption() => new("--json") { Description = "Write the results to this JSON file" };

    static double PeakRssMb() => ReadStatusKb("VmHWM") / 1024.0;

    static long ReadStatusKb(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], Inv);
        return 0;
    }

    static Command Open()
    {
        var images = new Option<string>("--images") { Description = "Image source (folder, zip with map, list)", Required = true };
        var json = JsonOption();
        var cmd = new Command("open", "Time opening an image source (reading a zip's central directory and map, listing a folder)") { images, json };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            long before = ReadStatusKb("VmRSS"), liveBefore = GC.GetTotalMemory(forceFullCollection: true);
            var sw = Stopwatch.StartNew();
            using var source = ImageSources.Open(p.GetValue(images)!);
            double seconds = sw.Elapsed.TotalSeconds;
            long after = ReadStatusKb("VmRSS");
            // What the open source keeps (live objects after a full collection), apart from what opening allocated for a while.
            long live = GC.GetTotalMemory(forceFullCollection: true) - liveBefore;
            var r = new Dictionary<string, object?>
            {
                ["entries"] = source.Entries.Count, ["open_seconds"] = seconds,
                ["rss_added_mb"] = (after - before) / 1024.0, ["live_bytes_per_entry"] = live / (double)source.Entries.Count,
                ["peak_rss_mb"] = PeakRssMb(), ["source"] = source.Description,
            };
            Out.Text.WriteLine($"opened {source.Description} in {seconds:F3} s; resident memory +{(after - before) / 1024.0:F1} MB; " +
                               $"kept {live / (double)source.Entries.Count:F0} bytes per entry");
            BenchCommand.WriteJson(p.GetValue(json), r);
            return 0;
        }));
        return cmd;
    }

    static Command Loader()
    {
        var images = new Option<string>("--images") { Description = "Image source", Required = true };
        var proposals = new Option<string>("--proposals") { Description = "Proposal store (filtered)", Required = true };
        var recipe = new Option<string>("--recipe") { Description = "View recipe", DefaultValueFactory = _ => "fpn" };
        var workers = new Option<int>("--workers") { Description = "Loader threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var batch = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 64 };
        var limit = new Option<int>("--limit") { Description = "Stop after this many batches (0: the whole epoch)", DefaultValueFactory = _ => 0 };
        var trace = new Option<string?>("--trace") { Description = "CSV of the process's memory (RSS, GC heap, malloc) every --trace-every batches" };
        var traceEvery = new Option<int>("--trace-every") { Description = "Batches between two rows of --trace", DefaultValueFactory = _ => 4 };
        var json = JsonOption();
        var cmd = new Command("loader", "One loader epoch (decode, views, batches as tensors) over a source with its proposals: samples/s and memory")
            { images, proposals, recipe, workers, batch, limit, trace, traceEvery, json };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            Soco.Runtime.TorchRuntime.SetThreads(1);
            var total = Stopwatch.StartNew();
            using var source = ImageSources.Open(p.GetValue(images)!);
            double openS = total.Elapsed.TotalSeconds;
            var index = ProposalStore.Open(p.GetValue(proposals)!).LoadCompactIndex(source.Entries); // what pretraining holds
            double indexS = total.Elapsed.TotalSeconds - openS;
            Soco.Runtime.ManagedHeap.CompactAfterLoading(); // as pretraining does
            long indexRss = ReadStatusKb("VmRSS");
            int warnings = 0;
            var ds = new SocoDataset(source, index, ViewRecipe.ByName(p.GetValue(recipe)!), seed: 0, log: _ => Interlocked.Increment(ref warnings));
            var loader = new SocoLoader(ds, new EpochSampler(ds.Count, Math.Min(p.GetValue(batch), ds.Count), seed: 0), new LoaderOptions { Workers = p.GetValue(workers) });
            int samples = 0, batches = 0, limitB = p.GetValue(limit), every = Math.Max(1, p.GetValue(traceEvery));
            using var traceOut = p.GetValue(trace) is { } tracePath ? new StreamWriter(tracePath) : null;
            var sw = Stopwatch.StartNew();
            traceOut?.WriteLine("batch,seconds," + MemoryProbe.CsvHeader);
            traceOut?.WriteLine($"0,0.0,{MemoryProbe.Read().ToCsv()}");
            foreach (var b in loader.Epoch(0))
            {
                using (b) samples += b.Count;
                if (++batches % every == 0 && traceOut is not null)
                {
                    traceOut.WriteLine($"{batches},{sw.Elapsed.TotalSeconds.ToString("F2", Inv)},{MemoryProbe.Read().ToCsv()}");
                    traceOut.Flush();
                }
                if (batches == limitB) break;
            }
            double epochS = sw.Elapsed.TotalSeconds;
            // After the epoch's end (its workers joined, batches built ahead freed): whatever peak comes after the last
            // batch shows here (docs/scale.md, the 670 MB after --limit).
            traceOut?.WriteLine($"{batches}-end,{sw.Elapsed.TotalSeconds.ToString("F2", Inv)},{MemoryProbe.Read().ToCsv()}");
            var r = new Dictionary<string, object?>
            {
                ["images"] = ds.Count, ["samples"] = samples, ["batches"] = batches, ["open_seconds"] = openS, ["index_seconds"] = indexS,
                ["index_records"] = index.Count, ["rss_after_index_mb"] = indexRss / 1024.0, ["epoch_seconds"] = epochS,
                ["samples_per_second"] = samples / epochS, ["peak_rss_mb"] = PeakRssMb(), ["log_lines"] = warnings,
                ["missing_proposals"] = ds.MissingProposals,
            };
            Out.Text.WriteLine($"loader: {samples} samples in {epochSDisplay(epochS)} ({samples / epochS:F1} samples/s, {p.GetValue(workers)} workers); " +
                               $"proposal index {index.Count:N0} records in {indexS:F2} s; peak RSS {PeakRssMb():F0} MB; {warnings} log lines");
            BenchCommand.WriteJson(p.GetValue(json), r);
            traceOut?.WriteLine($"{batches}-exit,{sw.Elapsed.TotalSeconds.ToString("F2", Inv)},{MemoryProbe.Read().ToCsv()}");
            return 0;
        }));
        return cmd;

        static string epochSDisplay(double s) => s.ToString("F1", Inv) + " s";
    }

    static Command Replicate()
    {
        var from = new Option<string>("--from") { Description = "A store made by `soco proposals generate` on a smaller set", Required = true };
        var images = new Option<string>("--images") { Description = "The larger image source to make a store for", Required = true };
        var output = new Option<string>("--out") { Description = "New store folder", Required = true };
        var cmd = new Command("replicate",
            "Make a store for every image of --images by reusing the proposals of --from in turn (image i gets record i mod M, its rects scaled to image i's size): " +
            "the store, filter, export, loader and pretraining costs of a set too large for selective search on this machine")
            { from, images, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var src = ProposalStore.Open(p.GetValue(from)!);
            var records = src.ReadAll().Where(r => !r.IsFailure && r.Width > 0).ToList();
            if (records.Count == 0) throw new ArgumentException($"{src.Directory} holds no successful record with a size");
            using var source = ImageSources.Open(p.GetValue(images)!);
            var store = ProposalStore.OpenOrCreate(p.GetValue(output)!, src.Info with { CreatedBy = "soco bench scale replicate" });
            if (store.PartFiles().Length > 0) throw new ArgumentException($"{p.GetValue(output)} already holds proposals; use an empty folder");
            long rects = 0;
            int flushEvery = new GenerateOptions().FlushEvery;
            using (var writer = store.OpenWriter())
            {
                foreach (var e in source.Entries)
                {
                    var (_, w, h) = ImageDecoder.ReadInfo(source.ReadBytes(e), e.Location);
                    var r = records[e.Index % records.Count];
                    var mapped = ProposalGeneration.MapBack(r.Rects, r.Width, r.Height, w, h, src.Info.RectConvention);
                    writer.Add(new ProposalRecord(e.Key, e.Location, w, h, mapped));
                    rects += mapped.Length;
                    // Parts of 64 images, as `proposals generate` writes them.
                    if (writer.Buffered >= flushEvery) writer.Flush();
                }
            }
            Out.Ok($"{source.Entries.Count:N0} records ({rects:N0} proposals) from {records.Count:N0} generated ones → {p.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }

    static Command Repeat()
    {
        var from = new Option<string>("--from") { Description = "A proposal store", Required = true };
        var output = new Option<string>("--out") { Description = "New store folder", Required = true };
        var copies = new Option<int>("--copies") { Description = "How many times to write the records (keys get _0, _1, ... when more than once)", DefaultValueFactory = _ => 1 };
        var limit = new Option<int>("--limit") { Description = "Take only the first N records of --from", DefaultValueFactory = _ => int.MaxValue };
        var cmd = new Command("repeat",
            "Make a store of --copies × the first --limit records of --from, in parts of 64 as `proposals generate` writes them: stores of 10k or 1M " +
            "images for the filter and export stages without their images (bench/scale/stores)")
            { from, output, copies, limit };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var src = ProposalStore.Open(p.GetValue(from)!);
            int k = p.GetValue(copies), n = p.GetValue(limit);
            if (k < 1 || n < 1) throw new ArgumentException("--copies and --limit must be at least 1");
            var store = ProposalStore.OpenOrCreate(p.GetValue(output)!, src.Info with { CreatedBy = "soco bench scale repeat" });
            if (store.PartFiles().Length > 0) throw new ArgumentException($"{p.GetValue(output)} already holds proposals; use an empty folder");
            long written = 0;
            int flushEvery = new GenerateOptions().FlushEvery;
            using (var writer = store.OpenWriter())
                for (int c = 0; c < k; c++)
                    foreach (var r in src.ReadAll().Take(n))
                    {
                        writer.Add(k == 1 ? r : r with { Key = $"{r.Key}_{c}" });
                        written++;
                        if (writer.Buffered >= flushEvery) writer.Flush();
                    }
            Out.Ok($"{written:N0} records → {p.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>One measured stage of the run script (a line of stages.jsonl).</summary>
    /// <param name="CpuS">User + system seconds of the process (rows written before the script recorded it: null).</param>
    sealed record Stage(string Name, int N, int Images, double WallS, double PeakRssMb, long? StoreBytes, string Kind, JsonObject? Extra, double? CpuS = null);

    static Command Report()
    {
        var stages = new Option<string>("--stages") { Description = "stages.jsonl written by bench/scale/run", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for scale.json and scale.png", Required = true };
        var machine = new Option<string>("--machine") { Description = "Machine description for the JSON and the plot title", DefaultValueFactory = _ => "" };
        var cmd = new Command("report", "Table, JSON and PNG of wall time, images/s, peak RSS and store size against the number of images") { stages, output, machine };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var list = new List<Stage>();
            foreach (var line in File.ReadLines(p.GetValue(stages)!))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                var o = JsonNode.Parse(line)!.AsObject();
                list.Add(new Stage(o["stage"]!.GetValue<string>(), o["n"]!.GetValue<int>(), o["images"]!.GetValue<int>(), o["wall_s"]!.GetValue<double>(),
                    o["peak_rss_kb"]!.GetValue<double>() / 1024.0, o["store_bytes"]?.GetValue<long>(), o["kind"]?.GetValue<string>() ?? "measured",
                    o["extra"]?.AsObject(), o["cpu_s"]?.GetValue<double>()));
            }
            string outDir = p.GetValue(output)!;
            Directory.CreateDirectory(outDir);
            var result = Summarise(list, p.GetValue(machine)!);
            BenchCommand.WriteJson(Path.Combine(outDir, "scale.json"), result);
            Plot(list, Path.Combine(outDir, "scale.png"), $"bench/scale — {p.GetValue(machine)}");
            Out.Info($"wrote {Path.Combine(outDir, "scale.json")} and scale.png");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Prints the table and the goal checks; returns everything as one JSON-able object.</summary>
    static Dictionary<string, object?> Summarise(List<Stage> list, string machine)
    {
        Out.Text.WriteLine($"{"stage",-18} {"N",8} {"kind",-10} {"images",8} {"wall s",9} {"img/s",9} {"ms/img",8} {"CPU ms/img",10} {"peak RSS MB",11} {"store B/img",11}");
        var rows = new List<object>();
        foreach (var s in list.OrderBy(s => s.Name, StringComparer.Ordinal).ThenBy(s => s.N))
        {
            double ips = s.WallS > 0 ? s.Images / s.WallS : double.NaN;
            double? perImage = s.StoreBytes is { } b ? b / (double)s.N : null;
            double? cpuMs = s.CpuS is { } c ? 1e3 * c / s.Images : null;
            Out.Text.WriteLine($"{s.Name,-18} {s.N,8} {s.Kind,-10} {s.Images,8} {s.WallS,9:F2} {ips,9:F1} {1e3 / ips,8:F2} {(cpuMs is { } m ? m.ToString("F2", Inv) : "-"),10} {s.PeakRssMb,11:F0} {(perImage is { } v ? v.ToString("F0", Inv) : "-"),11}");
            rows.Add(new { stage = s.Name, n = s.N, kind = s.Kind, images = s.Images, wall_s = s.WallS, images_per_s = ips, ms_per_image = 1e3 / ips,
                cpu_s = s.CpuS, cpu_ms_per_image = cpuMs, peak_rss_mb = s.PeakRssMb, store_bytes = s.StoreBytes, store_bytes_per_image = perImage, extra = s.Extra });
        }
        // Per stage: the per-image cost and the peak memory at the largest N against the smallest, and a fit
        // wall = fixed + per_image × images separating start-up from the cost that grows; the same for CPU time (user +
        // system), which the load of other processes inflates far less than wall time, where every row has it.
        var checks = new List<object>();
        Out.Text.WriteLine("");
        Out.Text.WriteLine($"{"stage",-18} {"N small→large",16} {"ms/img ratio",12} {"fit: fixed s + ms/img",22} {"CPU ratio",9} {"CPU fit: s + ms/img",20} {"RSS ratio",9}");
        foreach (var g in list.GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var byN = g.OrderBy(s => s.N).ToList();
            if (byN.Count < 2) continue;
            var (a, z) = (byN[0], byN[^1]);
            double costRatio = (z.WallS / z.Images) / (a.WallS / a.Images);
            double rssRatio = z.PeakRssMb / a.PeakRssMb;
            var (fixedS, slope) = Fit(byN.Select(s => ((double)s.Images, s.WallS)).ToList());
            bool cpu = byN.All(s => s.CpuS is not null);
            double? cpuRatio = cpu ? (z.CpuS!.Value / z.Images) / (a.CpuS!.Value / a.Images) : null;
            var (cpuFixedS, cpuSlope) = cpu ? Fit(byN.Select(s => ((double)s.Images, s.CpuS!.Value)).ToList()) : (double.NaN, double.NaN);
            Out.Text.WriteLine($"{g.Key,-18} {$"{a.N}→{z.N}",16} {costRatio,12:F3} {$"{fixedS:F2} + {slope * 1e3:F3}",22} " +
                               $"{(cpu ? cpuRatio!.Value.ToString("F3", Inv) : "-"),9} {(cpu ? $"{cpuFixedS:F2} + {cpuSlope * 1e3:F3}" : "-"),20} {rssRatio,9:F3}");
            checks.Add(new { stage = g.Key, n_small = a.N, n_large = z.N, kinds = $"{a.Kind}→{z.Kind}", cost_per_image_ratio = costRatio,
                fit_fixed_s = fixedS, fit_ms_per_image = slope * 1e3, cpu_per_image_ratio = cpuRatio,
                cpu_fit_fixed_s = cpu ? cpuFixedS : (double?)null, cpu_fit_ms_per_image = cpu ? cpuSlope * 1e3 : (double?)null, peak_rss_ratio = rssRatio,
                time_linear_goal_met = costRatio <= 1.10, rss_flat_goal_met = rssRatio <= 1.10 });
        }
        return new Dictionary<string, object?> { ["machine"] = machine, ["stages"] = rows, ["checks"] = checks };
    }

    static (double Fixed, double Slope) Fit(List<(double X, double Y)> pts)
    {
        double mx = pts.Average(t => t.X), my = pts.Average(t => t.Y);
        double sxx = pts.Sum(t => (t.X - mx) * (t.X - mx)), sxy = pts.Sum(t => (t.X - mx) * (t.Y - my));
        double slope = sxx > 0 ? sxy / sxx : 0;
        return (my - slope * mx, slope);
    }

    static readonly SKColor[] Palette =
        [new(30, 80, 170), new(200, 120, 30), new(60, 130, 60), new(150, 40, 120), new(0, 150, 160), new(120, 120, 120), new(200, 40, 40), new(90, 60, 20)];

    /// <summary>Four panels against N (log10 of the image count on x): wall s, images/s, peak RSS MB, store bytes per image.</summary>
    static void Plot(List<Stage> list, string path, string title)
    {
        const int w = 1100, panelH = 240, pad = 46, top = 56;
        var names = list.Select(s => s.Name).Distinct().Order(StringComparer.Ordinal).ToList();
        int h = top + 4 * (panelH + pad) + 10;
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var c = new SKCanvas(bmp))
        {
            c.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 13);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            c.DrawText(title + "  (x: log10 of the number of images)", 10, 20, font, ink);
            for (int k = 0; k < names.Count; k++)
            {
                using var fill = new SKPaint { Color = Palette[k % Palette.Length], Style = SKPaintStyle.Fill };
                float lx = 10 + k * 135;
                c.DrawRect(new SKRect(lx, 30, lx + 12, 42), fill);
                c.DrawText(names[k], lx + 16, 41, font, ink);
            }
            (string Label, Func<Stage, double> Y)[] panels =
            [
                ("wall time, s (log10)", s => Math.Log10(Math.Max(1e-3, s.WallS))),
                ("images/s (log10)", s => Math.Log10(Math.Max(1e-3, s.Images / s.WallS))),
                ("peak RSS, MB", s => s.PeakRssMb),
                ("output bytes per image (log10): stores, JSON, JPEGs", s => s.StoreBytes is { } b ? Math.Log10(Math.Max(1, b / (double)s.N)) : double.NaN),
            ];
            for (int i = 0; i < panels.Length; i++)
            {
                var area = new SKRect(70, top + 10 + i * (panelH + pad), w - 20, top + 10 + i * (panelH + pad) + panelH);
                var series = names.Select((n, k) =>
                {
                    var pts = list.Where(s => s.Name == n).OrderBy(s => s.N).ToList();
                    return (X: pts.Select(s => Math.Log10(s.N)).ToArray(), Y: pts.Select(panels[i].Y).ToArray(), Color: Palette[k % Palette.Length]);
                }).Where(s => s.Y.Any(double.IsFinite)).ToList();
                CurvePlot.Panel(c, font, area, series.Select(s => (s.X, s.Y, s.Color)).ToList(), panels[i].Label, markers: true);
            }
        }
        Drawing.SavePng(bmp, path);
    }
}
