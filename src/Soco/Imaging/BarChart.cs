using System.Globalization;
using SkiaSharp;

namespace Soco.Imaging;

/// <summary>A grouped bar chart with ±1 standard deviation error bars (the transfer benchmark's results.png).</summary>
public static class BarChart
{
    static readonly SKColor[] Palette = [new(120, 120, 120), new(60, 130, 60), new(200, 120, 30), new(30, 80, 170), new(150, 40, 120), new(0, 150, 160)];

    /// <param name="groups">One group per metric (x axis).</param>
    /// <param name="series">One bar per series in every group: its means and standard deviations, in group order.</param>
    public static void Save(string path, string title, IReadOnlyList<string> groups, IReadOnlyList<(string Name, double[] Mean, double[] Std)> series)
    {
        const int w = 900, h = 480, left = 70, right = 20, top = 50, bottom = 70;
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var c = new SKCanvas(bmp))
        {
            c.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 13);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var axis = new SKPaint { Color = SKColors.Gray, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
            c.DrawText(title, 10, 22, font, ink);
            var area = new SKRect(left, top, w - right, h - bottom);
            c.DrawRect(area, axis);
            double max = series.SelectMany(s => s.Mean.Zip(s.Std, (m, d) => m + d)).Where(double.IsFinite).DefaultIfEmpty(1).Max();
            max = Math.Max(1e-9, max * 1.1);
            float Y(double v) => (float)(area.Bottom - Math.Max(0, v) / max * area.Height);
            var inv = CultureInfo.InvariantCulture;
            for (int t = 0; t <= 5; t++)
            {
                double v = max * t / 5;
                c.DrawLine(area.Left - 4, Y(v), area.Left, Y(v), axis);
                c.DrawText(v.ToString(max < 10 ? "0.###" : "0.#", inv), 8, Y(v) + 4, font, ink);
            }
            float groupW = area.Width / Math.Max(1, groups.Count);
            float barW = groupW * 0.8f / Math.Max(1, series.Count);
            for (int g = 0; g < groups.Count; g++)
            {
                float x0 = area.Left + g * groupW + groupW * 0.1f;
                c.DrawText(groups[g], x0 + groupW * 0.4f - 12, area.Bottom + 18, font, ink);
                for (int s = 0; s < series.Count; s++)
                {
                    double m = series[s].Mean[g], d = series[s].Std[g];
                    if (!double.IsFinite(m)) continue;
                    using var fill = new SKPaint { Color = Palette[s % Palette.Length], Style = SKPaintStyle.Fill };
                    float bx = x0 + s * barW;
                    c.DrawRect(new SKRect(bx + 1, Y(m), bx + barW - 1, area.Bottom), fill);
                    if (double.IsFinite(d) && d > 0)
                    {
                        float cx = bx + barW / 2;
                        c.DrawLine(cx, Y(m - d), cx, Y(m + d), ink);
                        c.DrawLine(cx - barW / 4, Y(m + d), cx + barW / 4, Y(m + d), ink);
                        c.DrawLine(cx - barW / 4, Y(m - d), cx + barW / 4, Y(m - d), ink);
                    }
                }
            }
            for (int s = 0; s < series.Count; s++)
            {
                using var fill = new SKPaint { Color = Palette[s % Palette.Length], Style = SKPaintStyle.Fill };
                float lx = left + s * 150;
                c.DrawRect(new SKRect(lx, h - 30, lx + 14, h - 16), fill);
                c.DrawText(series[s].Name, lx + 20, h - 18, font, ink);
            }
        }
        Drawing.SavePng(bmp, path);
    }
}
