using Soco.Data.Coco;
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
/// </summary>
public static class DetectorEvaluation
{
    public static DetectorRun Detect(FasterRcnn model, CocoDataset truth, string imageFolder, Action<int>? progress = null)
    {
        if (!Directory.Exists(imageFolder)) throw new DirectoryNotFoundException($"image folder not found: {imageFolder}");
        var missing = truth.Images.Where(i => !File.Exists(Path.Combine(imageFolder, i.FileName))).ToList();
        if (missing.Count > 0)
            throw new FileNotFoundException($"{imageFolder}: {missing.Count} of the {truth.Images.Count} images of {truth.Source} are missing: " +
                string.Join(", ", missing.Take(5).Select(i => $"{i.FileName} (image id {i.Id})")) + (missing.Count > 5 ? ", ..." : ""));
        var dets = new List<CocoDetection>();
        var notes = new List<string>();
        var otherLabels = new SortedSet<long>();
        int other = 0;
        foreach (var im in truth.Images)
        {
            string path = Path.Combine(imageFolder, im.FileName);
            var img = ImageDecoder.Decode(path);
            if (im.Width > 0 && im.Height > 0 && (img.Width != im.Width || img.Height != im.Height))
                notes.Add($"{path} (image id {im.Id}) is {img.Width}×{img.Height}, the ground truth says {im.Width}×{im.Height}; boxes are compared in the decoded image's pixels");
            foreach (var d in DetectorInference.ToCoco(im.Id, DetectorInference.Detect(model, img)))
            {
                // pycocotools evaluates the ground truth's categories only (Params.catIds = cocoGt.getCatIds()).
                if (truth.CategoriesById.ContainsKey(d.CategoryId)) dets.Add(d);
                else { other++; otherLabels.Add(d.CategoryId); }
            }
            progress?.Invoke(1);
        }
        return new DetectorRun(dets, other, otherLabels.ToList(), notes);
    }
}
