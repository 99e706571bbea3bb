using System.CommandLine;
using System.Diagnostics;
using Soco.Imaging;
using Soco.Interop;
using Soco.Proposals;
using Soco.Training;
using Spectre.Console;

namespace Soco.Cli.Commands;

/// <summary>
/// `soco demo`: the README's main job on the embedded sample photos. Each stage reuses what is already done.
/// Stages: proposals → filter → export → pretraining (demo preset) → export for detectors → fine-tuning a detector on
/// samples/voc (finetune_demo preset) → a picture of its detections.
/// </summary>
public static class DemoCommand
{
    public static Command Build()
    {
        var images = new Option<string?>("--images") { Description = "Images (default: the repository's samples/photos)" };
        var output = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var workers = new Option<int>("--workers") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var set = new Option<string[]>("--set") { Description = "Override a key of the demo preset, key=value (repeatable), e.g. --set solver.epochs=2 for a short run; the old flat keys (epochs=2) are aliases", AllowMultipleArgumentsPerToken = false };
        var finetuneSet = new Option<string[]>("--finetune-set") { Description = "Override a key of the finetune_demo preset, key=value (repeatable), e.g. --finetune-set solver.max_iter=20 --finetune-set solver.steps=[]", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("demo", "The main job on the sample photos: proposals → filter → pretraining (demo preset) → export for detectors → a detector fine-tuned from it on the labelled sample photos → a picture of its detections") { images, output, workers, set, finetuneSet };
        cmd.SetAction(p => SocoCli.Guard(() => PretrainCommand.Checked(() => Run(p.GetValue(images) ?? DefaultImages(), p.GetValue(output)!, p.GetValue(workers), p.GetValue(set) ?? [], p.GetValue(finetuneSet) ?? []))));
        return cmd;
    }

    /// <summary>samples/photos of the repository this binary was built from (or of the current folder).</summary>
    static string DefaultImages() => Samples("photos");

    /// <summary>samples/&lt;name&gt; of the repository this binary was built from (or of the current folder), or the copy installed with the tool.</summary>
    static string Samples(string name)
    {
        // Installed as a dotnet tool: the package carries samples/ beside the binary (src/Soco.Cli/Soco.Cli.csproj).
        string beside = Path.Combine(AppContext.BaseDirectory, "samples", name);
        if (Directory.Exists(beside) && !File.Exists(Path.Combine(AppContext.BaseDirectory, "Soco.slnx"))) return beside;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Soco.slnx")) && Directory.Exists(Path.Combine(d.FullName, "samples", name)))
                    return Path.Combine(d.FullName, "samples", name);
        throw new DirectoryNotFoundException($"samples/{name} not found: run from the repository" + (name == "photos" ? ", or pass --images" : ""));
    }

    static int Run(string images, string output, int workers, string[] overrides, string[] finetuneOverrides)
    {
        var sw = Stopwatch.StartNew();
        string proposals = Path.Combine(output, "proposals");
        string raw = Path.Combine(proposals, "raw"), filtered = Path.Combine(proposals, "ratio3size0308post");
        string json = Path.Combine(proposals, "train_ratio3size0308post.json");
        Out.Info($"soco demo: images {images} → {output}");

        Out.Ansi.Write(new Rule("[bold]1. selective-search proposals (mode soco)[/]").LeftJustified());
        var gen = ProposalsCommands.RunGenerate(new ProposalPipeline.Request(images, raw, "soco")
        {
            Options = new GenerateOptions { Workers = workers },
        });
        if (ProposalsCommands.Stopped != 0) return ProposalsCommands.Stopped;   // a stop signal: rerun `soco demo` to continue

        Out.Ansi.Write(new Rule("[bold]2. filter ratio3size0308post[/]").LeftJustified());
        var filter = ProposalFilter.Released;
        var fs = ProposalsCommands.RunFilter(ProposalStore.Open(raw), filtered, filter, force: true);

        Out.Ansi.Write(new Rule("[bold]3. export SoCo JSON and a preview[/]").LeftJustified());
        int n = ProposalJson.Export(ProposalStore.Open(filtered), json);
        Out.Info($"wrote {n} images to {json}");
        var done = ProposalStore.Open(raw).ReadAll().Where(r => !r.IsFailure).ToList();
        var first = done.FirstOrDefault(r => r.Key == "dog") ?? done.FirstOrDefault();
        string? preview = null;
        if (first is not null)
        {
            preview = Path.Combine(proposals, $"preview-{first.Key}.png");
            ProposalsCommands.RenderProposals(first.Location, raw, "soco", filter, preview);
        }

        // Pretraining: the demo preset (configs/demo.json). A finished run is reused, an unfinished one resumed. One torch
        // thread: the model is tiny, and OpenMP threads spin against the loader threads on a small machine.
        Out.Ansi.Write(new Rule("[bold]4. SoCo pretraining (demo preset)[/]").LeftJustified());
        string pretrainDir = Path.Combine(output, "pretrain");
        var pre = PretrainCommand.Execute(PretrainConfigs.Load("demo", overrides), new PretrainOptions
        {
            Images = images, Proposals = filtered, RunDirectory = pretrainDir, Threads = 1, Workers = Math.Clamp(workers, 1, 2),
        });
        if (pre.Stop == PretrainStop.Cancelled) return PretrainCommand.Stopped != 0 ? PretrainCommand.Stopped : 130;

        // Export: the files detectors start from (configs/detectron2/ holds the fine-tuning configs that read them).
        Out.Ansi.Write(new Rule("[bold]5. export for detectors[/]").LeftJustified());
        string exportDir = Path.Combine(output, "export");
        var exports = new List<(string Path, string What)>();
        if (pre.LastCheckpoint is not null)
        {
            var model = CheckpointReader.Read(pre.LastCheckpoint);
            foreach (var (format, file, what) in new[]
            {
                ("detectron2-fpn", "soco_fpn_detectron2.pkl", "Detectron2: backbone + FPN + 4conv1fc box head (configs/detectron2/SoCo_FPN_1x.yaml)"),
                ("detectron2-c4", "soco_c4_detectron2.pkl", "Detectron2: backbone incl. res5 (configs/detectron2/SoCo_C4_1x.yaml)"),
                ("mmdet", "soco_fpn_mmdet.pth", "mmdetection: backbone, neck, shared 4conv1fc bbox head"),
                ("pytorch", "backbone_torchvision.pth", "PyTorch: the backbone with torchvision's names"),
            })
            {
                string path = Path.Combine(exportDir, file);
                int tensors = ModelExport.Write(model.State, ModelExport.ParseFormat(format), path);
                Out.Info($"{path}: {tensors} tensors");
                exports.Add((path, what));
            }
        }

        // Fine-tuning: a Faster R-CNN FPN detector from the pretrained backbone, FPN and box head, on the three labelled
        // sample photos (samples/voc: person, bus, car), then its detections drawn on one of them. The same commands a
        // user runs (`soco finetune`, `soco detect`); a finished run is reused, an unfinished one resumed.
        string finetuneDir = Path.Combine(output, "finetune"), picture = Path.Combine(output, "detections.png");
        string? modelFile = null;
        if (pre.LastCheckpoint is not null)
        {
            Out.Ansi.Write(new Rule("[bold]6. fine-tune a detector (finetune_demo preset) on samples/voc[/]").LeftJustified());
            string voc = Samples("voc"), vocImages = Path.Combine(voc, "JPEGImages");
            int rc = SocoCli.Run(["finetune", "--config", "finetune_demo", .. finetuneOverrides.SelectMany(o => new[] { "--set", o }),
                "--init", pretrainDir, "--train", voc, "--train-images", vocImages, "--out", finetuneDir, "--threads", "1"]);
            if (rc != 0) return rc;
            modelFile = Path.Combine(finetuneDir, "model_final.pth");

            Out.Ansi.Write(new Rule("[bold]7. detect[/]").LeftJustified());
            string photo = Directory.EnumerateFiles(vocImages).Order(StringComparer.Ordinal).First();
            rc = SocoCli.Run(["detect", "--checkpoint", modelFile, "--image", photo, "--out", picture, "--score-threshold", "0.5"]);
            if (rc != 0) return rc;
        }

        Out.Ansi.Write(new Rule("[bold]summary[/]").LeftJustified());
        var t = new Table().AddColumns("output", "what it shows");
        t.AddRow(Markup.Escape(raw), Markup.Escape($"raw proposals: {gen.InShard} images ({gen.Done} now, {gen.Skipped} reused, {gen.Failed} failed)"));
        t.AddRow(Markup.Escape(filtered), Markup.Escape($"{fs.BoxesOut} proposals kept by {filter.Name} ({(fs.Images > 0 ? (double)fs.BoxesOut / fs.Images : 0):F1}/image; {fs.StillEmpty} image(s) with none)"));
        t.AddRow(Markup.Escape(json), "the same, in SoCo's JSON layout (what the official training reads)");
        if (preview is not null) t.AddRow(Markup.Escape(preview), "one photo with its proposals: kept in green, filtered out in red");
        t.AddRow(Markup.Escape(pretrainDir), Markup.Escape($"pretraining run: {pre.StepsDone}/{pre.TotalSteps} steps" +
            (pre.LastLoss is double l ? $", last loss {l:F3}" : "") + "; config.json, metrics.jsonl, tb/ (TensorBoard), log.txt"));
        if (pre.LastCheckpoint is not null) t.AddRow(Markup.Escape(pre.LastCheckpoint), "checkpoint: online + target networks, EMA counter, LARS momentum, loader position (resumable)");
        t.AddRow(Markup.Escape(Path.Combine(pretrainDir, PretrainRun.CurvesFile)), "loss and learning-rate curves");
        foreach (var (path, what) in exports) t.AddRow(Markup.Escape(path), Markup.Escape(what));
        if (modelFile is not null)
        {
            t.AddRow(Markup.Escape(finetuneDir), "detector fine-tuning run: config.json, metrics.jsonl (four losses), tb/, curves.png, checkpoints/");
            t.AddRow(Markup.Escape(modelFile), "the fine-tuned detector (soco detect / soco evaluate --checkpoint read it)");
            t.AddRow(Markup.Escape(picture), "its detections (score ≥ 0.5) drawn on a labelled sample photo");
        }
        Out.Ansi.Write(t);
        Out.Info($"demo finished in {sw.Elapsed.TotalSeconds:F0} s.");
        return 0;
    }
}
