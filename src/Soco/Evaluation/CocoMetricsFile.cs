using System.Globalization;
using Soco.IO;

namespace Soco.Evaluation;

/// <summary>
/// The metrics file of <c>soco evaluate</c>: the 12 COCO numbers under the keys AP, AP50, AP75, APs, APm, APl, AR1,
/// AR10, AR100, ARs, ARm, ARl (fractions; −1 where pycocotools gives −1) and <c>per_category</c>
/// [{id, name, AP}] (AP null for a category without ground truth), written atomically. With IoU types
/// (the list overload of <c>ToJson</c>) each type gets a section <c>bbox</c> /
/// <c>segm</c> holding those keys, and the bbox numbers stay at the top level too, where readers of the bbox-only file
/// find them.
/// </summary>
public static class CocoMetricsFile
{
    public static string ToJson(CocoEvalResult r) => ToJson([(CocoIouType.Bbox, r)], sections: false);

    /// <summary>The file for one or more IoU types: the bbox numbers at the top level (when bbox was evaluated), then
    /// one section per type, named <c>bbox</c> / <c>segm</c>.</summary>
    public static string ToJson(IReadOnlyList<(CocoIouType Type, CocoEvalResult Result)> results) => ToJson(results, sections: true);

    public static string SectionName(CocoIouType type) => type == CocoIouType.Segm ? "segm" : "bbox";

    static string ToJson(IReadOnlyList<(CocoIouType Type, CocoEvalResult Result)> results, bool sections) => MetricsJson.Document(w =>
    {
        foreach (var (type, r) in results)
            if (type == CocoIouType.Bbox) MetricsJson.WriteKeys(w, r);
        if (sections)
            foreach (var (type, r) in results)
            {
                w.WriteStartObject(SectionName(type));
                MetricsJson.WriteKeys(w, r);
                w.WriteEndObject();
            }
    });

    public static void Write(string path, CocoEvalResult r) => AtomicFile.WriteAllText(path, ToJson(r));

    public static void Write(string path, IReadOnlyList<(CocoIouType Type, CocoEvalResult Result)> results) => AtomicFile.WriteAllText(path, ToJson(results));

    /// <summary>
    /// The per-category AP table as Detectron2 prints it (COCOEvaluator._derive_coco_results: AP in percent, three
    /// category/AP pairs per row, a pipe table; "nan" for a category without ground truth).
    /// </summary>
    public static IReadOnlyList<string> PerCategoryTable(CocoEvalResult r, int pairs = 3)
    {
        var cells = new List<string>();
        for (int k = 0; k < r.CategoryIds.Length; k++)
        {
            cells.Add(r.CategoryNames[k]);
            cells.Add(double.IsNaN(r.PerCategoryAp[k]) ? "nan" : (r.PerCategoryAp[k] * 100).ToString("0.000", CultureInfo.InvariantCulture));
        }
        int cols = 2 * Math.Min(pairs, Math.Max(1, r.CategoryIds.Length));
        while (cells.Count % cols != 0) cells.Add("");
        var header = Enumerable.Range(0, cols).Select(c => c % 2 == 0 ? "category" : "AP").ToArray();
        var width = new int[cols];
        for (int c = 0; c < cols; c++)
        {
            width[c] = header[c].Length;
            for (int i = c; i < cells.Count; i += cols) width[c] = Math.Max(width[c], cells[i].Length);
        }
        string Row(IEnumerable<string> xs) => "| " + string.Join(" | ", xs.Select((x, c) => x.PadRight(width[c]))) + " |";
        var lines = new List<string> { Row(header), "|" + string.Join("|", width.Select(wd => ":" + new string('-', wd + 1))) + "|" };
        for (int i = 0; i < cells.Count; i += cols) lines.Add(Row(cells.Skip(i).Take(cols)));
        return lines;
    }
}
