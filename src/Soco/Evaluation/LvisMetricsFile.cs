using System.Text.Json;
using Soco.Data.Lvis;
using Soco.IO;

namespace Soco.Evaluation;

/// <summary>
/// The metrics file of <c>soco evaluate</c> on LVIS ground truth, laid out as the COCO one (CocoMetricsFile): <c>protocol</c>
/// "lvis", the bbox numbers at the top level (when bbox was evaluated) and one section per IoU type (<c>bbox</c>,
/// <c>segm</c>), each holding the 13 numbers under the LVIS API's keys (AP, AP50, AP75, APs, APm, APl, APr, APc, APf,
/// AR@300, ARs@300, ARm@300, ARl@300; fractions, −1 where the LVIS API gives −1) and <c>per_category</c>
/// [{id, name, frequency, AP}] (AP null without ground truth). Written atomically.
/// </summary>
public static class LvisMetricsFile
{
    public static string ToJson(LvisEvalResult r) => ToJson([r]);

    public static string ToJson(IReadOnlyList<LvisEvalResult> results) => MetricsJson.Document(w =>
    {
        w.WriteString("protocol", "lvis");
        foreach (var r in results)
            if (r.IouType == "bbox") WriteKeys(w, r);
        foreach (var r in results)
        {
            w.WriteStartObject(r.IouType);
            WriteKeys(w, r);
            w.WriteEndObject();
        }
    });

    static void WriteKeys(Utf8JsonWriter w, LvisEvalResult r) => MetricsJson.WriteKeys(w, r, (w, k) =>
        w.WriteString("frequency", r.Frequencies[k] switch { LvisFrequency.Rare => "r", LvisFrequency.Common => "c", LvisFrequency.Frequent => "f", _ => "?" }));

    public static void Write(string path, IReadOnlyList<LvisEvalResult> results) => AtomicFile.WriteAllText(path, ToJson(results));
}
