using System.CommandLine;
using System.Diagnostics;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Evaluation;
using Soco.Interop;
using Soco.Runtime;

namespace Soco.Cli.Commands;

/// <summary>`soco evaluate`: COCO's bbox metric for detections made anywhere (COCO results format).</summary>
public static class EvaluateCommand
{
    /// <summary>How many skipped-record messages are printed before the rest is only counted.</summary>
    const int MessagesShown = 10;

    public static Command Build()
    {
        var data = new Option<string>("--data") { Description = "Ground truth: COCO instances JSON (images, annotations, categories)", Required = true };
        var detections = new Option<string?>("--detections") { Description = "Detections: COCO results JSON, a list of {image_id, category_id, bbox [x, y, w, h], score} (image_id a number, or a file name without extension)" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Detector model file to run on the annotated images first (instead of --detections)" };
        var images = new Option<string?>("--images") { Description = "With --checkpoint: the folder holding the ground truth's images (by file_name)" };
        var output = new Option<string?>("--out") { Description = "Metrics JSON to write: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (fractions) and per_category (LVIS: its 13 numbers)" };
        var protocol = new Option<string>("--protocol") { Description = "auto (LVIS when the ground truth has LVIS's fields), coco, lvis (the LVIS API's federated evaluation)", DefaultValueFactory = _ => "auto" };
        protocol.AcceptOnlyFromAmong(LvisReader.Protocols);
        var cmd = new Command("evaluate", "Score detections as pycocotools' COCOeval (bbox): the 12 COCO numbers and AP per category; with --checkpoint, run the detector first")
            { data, detections, checkpoint, images, output, protocol };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            string? dtPath = p.GetValue(detections), ckpt = p.GetValue(checkpoint), imgDir = p.GetValue(images);
            if ((dtPath is null) == (ckpt is null)) throw new ArgumentException("give either --detections <results.json> or --checkpoint <model> --images <folder>");
            if (ckpt is not null && imgDir is null) throw new ArgumentException("--checkpoint needs --images <folder> (where the ground truth's images are)");
            if (ckpt is null && imgDir is not null) throw new ArgumentException("--images goes with --checkpoint");
            var sw = Stopwatch.StartNew();
            var gt = LvisReader.ReadGroundTruth(p.GetValue(data)!, p.GetValue(protocol)!, out var lvis);
            Out.Text.WriteLine($"ground truth: {gt.Images.Count} images, {gt.Annotations.Count} annotations, {gt.Categories.Count} categories ({gt.Source})");
            Report(gt.Skipped, "ground-truth records skipped");
            Report(gt.Notes, "ground-truth records kept with a note");
            IReadOnlyList<CocoDetection> found;
            if (ckpt is not null)
            {
                TorchRuntime.EnsureLoaded();
                var spec = DetectorModelFile.Load(ckpt);
                using var model = spec.CreateModel();
                Out.Text.WriteLine($"detector: {spec.Source} ({spec.Origin}), {spec.Config.NumClasses - 1} classes");
                var run = Out.WithProgress("detect", gt.Images.Count, step => DetectorEvaluation.Detect(model, gt, imgDir!, n => step(n, null)));
                Report(run.Notes, "images with a note");
                if (run.OtherCategories > 0)
                    Out.Warn($"{run.OtherCategories} detections of labels the ground truth has no category for ({string.Join(", ", run.OtherLabels.Take(10))}) left out, as pycocotools evaluates the ground truth's categories only");
                found = run.Detections;
                Out.Text.WriteLine($"detections: {found.Count} (from {ckpt} on {imgDir})");
            }
            else
            {
                var dt = CocoResultsReader.Read(dtPath!, gt);
                Out.Text.WriteLine($"detections: {dt.Detections.Count} ({dt.Source})");
                Report(dt.Notes, "detections kept with a note");
                found = dt.Detections;
            }
            double readSeconds = sw.Elapsed.TotalSeconds;
            if (lvis is not null)
            {
                EvaluateLvis.Run(lvis, found, p.GetValue(output), sw, readSeconds, ckpt is not null);
                return 0;
            }
            var r = CocoEvaluator.Evaluate(gt, found);
            double evalSeconds = sw.Elapsed.TotalSeconds - readSeconds;
            foreach (var line in r.SummaryLines) Out.Text.WriteLine(line);
            Out.Text.WriteLine();
            Out.Text.WriteLine("Per-category bbox AP (IoU .50:.95, area all, maxDets 100), in percent:");
            foreach (var line in CocoMetricsFile.PerCategoryTable(r)) Out.Text.WriteLine(line);
            if (p.GetValue(output) is string o)
            {
                CocoMetricsFile.Write(o, r);
                Out.Text.WriteLine($"wrote {o}");
            }
            Out.Text.WriteLine(FormattableString.Invariant($"read{(ckpt is null ? "" : " and detected")} in {readSeconds:F2} s, evaluated in {evalSeconds:F2} s"));
            return 0;
        }));
        return cmd;
    }

    internal static void Report(IReadOnlyList<string> messages, string what)
    {
        if (messages.Count == 0) return;
        Out.Warn($"{messages.Count} {what}:");
        foreach (var m in messages.Take(MessagesShown)) Out.Warn("  " + m);
        if (messages.Count > MessagesShown) Out.Warn($"  ... and {messages.Count - MessagesShown} more");
    }
}
