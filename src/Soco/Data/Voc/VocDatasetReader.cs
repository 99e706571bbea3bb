using Soco.Data.Coco;

namespace Soco.Data.Voc;

/// <summary>How VOC's xmin … ymax map to a COCO box.</summary>
public enum VocBoxConvention
{
    /// <summary>PASCAL VOC's own: 1-based inclusive pixel indices, so x = xmin − 1, w = xmax − xmin + 1
    /// (Detectron2's data/datasets/pascal_voc.py subtracts 1 from xmin and ymin the same way).</summary>
    OneBasedPixels,

    /// <summary>Continuous coordinates as written (labelme's labelme2voc): x = xmin, w = xmax − xmin.</summary>
    Continuous,
}

/// <summary>
/// A PASCAL VOC folder (<c>Annotations/*.xml</c>) as the same in-memory dataset as a COCO file. Images get ids
/// 1 … n in the ordinal order of their XML file names; categories are the lines of <c>class_names.txt</c> in the
/// folder (labelme2voc's file; <c>_background_</c> and <c>__ignore__</c> left out) with ids 1 … K in that order, or,
/// without that file, the names found, sorted (PASCAL VOC's 20 classes sort into its usual order). <c>difficult</c>
/// objects are kept as ordinary ones (Detectron2 trains on them too); area = w·h; no crowd regions.
/// Bad files and boxes are skipped with a message, as for COCO.
/// </summary>
public static class VocDatasetReader
{
    public static CocoDataset Read(string folder, VocBoxConvention convention = VocBoxConvention.OneBasedPixels)
    {
        string annDir = Path.Combine(folder, "Annotations");
        if (!Directory.Exists(annDir)) throw new DirectoryNotFoundException($"{folder}: no Annotations folder (a PASCAL VOC folder holds Annotations/*.xml)");
        var files = Directory.GetFiles(annDir, "*.xml").Order(StringComparer.Ordinal).ToArray();
        var skipped = new List<string>();
        var parsed = new List<(string Xml, VocAnnotation Ann)>();
        foreach (var xml in files)
        {
            try
            {
                parsed.Add((xml, VocAnnotation.Read(xml)));
            }
            catch (FormatException e)
            {
                skipped.Add($"{e.Message} — file skipped");
            }
        }

        string namesFile = Path.Combine(folder, "class_names.txt");
        string[] names = File.Exists(namesFile)
            ? File.ReadAllLines(namesFile).Select(l => l.Trim()).Where(l => l.Length > 0 && l is not ("_background_" or "__ignore__")).Distinct().ToArray()
            : parsed.SelectMany(p => p.Ann.Boxes.Select(b => b.Label)).Distinct().Order(StringComparer.Ordinal).ToArray();
        var categories = names.Select((n, i) => new CocoCategory(i + 1, n, null)).ToArray();
        var catByName = categories.ToDictionary(c => c.Name);

        var images = new List<CocoImage>();
        var annotations = new List<CocoAnnotation>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        double shift = convention == VocBoxConvention.OneBasedPixels ? 1 : 0;
        foreach (var (xml, a) in parsed)
        {
            if (seen.TryGetValue(a.FileName, out var first))
            {
                skipped.Add($"{xml}: image {a.FileName} is listed twice (first in {first}) — the second listing is skipped");
                continue;
            }
            seen[a.FileName] = xml;
            var image = new CocoImage(images.Count + 1, a.FileName, a.Width, a.Height);
            images.Add(image);
            for (int j = 0; j < a.Boxes.Count; j++)
            {
                var b = a.Boxes[j];
                string where = $"{xml}: object #{j} ({b.Label})";
                if (!catByName.TryGetValue(b.Label, out var cat)) { skipped.Add($"{where}: class \"{b.Label}\" is not in {namesFile} — skipped"); continue; }
                double x = b.X1 - shift, y = b.Y1 - shift, w = b.X2 - x, h = b.Y2 - y;
                if (CocoInstancesReader.BoxProblem(x, y, w, h, image) is string problem) { skipped.Add($"{where}: {problem} — skipped"); continue; }
                annotations.Add(new CocoAnnotation(annotations.Count + 1, image.Id, cat.Id, x, y, w, h, w * h, false, default));
            }
        }
        return new CocoDataset(folder, images, categories, annotations, skipped, []);
    }
}
