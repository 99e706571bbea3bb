using System.CommandLine;
using SkiaSharp;
using Soco.Data;
using Soco.Imaging;
using Soco.Proposals;
using Spectre.Console;

namespace Soco.Cli.Commands;

public static partial class ProposalsCommands
{
    static Option<string> ModeOption() => new Option<string>("--mode")
    {
        Description = "soco (SoCo's released algorithm) | fast | quality (OpenCV's presets)",
        DefaultValueFactory = _ => "soco",
    }.AcceptOnlyFromAmong(ProposalModes.Names);

    static Command Generate()
    {
        var images = new Option<string>("--images") { Description = "Folder (recursive), train.zip (+ train_map.txt) or x.zip:map.txt, or a list file", Required = true };
        var output = new Option<string>("--out") { Description = "Proposal store folder (created, or resumed)", Required = true };
        var mode = ModeOption();
        var workers = new Option<int>("--workers") { Description = "Worker threads, one image each (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var shard = new Option<string>("--shard") { Description = "i/n: process every n-th image starting at i (split across machines); auto: i and n from the launcher (mpirun, srun), --out then needs {rank}", DefaultValueFactory = _ => "0/1" };
        var maxSide = new Option<int>("--max-side") { Description = "Downscale images whose longer side exceeds N before searching (0: never); boxes map back", DefaultValueFactory = _ => 0 };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Refuse images with more pixels than this", DefaultValueFactory = _ => DecodeOptions.DefaultMaxPixels };
        var minSide = new Option<int>("--min-side") { Description = "Refuse images with a side shorter than this", DefaultValueFactory = _ => ProposalPipeline.DefaultDecode.MinSide };
        var exif = new Option<bool>("--apply-exif") { Description = "Apply EXIF orientation (the official code ignores it)" };
        var retry = new Option<bool>("--retry-failed") { Description = "Retry images that failed in an earlier run" };
        var fixHsv = new Option<bool>("--fix-hsv") { Description = "soco mode: HSV histograms in the right ranges (official: H, S land in one bin)" };
        var adjacency = new Option<bool>("--adjacency") { Description = "soco mode: true region adjacency (official: a corner of one bbox inside the other)" };
        var flushEvery = new Option<int>("--flush-every") { Description = "Write a part after this many images (also every 15 s)", DefaultValueFactory = _ => 64 };
        var strict = new Option<bool>("--strict") { Description = "Exit with code 3 when any image failed (by default failures are recorded and the exit code is 0)" };
        var profile = new Option<bool>("--profile") { Description = "Also print where the time went (decode, search, waiting on the writer, GC, allocation) as one JSON line" };
        var cmd = new Command("generate", "Run selective search on every image into a resumable proposal store")
            { images, output, mode, workers, shard, maxSide, maxPixels, minSide, exif, retry, fixHsv, adjacency, flushEvery, strict, profile };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var (si, sn) = ParseShard(p.GetValue(shard)!);
            string store = ShardStore(p.GetValue(output)!, si, sn, p.GetValue(shard) == "auto");
            var request = new ProposalPipeline.Request(p.GetValue(images)!, store, p.GetValue(mode)!)
            {
                Switches = new SearchSwitches(p.GetValue(fixHsv), p.GetValue(adjacency)),
                Options = new GenerateOptions
                {
                    Workers = p.GetValue(workers), ShardIndex = si, ShardCount = sn, MaxSide = p.GetValue(maxSide),
                    RetryFailed = p.GetValue(retry), FlushEvery = p.GetValue(flushEvery),
                },
                Decode = new DecodeOptions { ApplyExifOrientation = p.GetValue(exif), MaxPixels = p.GetValue(maxPixels), MinSide = p.GetValue(minSide) },
            };
            var s = RunGenerate(request);
            if (p.GetValue(profile) && s.Profile is { } prof)
                Out.Info("profile " + System.Text.Json.JsonSerializer.Serialize(prof));
            if (Stopped != 0) return Stopped;
            int failedImages = StoreFailures(request.Store);
            return p.GetValue(strict) && failedImages > 0 ? 3 : 0;
        }));
        return cmd;
    }

    internal static (int, int) ParseShard(string s)
    {
        if (s == "auto")
        {
            // The launcher's rank and world size (docs/distributed.md §Launchers); PMIx alone gives no size, MPI does.
            var env = Soco.Distributed.LaunchEnvironment.Detect();
            if (env.WorldSize > 0) return (env.Rank, env.WorldSize);
            var g = Soco.Distributed.ProcessGroup.World;
            return (g.Rank, g.WorldSize);
        }
        var parts = s.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n) || n < 1 || i < 0 || i >= n)
            throw new ArgumentException($"--shard must be i/n with 0 ≤ i < n (e.g. 0/4), got '{s}'");
        return (i, n);
    }

    /// <summary>
    /// The store a shard writes: one writer per store, so the shards of one launch each need their own folder —
    /// <c>{rank}</c> in --out becomes the shard index (merge them by copying their <c>parts/</c> folders together).
    /// </summary>
    internal static string ShardStore(string output, int index, int count, bool auto)
    {
        if (output.Contains("{rank}", StringComparison.Ordinal)) return output.Replace("{rank}", index.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (auto && count > 1)
            throw new ArgumentException($"--shard auto gives this process shard {index} of {count}: each shard writes its own store, so --out must contain {{rank}} (e.g. {output}-{{rank}}); got '{output}'");
        return output;
    }

    /// <summary>Runs generation with a progress bar, a stop signal (Ctrl+C, SIGTERM, SIGHUP) saving finished work, and a summary table.</summary>
    internal static GenerateSummary RunGenerate(ProposalPipeline.Request request)
    {
        using var signals = new StopSignals("finishing the images in flight and saving them (run the same command again to resume)");
        using var plan = ProposalPipeline.Prepare(request);
        Out.Info($"proposals ({request.Mode}) → {request.Store}: {plan.InShard} image(s) in this shard, {plan.Skipped} already done, " +
                 $"{plan.Todo.Count} to process with {Math.Min(request.Options.Workers, Math.Max(plan.Todo.Count, 1))} worker(s)");
        var failures = new List<ProposalRecord>();
        var summary = Out.WithProgress("selective search", plan.Todo.Count + plan.SourceFailures.Count, tick => plan.Run(r =>
        {
            if (r.IsFailure)
            {
                failures.Add(r);
                Out.Warn($"{r.Location}: {r.FailureReason} (recorded, skipped)");
            }
            tick(1, null);
        }, signals.Token));
        PrintSummary(summary, failures);
        Stopped = signals.Token.IsCancellationRequested ? signals.ExitCode : 0;
        return summary;
    }

    /// <summary>Exit code of the last <see cref="RunGenerate"/> when a signal stopped it (0: it ran to the end).</summary>
    internal static int Stopped { get; private set; }

    static void PrintSummary(GenerateSummary s, List<ProposalRecord> failures)
    {
        var t = new Table().AddColumns("in shard", "done now", "skipped (already in store)", "failed now", "proposals", "time", "images/s");
        t.AddRow(s.InShard.ToString(), s.Done.ToString(), s.Skipped.ToString(), s.Failed.ToString(), s.Proposals.ToString(),
            $"{s.Elapsed.TotalSeconds:F1} s", $"{s.ImagesPerSecond:F2}");
        Out.Ansi.Write(t);
    }

    /// <summary>Failed images the store records (this run's and earlier ones'), printed as the last line so scripts can read it.</summary>
    static int StoreFailures(string store)
    {
        int n = ProposalStore.Open(store).CountFailures();
        Console.Out.WriteLine($"failed images in {store}: {n}" + (n > 0 ? " (soco proposals info lists them; --retry-failed retries them)" : ""));
        return n;
    }
}
