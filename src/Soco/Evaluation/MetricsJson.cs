using System.Text;
using System.Text.Json;

namespace Soco.Evaluation;

/// <summary>What a metrics file needs from an evaluation result, whichever protocol made it (COCO or LVIS).</summary>
public interface IEvaluationSummary
{
    /// <summary>The summary numbers' keys, in file order.</summary>
    IReadOnlyList<string> StatKeys { get; }
    /// <summary>The summary numbers (fractions, −1 where nothing counted), in <see cref="StatKeys"/> order.</summary>
    double[] Stats { get; }
    long[] CategoryIds { get; }
    string[] CategoryNames { get; }
    /// <summary>Per category AP as a fraction; NaN for a category without ground truth (written as null).</summary>
    double[] PerCategoryAp { get; }
}

/// <summary>The JSON skeleton both metrics files share: the summary keys, then <c>per_category</c> [{id, name, …, AP}].</summary>
static class MetricsJson
{
    public static string Document(Action<Utf8JsonWriter> body)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>The summary keys and <c>per_category</c>; <paramref name="extra"/> adds fields of category k after its name.</summary>
    public static void WriteKeys(Utf8JsonWriter w, IEvaluationSummary r, Action<Utf8JsonWriter, int>? extra = null)
    {
        for (int i = 0; i < r.StatKeys.Count; i++) w.WriteNumber(r.StatKeys[i], r.Stats[i]);
        w.WriteStartArray("per_category");
        for (int k = 0; k < r.CategoryIds.Length; k++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", r.CategoryIds[k]);
            w.WriteString("name", r.CategoryNames[k]);
            extra?.Invoke(w, k);
            if (double.IsNaN(r.PerCategoryAp[k])) w.WriteNull("AP");
            else w.WriteNumber("AP", r.PerCategoryAp[k]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>The mean of the values &gt; −1 among <paramref name="values"/>; NaN when there is none (a category
    /// without ground truth).</summary>
    public static double MeanValid(IEnumerable<double> values)
    {
        double sum = 0;
        int n = 0;
        foreach (double v in values)
            if (v > -1) { sum += v; n++; }
        return n == 0 ? double.NaN : sum / n;
    }
}
