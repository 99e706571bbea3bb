using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SkiaSharp;
using Soco.Imaging;
using Soco.IO;

namespace Soco.Engine;

/// <summary>One optimiser step as logged (a line of <c>metrics.jsonl</c>).</summary>
public sealed record StepMetrics
{
    /// <summary>Steps done including this one (1-based); the step ran at schedule iteration Step − 1.</summary>
    public long Step { get; init; }
    public int Epoch { get; init; }
    /// <summary>Loader batch (in its epoch) of the step's first micro-batch.</summary>
    public int Batch { get; init; }
    public double Loss { get; init; }
    public double Lr { get; init; }
    /// <summary>Momentum the EMA update of this step used.</summary>
    public double EmaMomentum { get; init; }
    /// <summary>Wall time of the step and the part of it spent waiting for the loader.</summary>
    public double StepSeconds { get; init; }
    public double DataSeconds { get; init; }
    public long RssMb { get; init; }
    public DateTime TimeUtc { get; init; }
}

/// <summary>
/// <c>metrics.jsonl</c> of a run: one JSON object per step, appended and flushed as it goes. A resumed run first cuts the
/// file back to the checkpoint's step (a killed run may have logged steps it then redoes; a half-written last line is
/// dropped), so the file always reads as one run.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    readonly StreamWriter _writer;

    /// <summary>File beside <c>metrics.jsonl</c> that keeps the lines a resume replaced: history is never thrown away.</summary>
    public const string ReplacedSuffix = ".replaced";

    public MetricsLog(string path, long keepUpToStep, Action<string>? note = null)
    {
        Path = path;
        var all = ReadLines(path);
        History = all.Where(m => m.Metrics.Step <= keepUpToStep).Select(m => m.Metrics).ToList();
        // The kept lines are rewritten as they were read: a line can hold scalars StepMetrics has no field for (a
        // task's named losses, evaluation numbers), which re-serialising would drop.
        var kept = all.Where(m => m.Metrics.Step <= keepUpToStep).Select(m => m.Line).ToList();
        var cut = all.Where(m => m.Metrics.Step > keepUpToStep).Select(m => m.Metrics).ToList();
        if (cut.Count > 0)
        {
            // Steps after the checkpoint are redone (identically after a kill; differently after --restart or an
            // explicit --resume): the old lines are appended to metrics.jsonl.replaced before the file is cut back.
            string replaced = path + ReplacedSuffix;
            using (var w = new StreamWriter(new FileStream(replaced, FileMode.Append, FileAccess.Write, FileShare.Read), new System.Text.UTF8Encoding(false)))
            {
                foreach (var m in cut) w.Write(Serialize(m) + "\n");
                w.Flush();
                ((FileStream)w.BaseStream).Flush(flushToDisk: true);
            }
            note?.Invoke($"{cut.Count} metrics line(s) after step {keepUpToStep} (steps {cut[0].Step}–{cut[^1].Step}) will be redone; the old lines are kept in {replaced}");
        }
        AtomicFile.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new System.Text.UTF8Encoding(false));
    }

    public string Path { get; }
    public List<StepMetrics> History { get; }

    public void Append(StepMetrics m)
    {
        History.Add(m);
        _writer.Write(Serialize(m) + "\n");
        _writer.Flush();
    }

    /// <summary>Appends a step given as named scalars (the engine's <c>EventStorage</c>): the line has the layout of
    /// <see cref="Serialize"/> — <c>step</c>, the <see cref="StepMetrics"/> keys present in their order, any other
    /// scalars in the order given, <c>time_utc</c> — so old and new run folders read alike.</summary>
    public void Append(long step, IReadOnlyList<(string Name, double Value)> scalars, DateTime timeUtc)
    {
        string line = SerializeRow(step, scalars, timeUtc);
        History.Add(JsonSerializer.Deserialize<StepMetrics>(line, Json)!);
        _writer.Write(line + "\n");
        _writer.Flush();
    }

    public static string Serialize(StepMetrics m) => JsonSerializer.Serialize(m, Json);

    /// <summary>Keys of <see cref="StepMetrics"/> between <c>step</c> and <c>time_utc</c>, in the order it writes them.</summary>
    static readonly string[] KnownKeys = ["epoch", "batch", "loss", "lr", "ema_momentum", "step_seconds", "data_seconds", "rss_mb"];

    public static string SerializeRow(long step, IReadOnlyList<(string Name, double Value)> scalars, DateTime timeUtc)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("step", step);
            var ordered = KnownKeys.SelectMany(k => scalars.Where(s => s.Name == k))
                .Concat(scalars.Where(s => Array.IndexOf(KnownKeys, s.Name) < 0 && s.Name is not ("step" or "time_utc")));
            foreach (var (name, value) in ordered)
            {
                w.WritePropertyName(name);
                // As JsonSerializer with AllowNamedFloatingPointLiterals: finite numbers shortest round-trip, others as strings.
                if (double.IsFinite(value)) w.WriteNumberValue(value);
                else w.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
            }
            w.WriteString("time_utc", timeUtc);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The steps of a metrics file (unreadable lines, e.g. a half-written last one, are skipped).</summary>
    public static List<StepMetrics> Read(string path) => ReadLines(path).Select(m => m.Metrics).ToList();

    /// <summary>The parsed lines of a metrics file with their text (unparsable lines left out).</summary>
    static List<(StepMetrics Metrics, string Line)> ReadLines(string path)
    {
        var list = new List<(StepMetrics, string)>();
        if (!File.Exists(path)) return list;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                if (JsonSerializer.Deserialize<StepMetrics>(line, Json) is { } m) list.Add((m, line));
            }
            catch (JsonException) { }
        }
        return list;
    }

    public void Dispose() => _writer.Dispose();
}

/// <summary>A PNG of the loss (with a moving average) and the learning rate against the step.</summary>
public static class CurvePlot
{
    public static void Save(IReadOnlyList<StepMetrics> history, string path, string title)
    {
        const int w = 900, panel = 260, pad = 50, top = 30;
        int h = top + 2 * panel + 2 * pad;
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var c = new SKCanvas(bmp))
        {
            c.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 13);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            c.DrawText(title, 10, 20, font, ink);
            var steps = history.Select(m => (double)m.Step).ToArray();
            var loss = history.Select(m => m.Loss).ToArray();
            Panel(c, font, new SKRect(70, top + 10, w - 20, top + 10 + panel),
                [(steps, loss, new SKColor(150, 180, 230)), (steps, MovingAverage(loss, Math.Max(1, loss.Length / 20)), new SKColor(20, 60, 160))], "loss");
            Panel(c, font, new SKRect(70, top + panel + pad + 10, w - 20, top + 2 * panel + pad + 10),
                [(steps, history.Select(m => m.Lr).ToArray(), new SKColor(200, 80, 20))], "learning rate");
        }
        Drawing.SavePng(bmp, path);
    }

    static double[] MovingAverage(double[] v, int k)
    {
        var r = new double[v.Length];
        double sum = 0;
        int n = 0;
        for (int i = 0; i < v.Length; i++)
        {
            if (double.IsFinite(v[i])) { sum += v[i]; n++; }
            if (i >= k && double.IsFinite(v[i - k])) { sum -= v[i - k]; n--; }
            r[i] = n > 0 ? sum / n : double.NaN;
        }
        return r;
    }

    /// <summary>One framed panel of line series (each with its own x values) with axis ticks; <paramref name="markers"/>
    /// also draws each point (for series of a few points, as bench/scale's).</summary>
    public static void Panel(SKCanvas c, SKFont font, SKRect area, IReadOnlyList<(double[] X, double[] Y, SKColor Color)> series, string label,
        bool markers = false)
    {
        using var axis = new SKPaint { Color = SKColors.Gray, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        c.DrawRect(area, axis);
        c.DrawText(label, area.Left + 6, area.Top + 16, font, ink);
        var finite = series.SelectMany(s => s.Y).Where(double.IsFinite).ToArray();
        var xs = series.SelectMany(s => s.X).ToArray();
        if (xs.Length == 0 || finite.Length == 0) return;
        double x0 = xs.Min(), x1 = Math.Max(xs.Max(), x0 + 1), y0 = finite.Min(), y1 = finite.Max();
        if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
        double margin = (y1 - y0) * 0.05;
        y0 -= margin;
        y1 += margin;
        float X(double v) => (float)(area.Left + (v - x0) / (x1 - x0) * area.Width);
        float Y(double v) => (float)(area.Bottom - (v - y0) / (y1 - y0) * area.Height);
        var inv = CultureInfo.InvariantCulture;
        for (int t = 0; t <= 4; t++)
        {
            double yv = y0 + (y1 - y0) * t / 4, xv = x0 + (x1 - x0) * t / 4;
            c.DrawText(yv.ToString(Math.Abs(yv) < 1e-2 && yv != 0 ? "0.0e0" : "0.###", inv), 4, Y(yv) + 4, font, ink);
            c.DrawText(xv.ToString(x1 - x0 < 10 ? "0.##" : "0", inv), X(xv) - 10, area.Bottom + 16, font, ink);
        }
        foreach (var (x, y, color) in series)
        {
            using var pen = new SKPaint { Color = color, Style = SKPaintStyle.Stroke, StrokeWidth = 1.5f, IsAntialias = true };
            using var path = new SKPath();
            bool open = false;
            for (int i = 0; i < y.Length; i++)
            {
                if (!double.IsFinite(y[i])) { open = false; continue; }
                if (!open) { path.MoveTo(X(x[i]), Y(y[i])); open = true; }
                else path.LineTo(X(x[i]), Y(y[i]));
            }
            if (y.Length == 1) c.DrawCircle(X(x[0]), Y(y[0]), 2, pen);
            if (markers)
                for (int i = 0; i < y.Length; i++)
                    if (double.IsFinite(y[i])) c.DrawCircle(X(x[i]), Y(y[i]), 3, pen);
            c.DrawPath(path, pen);
        }
    }
}
