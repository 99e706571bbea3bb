using System.CommandLine;
using System.Text;
using SkiaSharp;
using Soco.Data;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Cli.Commands;

/// <summary>`soco views`: one sample of a view recipe drawn to a PNG (every view, its boxes, ids and pyramid levels), correspondences printed.</summary>
public static class ViewsCommand
{
    static readonly SKColor[] PairColors = [new(40, 255, 40), new(255, 200, 0), new(0, 200, 255), new(255, 80, 255)];

    public static Command Build()
    {
        var image = new Option<string>("--image") { Description = "The image", Required = true };
        var proposals = new Option<string?>("--proposals") { Description = "Proposal store to take the image's proposals from (default: none → the whole image)" };
        var recipe = new Option<string>("--recipe")
        {
            Description = "View recipe: ImageAsymBboxCutout (c4), ImageAsymBboxAwareMultiJitter1 (fpn), ImageAsymBboxAwareMultiJitter1Cutout (fpn-cutout), " +
                          "ImageAsymBboxAwareMulti3ResizeExtraJitter1 (fpn-star); add +PaperV3 for the paper's V3",
            DefaultValueFactory = _ => "fpn",
        };
        var seed = new Option<long>("--seed") { Description = "Run seed", DefaultValueFactory = _ => 0 };
        var epoch = new Option<int>("--epoch") { Description = "Epoch (the draws depend on seed, epoch and index)", DefaultValueFactory = _ => 0 };
        var index = new Option<int>("--index") { Description = "Sample index", DefaultValueFactory = _ => 0 };
        var noColor = new Option<bool>("--no-color") { Description = "Skip the colour pipelines (geometry only)" };
        var output = new Option<string>("--out") { Description = "PNG to write", Required = true };
        var cmd = new Command("views", "Draw one training sample of a view recipe: every view with its boxes, ids and pyramid levels; print the correspondences")
            { image, proposals, recipe, seed, epoch, index, noColor, output };
        cmd.Add(Bench());
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            Out.Text.WriteLine(Render(p.GetValue(image)!, p.GetValue(proposals), ViewRecipe.ByName(p.GetValue(recipe)!), p.GetValue(seed), p.GetValue(epoch),
                p.GetValue(index), !p.GetValue(noColor), p.GetValue(output)!));
            return 0;
        }));
        return cmd;
    }

    /// <summary>`soco views bench`: samples/s of a recipe on one thread (decoding included), then the loader's scaling with worker threads.</summary>
    static Command Bench()
    {
        var images = new Option<string>("--images") { Description = "Images (folder, zip or list)", Required = true };
        var proposals = new Option<string?>("--proposals") { Description = "Proposal store (default: whole images)" };
        var recipe = new Option<string>("--recipe") { Description = "View recipe", DefaultValueFactory = _ => "fpn" };
        var passes = new Option<int>("--passes") { Description = "Passes over the images for the one-thread timing", DefaultValueFactory = _ => 3 };
        var workers = new Option<string>("--workers") { Description = "Worker counts to time the loader with, comma-separated", DefaultValueFactory = _ => "1,2" };
        var batch = new Option<int>("--batch") { Description = "Loader batch size", DefaultValueFactory = _ => 8 };
        var epochs = new Option<int>("--epochs") { Description = "Loader epochs per worker count", DefaultValueFactory = _ => 3 };
        var cmd = new Command("bench", "Time a view recipe: samples/s on one thread, then the threaded loader (batches as tensors)")
            { images, proposals, recipe, passes, workers, batch, epochs };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            Soco.Runtime.TorchRuntime.SetThreads(1);
            using var source = ImageSources.Open(p.GetValue(images)!);
            var index = p.GetValue(proposals) is { } dir ? ProposalStore.Open(dir).LoadIndex() : null;
            var ds = new SocoDataset(source, index, ViewRecipe.ByName(p.GetValue(recipe)!), seed: 0, log: l => Out.ErrorText.WriteLine(l));
            for (int i = 0; i < ds.Count; i++) ds.Get(i, -1); // warm-up: one pass, so the timing sees optimised (tier-1) code
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int n = 0;
            for (int pass = 0; pass < p.GetValue(passes); pass++)
                for (int i = 0; i < ds.Count; i++, n++) ds.Get(i, pass);
            double oneSeconds = sw.Elapsed.TotalSeconds, one = n / oneSeconds;
            // Where the time goes: decoding alone, then the view pipeline on decoded images (with and without colour).
            var decoded = source.Entries.Select(e => source.Decode(e)).ToArray();
            var boxes = source.Entries.Select((e, i) => ProposalBoxes.FromRecord(index?.GetValueOrDefault(e.Key), decoded[i].Width, decoded[i].Height)).ToArray();
            sw.Restart();
            for (int pass = 0; pass < p.GetValue(passes); pass++) foreach (var e in source.Entries) source.Decode(e);
            double decodeS = sw.Elapsed.TotalSeconds / n;
            double ViewsOnly(bool color)
            {
                var builder = new ViewSampleBuilder(ds.Recipe, color);
                var w = System.Diagnostics.Stopwatch.StartNew();
                for (int pass = 0; pass < p.GetValue(passes); pass++)
                    for (int i = 0; i < decoded.Length; i++) builder.Build(decoded[i], boxes[i], SampleRandom.For(0, pass, i), i);
                return w.Elapsed.TotalSeconds / n;
            }
            double viewsS = ViewsOnly(true), geomS = ViewsOnly(false);
            Out.Text.WriteLine($"per sample: decode {decodeS * 1e3:F2} ms, views {viewsS * 1e3:F2} ms (of which colour {(viewsS - geomS) * 1e3:F2} ms)");
            Out.Text.WriteLine($"{{\"impl\": \"dotnet\", \"recipe\": \"{ds.Recipe.Name}\", \"samples\": {n}, \"seconds\": {oneSeconds:F3}, \"per_second\": {one:F2}}}");
            foreach (var w in p.GetValue(workers)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
            {
                var loader = new SocoLoader(ds, new EpochSampler(ds.Count, Math.Min(p.GetValue(batch), ds.Count), seed: 0), new LoaderOptions { Workers = w });
                long rss0 = Environment.WorkingSet;
                var t = System.Diagnostics.Stopwatch.StartNew();
                int samples = 0;
                var rss = new List<long>();
                for (int e = 0; e < p.GetValue(epochs); e++)
                {
                    foreach (var b in loader.Epoch(e))
                        using (b) samples += b.Count;
                    rss.Add(Environment.WorkingSet / (1 << 20));
                }
                Out.Text.WriteLine($"loader workers {w}: {samples / t.Elapsed.TotalSeconds:F2} samples/s ({samples} samples, batch {loader.Sampler.BatchSize}); " +
                                      $"RSS by epoch MB: {rss0 / (1 << 20)} → {string.Join(", ", rss)}");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Builds the sample, writes the PNG, returns the text report.</summary>
    internal static string Render(string imagePath, string? storeDir, ViewRecipe recipe, long seed, int epoch, int index, bool color, string output)
    {
        var img = ImageDecoder.Decode(imagePath);
        string key = ImageSources.KeyOf(imagePath);
        var report = new StringBuilder();
        ProposalRecord? record = null;
        if (storeDir is not null && !ProposalStore.Open(storeDir).LoadIndex().TryGetValue(key, out record))
            report.AppendLine($"warning: {storeDir} has no proposals for '{key}': using the whole image");
        var boxes = ProposalBoxes.FromRecord(record, img.Width, img.Height);
        if (boxes.Warning is not null) report.AppendLine($"warning: {boxes.Warning}");
        var sample = new ViewSampleBuilder(recipe, color, keepDetails: true).Build(img, boxes, SampleRandom.For(seed, epoch, index), index);
        var d = sample.Details!;

        report.AppendLine($"{Path.GetFileName(imagePath)} {img.Width}×{img.Height}, {boxes.Boxes.Count} proposal(s){(boxes.WholeImage ? " (whole image)" : "")}; " +
                          $"recipe {recipe.Name}, seed {seed}, epoch {epoch}, index {index}; " +
                          $"{d.Tries} tr{(d.Tries == 1 ? "y" : "ies")}{(d.Accepted ? "" : ", no try had enough proposals: whole-view fallback")}");
        const int scale = 2;
        var panels = new List<SKBitmap>();
        try
        {
            for (int v = 0; v < d.Views.Count; v++)
            {
                var view = d.Views[v];
                int s = sample.Sizes[v];
                var shown = PilResize.Bilinear(Denormalize(sample.Images[v], s), s * scale, s * scale);
                var draw = new List<DrawBox>();
                for (int pi = 0; pi < d.Pairs.Count; pi++)
                {
                    var pair = d.Pairs[pi];
                    var col = PairColors[pi % PairColors.Length];
                    if (v == 0) draw.AddRange(Boxes(pair.Norm1, pair.Levels1, recipe.AwareLevels, s, col, $"{pair.View}:"));
                    else if (pair.View == v + 1) draw.AddRange(Boxes(pair.NormK, pair.LevelsK, recipe.AwareLevels, s, col, ""));
                }
                var t = view.Transform;
                string caption = $"V{v + 1} {s}px " + (v == 0 ? "whole" : recipe.Views[v].Kind == ViewKind.ResizeOf ? $"= V{recipe.Views[v].Source}↓{s}" :
                    $"crop {t.Crop.W}×{t.Crop.H}@({t.Crop.J},{t.Crop.I})") + (t.Flipped ? " flip" : "");
                panels.Add(Drawing.Render(shown, draw.Select(b => b with { X1 = b.X1 * scale, Y1 = b.Y1 * scale, X2 = b.X2 * scale, Y2 = b.Y2 * scale }), caption));
                report.AppendLine($"V{v + 1}: {s}×{s}, crop {t.Crop}, {(t.Flipped ? "flipped" : "not flipped")}" +
                                  (view.Color.Count > 0 ? $", colour: {string.Join(", ", view.Color)}" : color ? ", colour: none drawn" : "") +
                                  (view.Cutouts.Count > 0 ? $", cutout {string.Join(" ", view.Cutouts.Select(q => $"[{q.X1},{q.Y1},{q.X2},{q.Y2}]"))}" : ""));
            }
            foreach (var pair in d.Pairs)
            {
                var pb = sample.Pairs.First(x => x.View == pair.View);
                report.AppendLine($"pair (1,{pair.View}): {pair.Selected} selected; V1 ids [{string.Join(", ", pair.Norm1.Select(b => b.Id))}]" +
                                  (recipe.AwareLevels ? $" levels [{string.Join(", ", pair.Levels1.Select(l => "P" + (l + 2)))}]" : "") +
                                  $"; V{pair.View} ids [{string.Join(", ", pair.NormK.Select(b => b.Id))}]" +
                                  (recipe.AwareLevels ? $" levels [{string.Join(", ", pair.LevelsK.Select(l => "P" + (l + 2)))}]" : "") +
                                  (pair.FellBack1 || pair.FellBackK ? " (whole-view fallback)" : ""));
                int m = recipe.CorrespondenceSize;
                report.AppendLine($"  C1{pair.View} ({m}×{m}; rows: V1 {(recipe.AwareLevels ? "level·L + box" : "box")}, columns: V{pair.View}):");
                for (int a = 0; a < m; a++)
                {
                    var row = new StringBuilder("    ");
                    for (int b = 0; b < m; b++) row.Append(pb.Correspondence[a * m + b] != 0 ? "1 " : "· ");
                    if (recipe.AwareLevels) row.Append($" P{a / recipe.PaddingK + 2} box {a % recipe.PaddingK}" + (pair.Assign1[a] < 0 ? "" : $" id {pair.Assign1[a]}"));
                    report.AppendLine(row.ToString().TrimEnd());
                }
            }
            using var sheet = Compose(panels);
            Drawing.SavePng(sheet, output);
        }
        finally
        {
            foreach (var b in panels) b.Dispose();
        }
        report.Append($"wrote {output}");
        return report.ToString();
    }

    static IEnumerable<DrawBox> Boxes(IReadOnlyList<Geometry.NormBox> boxes, int[] levels, bool aware, int size, SKColor color, string prefix)
    {
        var seen = new HashSet<Geometry.NormBox>();
        for (int b = 0; b < boxes.Count; b++)
        {
            var n = boxes[b];
            bool dup = !seen.Add(n);
            string label = $"{prefix}{n.Id}" + (aware ? $" P{levels[b] + 2}" : "") + (dup ? " (pad)" : "");
            yield return new DrawBox((float)(n.X1 * size), (float)(n.Y1 * size), (float)(n.X2 * size), (float)(n.Y2 * size), color, dup ? 1 : 2, dup ? null : label);
        }
    }

    /// <summary>A normalised CHW tensor back to 8-bit RGB (so cutouts show as the mean colour).</summary>
    static RgbImage Denormalize(float[] chw, int size)
    {
        var img = new RgbImage(size, size);
        int plane = size * size;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
            {
                double v = (chw[c * plane + i] * ColorOps.ImageNetStd[c] + ColorOps.ImageNetMean[c]) * 255;
                img.Pixels[3 * i + c] = (byte)Math.Clamp(Math.Round(v), 0, 255);
            }
        return img;
    }

    static SKBitmap Compose(List<SKBitmap> panels)
    {
        const int gap = 8;
        int w = panels.Sum(p => p.Width) + gap * (panels.Count - 1), h = panels.Max(p => p.Height);
        var sheet = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(sheet);
        canvas.Clear(new SKColor(32, 32, 32));
        int x = 0;
        foreach (var p in panels)
        {
            canvas.DrawBitmap(p, x, 0);
            x += p.Width + gap;
        }
        canvas.Flush();
        return sheet;
    }
}
