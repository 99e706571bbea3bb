using System.Diagnostics;
using System.Globalization;
using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Evaluation;

namespace Soco.Cli.Commands;

/// <summary>The LVIS half of `soco evaluate`: the LVIS API's federated evaluation per IoU type, its printed lines and the metrics file.</summary>
internal static class EvaluateLvis
{
    public static void Run(LvisDataset gt, IReadOnlyList<CocoDetection> found, IReadOnlyList<CocoIouType> types, SegmDetectionArea segmArea,
                           string? output, Stopwatch sw, double readSeconds, bool detected)
    {
        EvaluateCommand.Report(gt.Notes, "LVIS fields with a note");
        int rare = gt.Frequencies.Count(f => f.Value == LvisFrequency.Rare), common = gt.Frequencies.Count(f => f.Value == LvisFrequency.Common),
            frequent = gt.Frequencies.Count(f => f.Value == LvisFrequency.Frequent);
        var results = new List<LvisEvalResult>();
        foreach (var type in types)
        {
            var r = LvisEvaluator.Evaluate(gt, found, type, segmArea: segmArea);
            results.Add(r);
            Out.Text.WriteLine($"LVIS federated evaluation ({r.IouType}; {rare} rare, {common} common, {frequent} frequent categories): " +
                               $"{r.DetectionsAfterCap} of {r.DetectionsGiven} detections within {r.Params.MaxDets[^1]} per image, " +
                               $"{r.DetectionsScored} on images where their category is verified (present or negative)");
            foreach (var line in r.SummaryLines) Out.Text.WriteLine(line);
            Out.Text.WriteLine();
        }
        double evalSeconds = sw.Elapsed.TotalSeconds - readSeconds;
        if (output is not null)
        {
            LvisMetricsFile.Write(output, results);
            Out.Text.WriteLine($"wrote {output}");
        }
        Out.Text.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read{(detected ? " and detected" : "")} in {readSeconds:F2} s, evaluated in {evalSeconds:F2} s"));
    }
}
