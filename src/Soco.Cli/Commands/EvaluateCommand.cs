using System.CommandLine;
using System.Diagnostics;
using Soco.Data.Coco;
using Soco.Evaluation;

namespace Soco.Cli.Commands;

/// <summary>`soco evaluate`: COCO's bbox metric for detections made anywhere (COCO results format).</summary>
public static class EvaluateCommand
{
    /// <summary>How many skipped-record messages are printed before the rest is only counted.</summary>
    const int MessagesShown = 10;

    public static Command Build()
    {
        var data = new Option<string>("--data") { Description = "Ground truth: COCO instances JSON (images, annotations, categories)", Required = true };
        var detections = new Option<string>("--detections") { Description = "Detections: COCO results JSON, a list of {image_id, category_id, bbox [x, y, w, h], score}", Required = true };
        var output = new Option<string?>("--out") { Description = "Metrics JSON to write: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (fractions) and per_category" };
        var cmd = new Command("evaluate", "Score detections as pycocotools' COCOeval (bbox): the 12 COCO numbers and AP per category") { data, detections, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var sw = Stopwatch.StartNew();
            var gt = CocoInstancesReader.Read(p.GetValue(data)!);
            Out.Text.WriteLine($"ground truth: {gt.Images.Count} images, {gt.Annotations.Count} annotations, {gt.Categories.Count} categories ({gt.Source})");
            Report(gt.Skipped, "ground-truth records skipped");
            Report(gt.Notes, "ground-truth records kept with a note");
            var dt = CocoResultsReader.Read(p.GetValue(detections)!, gt);
            Out.Text.WriteLine($"detections: {dt.Detections.Count} ({dt.Source})");
            Report(dt.Notes, "detections kept with a note");
            double readSeconds = sw.Elapsed.TotalSeconds;
            var r = CocoEvaluator.Evaluate(gt, dt.Detections);
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
            Out.Text.WriteLine(FormattableString.Invariant($"read in {readSeconds:F2} s, evaluated in {evalSeconds:F2} s"));
            return 0;
        }));
        return cmd;
    }

    static void Report(IReadOnlyList<string> messages, string what)
    {
        if (messages.Count == 0) return;
        Out.Warn($"{messages.Count} {what}:");
        foreach (var m in messages.Take(MessagesShown)) Out.Warn("  " + m);
        if (messages.Count > MessagesShown) Out.Warn($"  ... and {messages.Count - MessagesShown} more");
    }
}
