using System.CommandLine;
using System.Diagnostics;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Evaluation;
using Soco.Interop;
using Soco.Runtime;

namespace Soco.Cli.Commands;

/// <summary>`soco evaluate`: COCO's bbox and segm metrics for detections made anywhere (COCO results format).</summary>
public static class EvaluateCommand
{
    /// <summary>How many skipped-record messages are printed before the rest is only counted.</summary>
    const int MessagesShown = 10;

    public static Command Build()
    {
        var data = new Option<string>("--data") { Description = "Ground truth: COCO instances JSON (images, annotations, categories)", Required = true };
        var detections = new Option<string?>("--detections") { Description = "Detections: COCO results JSON, a list of {image_id, category_id, bbox [x, y, w, h], score} (image_id a number, or a file name without extension), with segmentation {size, counts} for masks" };
        var iouType = new Option<string?>("--iou-type") { Description = "bbox, segm or bbox,segm (default: bbox, and segm too when every detection and ground-truth object has a mask)" };
        var segmArea = new Option<string>("--segm-area") { Description = "segm: a detection's area for the area ranges, mask (default; Detectron2, results without bbox) or box (pycocotools' loadRes on a results file with bbox)", DefaultValueFactory = _ => "mask" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Detector model file to run on the annotated images first (instead of --detections)" };
        var images = new Option<string?>("--images") { Description = "With --checkpoint: the folder holding the ground truth's images (by file_name)" };
        var output = new Option<string?>("--out") { Description = "Metrics JSON to write: sections bbox / segm with AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (fractions) and per_category; the bbox keys also at the top level (LVIS ground truth: the LVIS API's 13 numbers)" };
        var protocol = new Option<string>("--protocol") { Description = "auto (LVIS when the ground truth has LVIS's fields), coco, lvis (the LVIS API's federated evaluation)", DefaultValueFactory = _ => "auto" };
        protocol.AcceptOnlyFromAmong(LvisReader.Protocols);
        var cmd = new Command("evaluate", "Score detections as pycocotools' COCOeval (bbox, segm): the 12 COCO numbers and AP per category; LVIS ground truth: the LVIS API's federated evaluation; with --checkpoint, run the detector first")
            { data, detections, checkpoint, images, iouType, segmArea, output, protocol };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            string? dtPath = p.GetValue(detections), ckpt = p.GetValue(checkpoint), imgDir = p.GetValue(images);
            if ((dtPath is null) == (ckpt is null)) throw new ArgumentException("give either --detections <results.json> or --checkpoint <model> --images <folder>");
            if (ckpt is not null && imgDir is null) throw new ArgumentException("--checkpoint needs --images <folder> (where the ground truth's images are)");
            if (ckpt is null && imgDir is not null) throw new ArgumentException("--images goes with --checkpoint");
            // Under mpirun/srun each rank detects its share of the images and rank 0 scores them all (docs/distributed.md
            // §Evaluation); the other ranks print only their errors and warnings.
            var group = Soco.Distributed.ProcessGroup.World;
            using var quiet = group.IsMain ? null : Out.RedirectTo(new RankMessages(group.Rank));
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
                var run = Out.WithProgress("detect", (gt.Images.Count - group.Rank + group.WorldSize - 1) / group.WorldSize, step => DetectorEvaluation.Detect(model, gt, imgDir!, n => step(n, null), group));
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
            if (!group.IsMain) return 0;
            var notes = new List<string>();
            var types = CocoIouTypes.Choose(p.GetValue(iouType), gt, found, notes);
            foreach (var n in notes) Out.Warn(n);
            var area = CocoIouTypes.ParseSegmArea(p.GetValue(segmArea)!);
            double readSeconds = sw.Elapsed.TotalSeconds;
            if (lvis is not null)
            {
                EvaluateLvis.Run(lvis, found, types, area, p.GetValue(output), sw, readSeconds, ckpt is not null);
                return 0;
            }
            var results = new List<(CocoIouType, CocoEvalResult)>();
            foreach (var type in types)
            {
                var r = CocoEvaluator.Evaluate(gt, found, type, segmArea: area);
                results.Add((type, r));
                string name = CocoMetricsFile.SectionName(type);
                Out.Text.WriteLine($"IoU type {name}:");
                foreach (var line in r.SummaryLines) Out.Text.WriteLine(line);
                Out.Text.WriteLine();
                Out.Text.WriteLine($"Per-category {name} AP (IoU .50:.95, area all, maxDets 100), in percent:");
                foreach (var line in CocoMetricsFile.PerCategoryTable(r)) Out.Text.WriteLine(line);
                Out.Text.WriteLine();
            }
            double evalSeconds = sw.Elapsed.TotalSeconds - readSeconds;
            if (p.GetValue(output) is string o)
            {
                CocoMetricsFile.Write(o, results);
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
