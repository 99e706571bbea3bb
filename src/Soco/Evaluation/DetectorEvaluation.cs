using System.Text.Json;
using Soco.Data.Coco;
using Soco.Distributed;
using Soco.Imaging;
using Soco.Modeling.Detection;

namespace Soco.Evaluation;

/// <summary>What <see cref="DetectorEvaluation.Detect"/> gives: the COCO detections of every annotated image, how many
/// detections were left out because the ground truth has no such category, and notes (one per image, naming it).</summary>
public sealed record DetectorRun(IReadOnlyList<CocoDetection> Detections, int OtherCategories, IReadOnlyList<long> OtherLabels, IReadOnlyList<string> Notes);

/// <summary>
/// Runs a detector on the images of a COCO ground truth (found by <c>file_name</c> under an image folder) and gives
/// its detections with the ground truth's image ids, for <see cref="CocoEvaluator"/> (`soco evaluate --checkpoint`).
/// A missing or unreadable image stops the run: leaving it out would count its objects as missed and give a wrong score.
/// <para>Under data parallelism (<paramref name="group"/> with several ranks; docs/distributed.md §Evaluation) rank r
/// detects images r, r + n, r + 2n, … of the ground truth, and the ranks' detections and notes are gathered so every
/// rank holds all of them in the ground truth's image order — the list one process makes, so the score is the same.</para>
/// </summary>
public static class DetectorEvaluation
{
    public static DetectorRun Detect(FasterRcnn model, CocoDataset truth, string imageFolder, Action<int>? progress = null, ProcessGroup? group = null)
    {
        if (!Directory.Exists(imageFolder)) throw new DirectoryNotFoundException($"image folder not found: {imageFolder}");
        var missing = truth.Images.Where(i => !File.Exists(Path.Combine(imageFolder, i.FileName))).ToList();
        if (missing.Count > 0)
            throw new FileNotFoundException($"{imageFolder}: {missing.Count} of the {truth.Images.Count} images of {truth.Source} are missing: " +
                string.Join(", ", missing.Take(5).Select(i => $"{i.FileName} (image id {i.Id})")) + (missing.Count > 5 ? ", ..." : ""));
        int rank = group?.Rank ?? 0, world = group?.WorldSize ?? 1;
        var mine = new List<ImageResult>();
        for (int k = rank; k < truth.Images.Count; k += world)
        {
            var im = truth.Images[k];
            string path = Path.Combine(imageFolder, im.FileName);
            var img = ImageDecoder.Decode(path);
            string? note = im.Width > 0 && im.Height > 0 && (img.Width != im.Width || img.Height != im.Height)
                ? $"{path} (image id {im.Id}) is {img.Width}×{img.Height}, the ground truth says {im.Width}×{im.Height}; boxes are compared in the decoded image's pixels"
                : null;
            mine.Add(new ImageResult(k, DetectorInference.ToCoco(im.Id, DetectorInference.Detect(model, img)).ToList(), note));
            progress?.Invoke(1);
        }
        var all = group is { IsDistributed: true } g
            ? g.AllGatherBytes(Serialize(mine)).SelectMany(Deserialize).OrderBy(r => r.Index).ToList()
            : mine;
        var dets = new List<CocoDetection>();
        var notes = new List<string>();
        var otherLabels = new SortedSet<long>();
        int other = 0;
        foreach (var r in all)
        {
            if (r.Note is not null) notes.Add(r.Note);
            foreach (var d in r.Detections)
            {
                // pycocotools evaluates the ground truth's categories only (Params.catIds = cocoGt.getCatIds()).
                if (truth.CategoriesById.ContainsKey(d.CategoryId)) dets.Add(d);
                else { other++; otherLabels.Add(d.CategoryId); }
            }
        }
        return new DetectorRun(dets, other, otherLabels.ToList(), notes);
    }

    /// <summary>One image's detections (by its position in the ground truth) and note.</summary>
    sealed record ImageResult(int Index, List<CocoDetection> Detections, string? Note);

    /// <summary>A rank's results as JSON: numbers written shortest-round-trip (exact), masks as COCO writes them.</summary>
    static byte[] Serialize(List<ImageResult> results)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartArray();
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteNumber("index", r.Index);
                if (r.Note is not null) w.WriteString("note", r.Note);
                w.WriteStartArray("detections");
                foreach (var d in r.Detections)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(d.ImageId);
                    w.WriteNumberValue(d.CategoryId);
                    w.WriteNumberValue(d.X);
                    w.WriteNumberValue(d.Y);
                    w.WriteNumberValue(d.W);
                    w.WriteNumberValue(d.H);
                    w.WriteNumberValue(d.Score);
                    if (d.Segmentation is { } seg) seg.WriteTo(w);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return ms.ToArray();
    }

    static List<ImageResult> Deserialize(byte[] bytes)
    {
        using var doc = JsonDocument.Parse(bytes);
        var list = new List<ImageResult>();
        foreach (var r in doc.RootElement.EnumerateArray())
        {
            var dets = new List<CocoDetection>();
            foreach (var d in r.GetProperty("detections").EnumerateArray())
            {
                var v = d.EnumerateArray().ToArray();
                CocoSegmentation? seg = null;
                if (v.Length > 7 && !CocoSegmentation.TryRead(v[7], out seg, out var error))
                    throw new DistributedException($"a rank sent a mask that does not read back: {error}");
                dets.Add(new CocoDetection(v[0].GetInt64(), v[1].GetInt64(), v[2].GetDouble(), v[3].GetDouble(), v[4].GetDouble(), v[5].GetDouble(), v[6].GetDouble()) { Segmentation = seg });
            }
            list.Add(new ImageResult(r.GetProperty("index").GetInt32(), dets, r.TryGetProperty("note", out var n) ? n.GetString() : null));
        }
        return list;
    }
}
