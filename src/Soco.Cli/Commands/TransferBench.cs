using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Soco.Data.Scenes;
using Soco.Evaluation;
using Soco.Imaging;
using Soco.Interop;
using Soco.IO;
using Soco.Training;

namespace Soco.Cli.Commands;

/// <summary>
/// `soco bench transfer` (bench/transfer/run): does pretraining pay on this machine? For each seed and arm (none,
/// supervised, BYOL, SoCo FPN): pretrain on the unlabelled scenes, fine-tune the same detector on the labelled split,
/// evaluate on the held-out split; then a table of AP/AP50/AP75/APs (mean ± std over seeds) with stage wall times, a
/// JSON of every number and a bar chart. Design, budgets and why: docs/transfer-benchmark.md.
/// </summary>
public static class TransferBench
{
    public static readonly string[] Arms = ["none", "supervised", "byol", "soco"];
    static readonly string[] Metrics = ["AP", "AP50", "AP75", "APs"];
    /// <summary>Arms run only when named in --arms: the SoCo arm pretrained in bf16 (precision=bf16; fine-tuning stays fp32), for
    /// the transfer AP of a bf16 pretraining beside fp32's (docs/transfer-benchmark.md).</summary>
    public static readonly string[] ExtraArms = ["soco-bf16"];
    static readonly string[] ExecutionOrder = ["none", "soco", "byol", "supervised", "soco-bf16"];
    static bool IsSoco(string arm) => arm is "soco" or "soco-bf16";

    /// <summary>The sizes of one benchmark (scale 1 is the full run designed for about an hour on 2 cores).</summary>
    public sealed record Plan(int PretrainScenes, int FinetuneScenes, int EvalScenes, int PretrainEpochs, long FinetuneIters, int[] Seeds, double Scale, bool Quick)
    {
        /// <summary>"items" (default): fine-tune and evaluate one class-agnostic category; "fashion": Fashion-MNIST's ten
        /// (docs/transfer-benchmark.md §Fine-tuning says why items is the default).</summary>
        public string Classes { get; init; } = "items";

        public static Plan For(bool quick, double scale, int? seeds)
        {
            var p = quick ? new Plan(16, 4, 4, 2, 8, [0, 1], scale, true) : new Plan(1200, 160, 240, 8, 600, [0, 1, 2], scale, false);
            int S(int n) => Math.Max(1, (int)Math.Round(n * scale));
            return p with
            {
                PretrainScenes = S(p.PretrainScenes), FinetuneScenes = S(p.FinetuneScenes), EvalScenes = S(p.EvalScenes),
                FinetuneIters = Math.Max(1, (long)Math.Round(p.FinetuneIters * scale)),
                Seeds = seeds is int n ? Enumerable.Range(0, n).ToArray() : p.Seeds,
            };
        }
    }

    public static Command Build()
    {
        var quick = new Option<bool>("--quick") { Description = "A few-minute version (checks the pipeline end to end, not the ranking)" };
        var scale = new Option<double>("--scale") { Description = "Multiply the data (scene counts) and the budgets (pretraining steps follow the data; fine-tuning iterations) by k", DefaultValueFactory = _ => 1.0 };
        var seeds = new Option<int?>("--seeds") { Description = "Number of seeds (default 3; 2 with --quick)" };
        var arms = new Option<string[]>("--arms") { Description = "Arms to run (default: none supervised byol soco)", AllowMultipleArgumentsPerToken = true };
        var source = new Option<string>("--source") { Description = "Fashion-MNIST IDX folder", DefaultValueFactory = _ => FashionMnist.DefaultFolder };
        var backgrounds = new Option<string?>("--backgrounds") { Description = "Background photos (default: the repository's samples/photos)" };
        var output = new Option<string>("--out") { Description = "Output folder (scenes, runs, results.json, results.md, results.png); a rerun reuses finished stages", DefaultValueFactory = _ => Path.Combine("runs", "transfer") };
        var threads = new Option<int>("--threads") { Description = "Torch threads per stage", DefaultValueFactory = _ => 1 };
        var jobs = new Option<int>("--jobs") { Description = "(arm, seed) pipelines run at once, each in its own process (default 1)", DefaultValueFactory = _ => 1 };
        var classes = new Option<string>("--classes") { Description = "Detection task: items (one class-agnostic category) or fashion (Fashion-MNIST's ten classes)", DefaultValueFactory = _ => "items" };
        var ftIters = new Option<long?>("--finetune-iters") { Description = "Fine-tuning iterations (default 600 × --scale; 8 with --quick)" };
        var only = new Option<string?>("--only") { Description = "Run one pipeline, arm:seed (what --jobs starts; scenes and proposals must exist)", Hidden = true };
        var cmd = new Command("transfer", "Transfer benchmark: none / supervised / BYOL / SoCo pretraining → the same detector fine-tuned on labelled scenes → AP on held-out scenes (mean ± std over seeds)")
            { quick, scale, seeds, arms, source, backgrounds, output, threads, jobs, classes, ftIters, only };
        cmd.SetAction(p => SocoCli.Guard(() => PretrainCommand.Checked(() =>
        {
            var armList = p.GetValue(arms) is { Length: > 0 } a ? a : Arms;
            foreach (var x in armList) if (!Arms.Contains(x) && !ExtraArms.Contains(x)) throw new ArgumentException($"--arms: unknown arm '{x}'; arms: {string.Join(", ", Arms.Concat(ExtraArms))}");
            double k = p.GetValue(scale);
            if (!(k > 0)) throw new ArgumentException("--scale must be > 0");
            string bg = p.GetValue(backgrounds) ?? RepoPath("samples", "photos");
            var inv = CultureInfo.InvariantCulture;
            List<string> child = ["--scale", k.ToString("R", inv), "--source", p.GetValue(source)!, "--backgrounds", bg, "--out", p.GetValue(output)!,
                "--threads", p.GetValue(threads).ToString(inv), "--arms", .. armList];
            if (p.GetValue(quick)) child.Add("--quick");
            if (p.GetValue(seeds) is int n) child.AddRange(["--seeds", n.ToString(inv)]);
            if (p.GetValue(jobs) < 1) throw new ArgumentException("--jobs must be ≥ 1");
            string task = p.GetValue(classes)!;
            if (task is not ("items" or "fashion")) throw new ArgumentException($"--classes must be items or fashion (got '{task}')");
            child.AddRange(["--classes", task]);
            var plan = Plan.For(p.GetValue(quick), k, p.GetValue(seeds)) with { Classes = task };
            if (p.GetValue(ftIters) is long fi)
            {
                if (fi < 1) throw new ArgumentException("--finetune-iters must be ≥ 1");
                plan = plan with { FinetuneIters = fi };
                child.AddRange(["--finetune-iters", fi.ToString(inv)]);
            }
            return Run(plan, armList, p.GetValue(source)!, bg, p.GetValue(output)!, p.GetValue(threads),
                p.GetValue(jobs), p.GetValue(only), child);
        })));
        return cmd;
    }

    static string RepoPath(params string[] parts)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Soco.slnx")) && Path.Combine([d.FullName, .. parts]) is var p && (Directory.Exists(p) || File.Exists(p)))
                    return p;
        throw new DirectoryNotFoundException($"{Path.Combine(parts)} not found: run from the repository");
    }

    /// <summary>One stage run through the CLI exactly as a user would type it; its wall time; a failure stops the benchmark.</summary>
    static double Stage(List<string> log, params string[] args)
    {
        string line = "soco " + string.Join(" ", args.Select(a => a.Contains(' ') ? $"'{a}'" : a));
        log.Add(line);
        Out.Info("$ " + line);
        var sw = Stopwatch.StartNew();
        int rc = SocoCli.Run(args);
        if (rc != 0) throw new InvalidOperationException($"stage failed (exit {rc}): {line}");
        return sw.Elapsed.TotalSeconds;
    }

    public static int Run(Plan plan, IReadOnlyList<string> arms, string source, string backgrounds, string outDir, int threads, int jobs = 1,
        string? only = null, IReadOnlyList<string>? childArgs = null)
    {
        childArgs ??= [];
        var total = Stopwatch.StartNew();
        var commands = new List<string>();
        Directory.CreateDirectory(outDir);
        string scenes = Path.Combine(outDir, "scenes");
        string pretrainCfg = RepoPath("bench", "transfer", plan.Quick ? "pretrain_quick.json" : "pretrain.json");
        string finetuneCfg = RepoPath("bench", "transfer", "finetune.json");
        var timings = new JsonObject();
        string t = threads.ToString(CultureInfo.InvariantCulture);

        if (only is null) timings["scenes_s"] = Stage(commands, "data", "scenes", "--source", source, "--backgrounds", backgrounds, "--seed", "0",
            "--count", Str(plan.PretrainScenes), "--finetune-count", Str(plan.FinetuneScenes), "--eval-count", Str(plan.EvalScenes), "--out", scenes);
        if (only is null) { TaskAnnotations(plan, scenes, "finetune"); TaskAnnotations(plan, scenes, "eval"); }
        string preImages = Path.Combine(scenes, "pretrain", SceneSet.ImagesFolder);
        string props = Path.Combine(outDir, "proposals");
        if (arms.Any(IsSoco) && only is null)
        {
            // Selective search once for all seeds: it depends on the images only.
            timings["proposals_s"] = Stage(commands, "proposals", "generate", "--images", preImages, "--out", Path.Combine(props, "raw"), "--mode", "soco", "--workers", "2")
                + Stage(commands, "proposals", "filter", "--store", Path.Combine(props, "raw"), "--out", Path.Combine(props, "filtered"), "--strategy", ProposalStrategy, "--force");
        }

        // Most telling first (the goal is SoCo > BYOL > none): none, soco, byol, supervised within each seed.
        var pending = plan.Seeds.SelectMany(seed => arms.OrderBy(a => Array.IndexOf(ExecutionOrder, a)).Select(arm => (Arm: arm, Seed: seed)))
            .Where(r => only is null || only == $"{r.Arm}:{r.Seed}").ToList();
        if (only is not null && pending.Count == 0) throw new ArgumentException($"--only {only}: no such arm:seed in this plan");
        string RowFile((string Arm, int Seed) r) => Path.Combine(outDir, "runs", $"{r.Arm}-seed{r.Seed}", RowFileName);
        if (jobs <= 1 || only is not null)
        {
            foreach (var r in pending)
            {
                if (!File.Exists(RowFile(r))) RunOne(plan, r.Arm, r.Seed, outDir, scenes, props, pretrainCfg, finetuneCfg, t, commands);
                if (only is null) Report(plan, arms, outDir, timings, commands, total.Elapsed.TotalSeconds);
            }
            if (only is not null) return 0;
        }
        else
        {
            // Each (arm, seed) pipeline in its own process (TorchSharp's seed and thread settings are process-wide), at most
            // `jobs` at once; each writes its row, the report is rebuilt as they finish.
            string dll = typeof(SocoCli).Assembly.Location;
            var queue = new Queue<(string Arm, int Seed)>(pending.Where(r => !File.Exists(RowFile(r))));
            var running = new List<(Process P, (string Arm, int Seed) R)>();
            while (queue.Count > 0 || running.Count > 0)
            {
                while (running.Count < jobs && queue.Count > 0)
                {
                    var r = queue.Dequeue();
                    string log = Path.Combine(outDir, "runs", $"{r.Arm}-seed{r.Seed}.log");
                    Directory.CreateDirectory(Path.GetDirectoryName(log)!);
                    var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
                    string Q(string a) => "'" + a.Replace("'", "'\\''") + "'";
                    psi.ArgumentList.Add("-c");
                    psi.ArgumentList.Add($"exec {Q(Environment.ProcessPath ?? "dotnet")} {Q(dll)} bench transfer {string.Join(" ", childArgs.Select(Q))} --only {r.Arm}:{r.Seed} > {Q(log)} 2>&1");
                    Out.Info($"started {r.Arm} seed {r.Seed} (log {log})");
                    running.Add((Process.Start(psi)!, r));
                }
                Thread.Sleep(2000);
                foreach (var done in running.Where(x => x.P.HasExited).ToList())
                {
                    running.Remove(done);
                    if (done.P.ExitCode != 0 || !File.Exists(RowFile(done.R)))
                        Out.Warn($"{done.R.Arm} seed {done.R.Seed} failed (exit {done.P.ExitCode}); see {Path.Combine(outDir, "runs", $"{done.R.Arm}-seed{done.R.Seed}.log")}");
                    Report(plan, arms, outDir, timings, commands, total.Elapsed.TotalSeconds);
                }
            }
        }
        Report(plan, arms, outDir, timings, commands, total.Elapsed.TotalSeconds);
        Out.Info(File.ReadAllText(Path.Combine(outDir, "results.md")));
        Out.Ok($"transfer benchmark finished in {total.Elapsed.TotalMinutes:F1} min: {outDir}/results.json, results.md, results.png");
        return 0;
    }

    const string RowFileName = "row.json";

    /// <summary>Pretrain (per arm) → fine-tune → evaluate for one seed; writes the run's row (every number and stage time).</summary>
    static void RunOne(Plan plan, string arm, int seed, string outDir, string scenes, string props, string pretrainCfg, string finetuneCfg, string t, List<string> commands)
    {
        string preImages = Path.Combine(scenes, "pretrain", SceneSet.ImagesFolder);
        string ftJson = TaskAnnotations(plan, scenes, "finetune"), ftImages = Path.Combine(scenes, "finetune", SceneSet.ImagesFolder);
        string evJson = TaskAnnotations(plan, scenes, "eval"), evImages = Path.Combine(scenes, "eval", SceneSet.ImagesFolder);
        string dir = Path.Combine(outDir, "runs", $"{arm}-seed{seed}");
        var cmds = new List<string>();
        double pre = 0;
        string init = "none";
        switch (arm)
        {
            case "supervised":
            {
                string sup = Path.Combine(dir, "pretrain");
                string backbone = Path.Combine(sup, SupervisedPretraining.BackboneFile);
                var sw = Stopwatch.StartNew();
                if (!File.Exists(backbone))
                {
                    var cfg = PretrainConfigs.Load(pretrainCfg, [$"seed={seed}"]);
                    Out.Info($"$ (library) supervised pretraining, config {pretrainCfg} seed={seed} → {sup}");
                    cmds.Add($"(library) SupervisedPretraining.Run(config {Path.GetFileName(pretrainCfg)} seed={seed}, scenes {scenes}) → {sup}");
                    var r = SupervisedPretraining.Run(cfg, scenes, sup, int.Parse(t, CultureInfo.InvariantCulture), Out.Info);
                    Out.Info(string.Create(CultureInfo.InvariantCulture, $"supervised: {r.Steps} steps × {r.BatchSize} images, loss {r.FirstLoss:F3} → {r.LastLoss:F3}, last batch accuracy {r.LastAccuracy:F3}; {r.ValidationItems} held-out items: cross-entropy {r.ValidationLoss:F3}, accuracy {r.ValidationAccuracy:F3}"));
                }
                pre = sw.Elapsed.TotalSeconds;
                init = backbone;
                break;
            }
            case "byol":
            case "soco":
            case "soco-bf16":
            {
                string run = Path.Combine(dir, "pretrain");
                List<string> args = ["pretrain", "--config", pretrainCfg, "--set", $"seed={seed}", "--images", preImages, "--out", run, "--threads", t, "--workers", "2"];
                if (arm == "byol") args.InsertRange(3, ["--set", "model=byol"]);
                else args.InsertRange(args.IndexOf("--out"), ["--proposals", Path.Combine(props, "filtered")]);
                if (arm == "soco-bf16") args.InsertRange(3, ["--set", "precision=bf16"]);
                pre = Stage(cmds, [.. args]);
                // BYOL has no FPN or head to give: its backbone goes over as a torchvision ResNet, as the supervised one does.
                // SoCo gives backbone, FPN and box head (docs/transfer-benchmark.md §Arms).
                init = IsSoco(arm) ? run : ExportBackbone(run);
                break;
            }
        }
        string ft = Path.Combine(dir, "finetune");
        double ftSeconds = Stage(cmds, "finetune", "--config", finetuneCfg, "--set", $"seed={seed}", "--set", $"max_iter={plan.FinetuneIters}",
            "--set", $"steps=[{plan.FinetuneIters * 3 / 4},{plan.FinetuneIters * 11 / 12}]", "--init", init,
            "--train", ftJson, "--train-images", ftImages, "--out", ft, "--threads", t);
        string metrics = Path.Combine(dir, "eval.json");
        double evSeconds = Stage(cmds, "evaluate", "--checkpoint", Path.Combine(ft, FinetuneRun.ModelFileName), "--data", evJson, "--images", evImages, "--out", metrics);
        var m = JsonNode.Parse(File.ReadAllText(metrics))!;
        var row = new JsonObject { ["arm"] = arm, ["seed"] = seed, ["pretrain_s"] = pre, ["finetune_s"] = ftSeconds, ["evaluate_s"] = evSeconds };
        foreach (var key in new[] { "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100" }) row[key] = m[key]!.GetValue<double>();
        // The supervised arm's classifier on its held-out pretraining items: did the pretraining learn its labels?
        if (arm == "supervised" && Path.Combine(dir, "pretrain", SupervisedPretraining.ResultFile) is var sj && File.Exists(sj))
            row["pretrain_result"] = JsonNode.Parse(File.ReadAllText(sj));
        row["commands"] = new JsonArray(cmds.Select(c => (JsonNode)c).ToArray());
        commands.AddRange(cmds);
        AtomicFile.WriteAllText(Path.Combine(dir, RowFileName), row.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Out.Ok(string.Create(CultureInfo.InvariantCulture, $"{arm} seed {seed}: AP {row["AP"]!.GetValue<double>() * 100:F2} AP50 {row["AP50"]!.GetValue<double>() * 100:F2} (pretrain {pre:F0} s, fine-tune {ftSeconds:F0} s, evaluate {evSeconds:F0} s)"));
    }

    /// <summary>The annotations a split is fine-tuned or evaluated on: the scenes' own (ten classes), or for the "items" task a
    /// copy with every item in one category "item" (written once, atomically, next to the original).</summary>
    static string TaskAnnotations(Plan plan, string scenes, string split)
    {
        string original = Path.Combine(scenes, split, SceneSet.AnnotationsFile);
        if (plan.Classes == "fashion") return original;
        string merged = Path.Combine(scenes, split, "instances_items.json");
        if (File.Exists(merged) && File.GetLastWriteTimeUtc(merged) >= File.GetLastWriteTimeUtc(original)) return merged;
        var doc = JsonNode.Parse(File.ReadAllText(original)) as JsonObject ?? throw new InvalidDataException($"{original}: not a JSON object");
        doc["categories"] = new JsonArray(new JsonObject { ["id"] = 1, ["name"] = "item", ["supercategory"] = "item" });
        foreach (var a in doc["annotations"] as JsonArray ?? throw new InvalidDataException($"{original}: no annotations array"))
            a!["category_id"] = 1;
        AtomicFile.WriteAllText(merged, doc.ToJsonString());
        return merged;
    }

    /// <summary>The proposal filter of the SoCo arm (docs/transfer-benchmark.md §Proposals).</summary>
    public const string ProposalStrategy = "ratio3size0205post";

    static string Str(long v) => v.ToString(CultureInfo.InvariantCulture);

    static string ExportBackbone(string run)
    {
        using var store = new CheckpointStore(run, int.MaxValue).LoadLatest() ?? throw new InvalidDataException($"{run}: no checkpoint");
        var state = store.Section(Checkpoint.ModelPrefix).ToDictionary(kv => kv.Key, kv => kv.Value);
        string path = Path.Combine(run, SupervisedPretraining.BackboneFile);
        ModelExport.Write(state, ExportFormat.PyTorch, path);
        return path;
    }

    /// <summary>Writes results.json (every number), results.md (the table) and results.png (bars with ±1 std) from the runs so far.</summary>
    static void Report(Plan plan, IReadOnlyList<string> arms, string outDir, JsonObject timings, List<string> commands, double seconds)
    {
        var runs = new JsonArray();
        foreach (int seed in plan.Seeds)
            foreach (var arm in arms)
                if (Path.Combine(outDir, "runs", $"{arm}-seed{seed}", RowFileName) is var f && File.Exists(f))
                    runs.Add(JsonNode.Parse(File.ReadAllText(f)));
        var summary = new JsonObject();
        var table = new List<string>
        {
            "| arm | seeds | AP | AP50 | AP75 | APs | pretrain s | fine-tune s | evaluate s |",
            "|---|---|---|---|---|---|---|---|---|",
        };
        var bars = new List<(string Arm, double[] Mean, double[] Std)>();
        foreach (var arm in arms)
        {
            var rows = runs.Where(r => r!["arm"]!.GetValue<string>() == arm).ToList();
            if (rows.Count == 0) continue;
            var entry = new JsonObject { ["seeds"] = rows.Count };
            var cells = new List<string> { arm, rows.Count.ToString(CultureInfo.InvariantCulture) };
            var mean = new double[Metrics.Length];
            var std = new double[Metrics.Length];
            for (int i = 0; i < Metrics.Length; i++)
            {
                var v = rows.Select(r => 100 * r![Metrics[i]]!.GetValue<double>()).ToArray();
                (mean[i], std[i]) = MeanStd(v);
                entry[Metrics[i]] = new JsonObject { ["mean"] = mean[i], ["std"] = std[i], ["values"] = new JsonArray(v.Select(x => (JsonNode)x).ToArray()) };
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{mean[i]:F2} ± {std[i]:F2}"));
            }
            foreach (var stage in new[] { "pretrain_s", "finetune_s", "evaluate_s" })
            {
                var (m, _) = MeanStd(rows.Select(r => r![stage]!.GetValue<double>()).ToArray());
                entry[stage] = m;
                cells.Add(arm == "none" && stage == "pretrain_s" ? "–" : string.Create(CultureInfo.InvariantCulture, $"{m:F0}"));
            }
            summary[arm] = entry;
            table.Add("| " + string.Join(" | ", cells) + " |");
            bars.Add((arm, mean, std));
        }
        table.Add("");
        table.Add(plan.Classes == "items"
            ? "AP in percent (COCO box AP on the held-out scenes, one class-agnostic category \"item\"), mean ± sample std over seeds; wall seconds per stage (mean)."
            : "AP in percent (COCO box AP on the held-out scenes, Fashion-MNIST's ten classes), mean ± sample std over seeds; wall seconds per stage (mean).");
        var doc = new JsonObject
        {
            ["plan"] = JsonSerializer.SerializeToNode(plan),
            ["machine"] = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, load average {LoadAverage()}",
            ["finished_utc"] = DateTime.UtcNow.ToString("O"),
            ["total_s"] = seconds,
            ["shared_stages_s"] = timings.DeepClone(),
            ["summary"] = summary,
            ["runs"] = runs.DeepClone(),
            ["shared_commands"] = new JsonArray(commands.Select(c => (JsonNode)c).ToArray()),
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.md"), string.Join("\n", table) + "\n");
        BarChart.Save(Path.Combine(outDir, "results.png"), $"transfer benchmark ({plan.Classes}): box AP on held-out scenes (mean ± std over {plan.Seeds.Length} seeds, scale {plan.Scale})", Metrics, bars);
    }

    static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    /// <summary>Mean and sample standard deviation (n − 1; 0 for one value).</summary>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> v)
    {
        if (v.Count == 0) return (double.NaN, double.NaN);
        double m = v.Average();
        return (m, v.Count > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1)) : 0);
    }
}
