using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Soco.Imaging;
using Soco.IO;

namespace Soco.Data.Scenes;

/// <summary>How scenes are composed (docs/transfer-benchmark.md §Scenes). Defaults are the benchmark's.</summary>
public sealed record SceneOptions
{
    /// <summary>Side of the square canvas, pixels.</summary>
    public int CanvasSize { get; init; } = 160;
    public int MinItems { get; init; } = 2;
    public int MaxItems { get; init; } = 6;
    /// <summary>Side range of a placed item's 28×28 square, drawn log-uniformly (small items as often per octave as large).</summary>
    public int MinSide { get; init; } = 12;
    public int MaxSide { get; init; } = 80;
    /// <summary>Largest IoU between a new item's box and any placed one.</summary>
    public double MaxBoxIou { get; init; } = 0.2;
    /// <summary>Smallest share of an item's own pixels that stay visible after later items cover it.</summary>
    public double MinVisible { get; init; } = 0.7;
    /// <summary>A resized item pixel belongs to the item (its mask) when its grey value is at least this.</summary>
    public int MaskThreshold { get; init; } = 32;
    /// <summary>Placement attempts per item before it is left out.</summary>
    public int Attempts { get; init; } = 30;

    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"scene options: {what}"); }
        Need(CanvasSize >= 32, $"canvas size {CanvasSize} must be ≥ 32");
        Need(MinItems >= 1 && MaxItems >= MinItems, $"items per scene {MinItems}–{MaxItems}: need 1 ≤ min ≤ max");
        Need(MinSide >= 4 && MaxSide >= MinSide && MaxSide <= CanvasSize, $"item sides {MinSide}–{MaxSide}: need 4 ≤ min ≤ max ≤ canvas {CanvasSize}");
        Need(MaxBoxIou is >= 0 and <= 1 && MinVisible is > 0 and <= 1, "max box IoU in [0, 1], min visible in (0, 1]");
        Need(MaskThreshold is >= 1 and <= 255, "mask threshold in 1–255");
        Need(Attempts >= 1, "attempts ≥ 1");
    }
}

/// <summary>One placed item: its Fashion-MNIST index and label, the square it was drawn into, and its visible pixels.</summary>
public sealed record SceneItem(int SourceIndex, int Label, int X, int Y, int Side, int[] VisiblePixels)
{
    /// <summary>Tight box around the visible pixels: x, y (first column / row), w, h (pixel counts).</summary>
    public (int X, int Y, int W, int H) Box(int canvas)
    {
        int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
        foreach (int p in VisiblePixels)
        {
            int x = p % canvas, y = p / canvas;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
        return (x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    }
}

public sealed record Scene(RgbImage Image, IReadOnlyList<SceneItem> Items);

/// <summary>
/// Multi-object scenes from real Fashion-MNIST items over crops of real photos, with exact boxes and instance masks
/// (docs/transfer-benchmark.md §Scenes). Everything a scene holds comes from a generator seeded by (seed, split,
/// scene index): the same arguments give the same bytes, whatever the worker count.
/// </summary>
public sealed class SceneGenerator
{
    public enum Split { Pretrain = 0, Finetune = 1, Eval = 2 }

    public static readonly string[] SplitNames = ["pretrain", "finetune", "eval"];

    readonly FashionMnist _train, _test;
    readonly IReadOnlyList<RgbImage> _backgrounds;
    readonly int[][] _pools;

    public SceneGenerator(FashionMnist train, FashionMnist test, IReadOnlyList<RgbImage> backgrounds, SceneOptions options, long seed, int finetuneScenes)
    {
        options.Validate();
        if (backgrounds.Count == 0) throw new ArgumentException("no background photos");
        _train = train;
        _test = test;
        _backgrounds = backgrounds;
        Options = options;
        Seed = seed;
        // Disjoint source items: the training file's items, shuffled by the seed, are cut into a fine-tuning pool (just
        // large enough for its scenes) and a pretraining pool (the rest); the evaluation split draws from the test file.
        var order = Enumerable.Range(0, train.Count).ToArray();
        SampleRandom.For(seed, 1_000_003, 0).Shuffle(order);
        int ft = Math.Clamp(finetuneScenes * options.MaxItems, 1, train.Count / 2);
        var evalOrder = Enumerable.Range(0, test.Count).ToArray();
        SampleRandom.For(seed, 1_000_003, 1).Shuffle(evalOrder);
        _pools = [order[ft..], order[..ft], evalOrder];
    }

    public SceneOptions Options { get; }
    public long Seed { get; }

    /// <summary>The source items (indices into the split's IDX file) the split can draw from.</summary>
    public IReadOnlyList<int> Pool(Split split) => _pools[(int)split];

    FashionMnist Source(Split split) => split == Split.Eval ? _test : _train;

    /// <summary>Scene <paramref name="index"/> of <paramref name="split"/>.</summary>
    public Scene Compose(Split split, int index)
    {
        var o = Options;
        int c = o.CanvasSize;
        var rnd = SampleRandom.For(Seed, (long)split, index);
        var image = Background(rnd.Fork(1), c);
        var place = rnd.Fork(2);
        var pool = _pools[(int)split];
        var source = Source(split);
        int count = place.RandInt(o.MinItems, o.MaxItems);
        var owner = new int[c * c];
        Array.Fill(owner, -1);
        var items = new List<(int Src, int X, int Y, int Side, List<int> Own, (int X0, int Y0, int X1, int Y1) Box)>();
        var visible = new List<int>();
        for (int k = 0; k < count; k++)
        {
            // Item k of scene i is always the same pool entry, so a scene never depends on the scenes before it.
            int src = pool[(int)(((long)index * o.MaxItems + k) % pool.Length)];
            for (int attempt = 0; attempt < o.Attempts; attempt++)
            {
                int side = (int)Math.Round(Math.Exp(place.Uniform(Math.Log(o.MinSide), Math.Log(o.MaxSide + 1))));
                side = Math.Clamp(side, o.MinSide, o.MaxSide);
                int x = place.RandInt(0, c - side), y = place.RandInt(0, c - side);
                var grey = Resized(source.Item(src), side, side);
                var own = new List<int>();
                int bx0 = int.MaxValue, by0 = int.MaxValue, bx1 = -1, by1 = -1;
                for (int v = 0; v < side; v++)
                    for (int u = 0; u < side; u++)
                        if (grey[v * side + u] >= o.MaskThreshold)
                        {
                            own.Add((y + v) * c + x + u);
                            bx0 = Math.Min(bx0, x + u); bx1 = Math.Max(bx1, x + u);
                            by0 = Math.Min(by0, y + v); by1 = Math.Max(by1, y + v);
                        }
                if (own.Count < 16 || bx1 - bx0 < 3 || by1 - by0 < 3) continue;
                var box = (bx0, by0, bx1, by1);
                if (items.Any(it => Iou(it.Box, box) > o.MaxBoxIou)) continue;
                // Covering: every earlier item must keep MinVisible of its own pixels.
                var covered = new Dictionary<int, int>();
                foreach (int p in own)
                    if (owner[p] >= 0) covered[owner[p]] = covered.GetValueOrDefault(owner[p]) + 1;
                if (covered.Any(kv => visible[kv.Key] - kv.Value < o.MinVisible * items[kv.Key].Own.Count)) continue;
                foreach (var kv in covered) visible[kv.Key] -= kv.Value;
                int id = items.Count;
                Paint(image, grey, side, x, y, place.Fork((ulong)(100 + k)));
                foreach (int p in own) owner[p] = id;
                items.Add((src, x, y, side, own, box));
                visible.Add(own.Count);
                break;
            }
        }
        var result = new List<SceneItem>(items.Count);
        for (int id = 0; id < items.Count; id++)
        {
            var it = items[id];
            result.Add(new SceneItem(it.Src, source.Labels[it.Src], it.X, it.Y, it.Side, it.Own.Where(p => owner[p] == id).Order().ToArray()));
        }
        return new Scene(image, result);
    }

    /// <summary>Draws an item's mask pixels (grey ≥ threshold) at (x, y) in a random colour, shaded by the item's own grey values.</summary>
    void Paint(RgbImage image, byte[] grey, int side, int x, int y, SampleRandom tint)
    {
        byte r = (byte)tint.RandInt(40, 255), g = (byte)tint.RandInt(40, 255), b = (byte)tint.RandInt(40, 255);
        var px = image.Pixels;
        for (int v = 0; v < side; v++)
            for (int u = 0; u < side; u++)
            {
                int gv = grey[v * side + u];
                if (gv < Options.MaskThreshold) continue;
                int p = ((y + v) * image.Width + x + u) * 3;
                // 30 % of the colour where the item is dark, all of it where it is bright: the photo's shading stays visible.
                double f = 0.3 + 0.7 * gv / 255.0;
                px[p] = (byte)Math.Round(r * f);
                px[p + 1] = (byte)Math.Round(g * f);
                px[p + 2] = (byte)Math.Round(b * f);
            }
    }

    /// <summary>
    /// One training item (index into the training file) alone on a <paramref name="size"/>² background crop, 40–100 %
    /// of the side, at a random place: the supervised arm's classification images (the ImageNet analogue of this benchmark).
    /// </summary>
    public RgbImage ItemImage(int sourceIndex, SampleRandom rnd, int size)
    {
        var image = Background(rnd.Fork(1), size);
        var place = rnd.Fork(2);
        int side = Math.Clamp((int)Math.Round(size * place.Uniform(0.4, 1.0)), 4, size);
        int x = place.RandInt(0, size - side), y = place.RandInt(0, size - side);
        Paint(image, Resized(_train.Item(sourceIndex), side, side), side, x, y, place.Fork(3));
        return image;
    }

    static double Iou((int X0, int Y0, int X1, int Y1) a, (int X0, int Y0, int X1, int Y1) b)
    {
        double iw = Math.Min(a.X1, b.X1) - Math.Max(a.X0, b.X0) + 1, ih = Math.Min(a.Y1, b.Y1) - Math.Max(a.Y0, b.Y0) + 1;
        if (iw <= 0 || ih <= 0) return 0;
        double inter = iw * ih, aa = (a.X1 - a.X0 + 1.0) * (a.Y1 - a.Y0 + 1), ab = (b.X1 - b.X0 + 1.0) * (b.Y1 - b.Y0 + 1);
        return inter / (aa + ab - inter);
    }

    /// <summary>The 28×28 item resized (PIL bilinear) to w×h grey values.</summary>
    static byte[] Resized(ReadOnlySpan<byte> item, int w, int h)
    {
        var rgb = new RgbImage(FashionMnist.Side, FashionMnist.Side);
        for (int i = 0; i < item.Length; i++) rgb.Pixels[3 * i] = rgb.Pixels[3 * i + 1] = rgb.Pixels[3 * i + 2] = item[i];
        var r = PilResize.Bilinear(rgb, w, h);
        var g = new byte[w * h];
        for (int i = 0; i < g.Length; i++) g[i] = r.Pixels[3 * i];
        return g;
    }

    /// <summary>A random square crop (30–100 % of the photo's short side) of a random background photo, resized to the canvas.</summary>
    RgbImage Background(SampleRandom rnd, int size)
    {
        var photo = _backgrounds[rnd.NextInt(_backgrounds.Count)];
        int shortSide = Math.Min(photo.Width, photo.Height);
        int side = Math.Max(1, (int)Math.Round(shortSide * rnd.Uniform(0.3, 1.0)));
        int x = rnd.RandInt(0, photo.Width - side), y = rnd.RandInt(0, photo.Height - side);
        return PilResize.Bilinear(photo, x, y, x + side, y + side, size, size);
    }

    /// <summary>COCO's uncompressed RLE of a set of pixels of a canvas: column-major runs, starting with a (possibly empty) run of zeros.</summary>
    public static List<long> Rle(IEnumerable<int> pixels, int width, int height)
    {
        var set = new bool[width * height];
        foreach (int p in pixels) set[p] = true;
        var counts = new List<long>();
        bool current = false;
        long run = 0;
        for (int x = 0; x < width; x++)
            for (int y = 0; y < height; y++)
            {
                bool v = set[y * width + x];
                if (v != current)
                {
                    counts.Add(run);
                    run = 0;
                    current = v;
                }
                run++;
            }
        counts.Add(run);
        return counts;
    }

    /// <summary>The pixel indices (row-major) an uncompressed RLE covers.</summary>
    public static List<int> DecodeRle(IReadOnlyList<long> counts, int width, int height)
    {
        var result = new List<int>();
        long pos = 0;
        for (int i = 0; i < counts.Count; i++)
        {
            if (i % 2 == 1)
                for (long k = pos; k < pos + counts[i]; k++) result.Add((int)(k % height) * width + (int)(k / height));
            pos += counts[i];
        }
        if (pos != (long)width * height) throw new InvalidDataException($"RLE covers {pos} pixels, the image has {width * height}");
        return result;
    }
}

/// <summary>What <c>soco data scenes</c> wrote.</summary>
public sealed record SceneSetSummary(string Folder, int[] Scenes, int[] Items, int[] PoolSizes, bool Reused);

/// <summary>Writes the three splits of a scene set to a folder (docs/transfer-benchmark.md §Scenes).</summary>
public static class SceneSet
{
    public const string ManifestFile = "scenes.json";
    public const string AnnotationsFile = "instances.json";
    public const string ItemsFile = "items.json";
    public const string ImagesFolder = "images";

    /// <summary>Background photos of a folder (PNG/JPEG, sorted by name).</summary>
    public static List<RgbImage> LoadBackgrounds(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"backgrounds folder {folder} not found");
        var files = Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase)
            || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new ArgumentException($"backgrounds folder {folder} holds no .jpg or .png photo");
        return files.Select(f => ImageDecoder.Decode(f)).ToList();
    }

    /// <summary>
    /// Generates (or reuses, when <see cref="ManifestFile"/> records the same request) <c>pretrain/</c> (images and
    /// <see cref="ItemsFile"/>: the source items and their labels, for supervised pretraining; no boxes),
    /// <c>finetune/</c> and <c>eval/</c> (images and COCO <see cref="AnnotationsFile"/> with boxes and RLE masks).
    /// </summary>
    public static SceneSetSummary Write(string source, string backgrounds, long seed, int[] counts, SceneOptions options, string outDir, int workers = 1,
        Action<int>? progress = null)
    {
        options.Validate();
        if (counts.Length != 3 || counts.Any(n => n < 1)) throw new ArgumentException("scene counts (pretrain, finetune, eval) must each be ≥ 1");
        string request = JsonSerializer.Serialize(new { seed, counts, options, backgrounds = Path.GetFileName(Path.GetFullPath(backgrounds).TrimEnd('/')) });
        string manifest = Path.Combine(outDir, ManifestFile);
        if (File.Exists(manifest) && JsonNode.Parse(File.ReadAllText(manifest))?["request"]?.GetValue<string>() == request)
        {
            var m = JsonNode.Parse(File.ReadAllText(manifest))!;
            return new SceneSetSummary(outDir, counts, m["items"]!.Deserialize<int[]>()!, m["pools"]!.Deserialize<int[]>()!, true);
        }
        var train = FashionMnist.Load(source, test: false);
        var test = FashionMnist.Load(source, test: true);
        var gen = new SceneGenerator(train, test, LoadBackgrounds(backgrounds), options, seed, counts[1]);
        var itemCounts = new int[3];
        int done = 0;
        for (int s = 0; s < 3; s++)
        {
            var split = (SceneGenerator.Split)s;
            string dir = Path.Combine(outDir, SceneGenerator.SplitNames[s]);
            string images = Path.Combine(dir, ImagesFolder);
            Directory.CreateDirectory(images);
            var scenes = new (string File, List<SceneItem> Items)[counts[s]];
            Parallel.For(0, counts[s], new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers) }, i =>
            {
                var scene = gen.Compose(split, i);
                string file = $"{SceneGenerator.SplitNames[s]}_{i:D6}.png";
                using (var bmp = Drawing.ToBitmap(scene.Image)) Drawing.SavePng(bmp, Path.Combine(images, file));
                scenes[i] = (file, scene.Items.ToList());
                progress?.Invoke(Interlocked.Increment(ref done));
            });
            itemCounts[s] = scenes.Sum(x => x.Items.Count);
            if (split == SceneGenerator.Split.Pretrain)
                AtomicFile.WriteAllText(Path.Combine(dir, ItemsFile), ItemsJson(scenes.SelectMany(x => x.Items).Select(it => it.SourceIndex).Distinct().Order().ToList(), train));
            else
                AtomicFile.WriteAllText(Path.Combine(dir, AnnotationsFile), CocoJson(scenes, options.CanvasSize));
        }
        var pools = Enumerable.Range(0, 3).Select(s => gen.Pool((SceneGenerator.Split)s).Count).ToArray();
        var node = new JsonObject
        {
            ["request"] = request,
            ["seed"] = seed,
            ["source"] = Path.GetFullPath(source),
            ["backgrounds"] = Path.GetFullPath(backgrounds),
            ["scenes"] = JsonSerializer.SerializeToNode(counts),
            ["items"] = JsonSerializer.SerializeToNode(itemCounts),
            ["pools"] = JsonSerializer.SerializeToNode(pools),
            ["splits"] = "pretrain: unlabelled images (items.json: their source items and labels, train file); finetune: labelled, train file (disjoint items); eval: held-out, t10k file",
        };
        AtomicFile.WriteAllText(manifest, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new SceneSetSummary(outDir, counts, itemCounts, pools, false);
    }

    static string ItemsJson(List<int> items, FashionMnist train)
    {
        var o = new JsonObject
        {
            ["file"] = "train",
            ["class_names"] = JsonSerializer.SerializeToNode(FashionMnist.ClassNames),
            ["items"] = JsonSerializer.SerializeToNode(items),
            ["labels"] = JsonSerializer.SerializeToNode(items.Select(i => (int)train.Labels[i]).ToArray()),
        };
        return o.ToJsonString();
    }

    static string CocoJson((string File, List<SceneItem> Items)[] scenes, int canvas)
    {
        var sb = new StringBuilder();
        sb.Append("{\"info\":{\"description\":\"SoCo.NET Fashion-MNIST scenes\"},\"images\":[");
        for (int i = 0; i < scenes.Length; i++)
            sb.Append(i > 0 ? "," : "").Append(FormattableString.Invariant($"{{\"id\":{i + 1},\"file_name\":\"{scenes[i].File}\",\"width\":{canvas},\"height\":{canvas}}}"));
        sb.Append("],\"categories\":[");
        for (int k = 0; k < FashionMnist.ClassNames.Length; k++)
            sb.Append(k > 0 ? "," : "").Append(FormattableString.Invariant($"{{\"id\":{k + 1},\"name\":{JsonSerializer.Serialize(FashionMnist.ClassNames[k])},\"supercategory\":\"fashion\"}}"));
        sb.Append("],\"annotations\":[");
        long id = 0;
        for (int i = 0; i < scenes.Length; i++)
            foreach (var it in scenes[i].Items)
            {
                var (x, y, w, h) = it.Box(canvas);
                var rle = SceneGenerator.Rle(it.VisiblePixels, canvas, canvas);
                sb.Append(id > 0 ? "," : "").Append(FormattableString.Invariant(
                    $"{{\"id\":{++id},\"image_id\":{i + 1},\"category_id\":{it.Label + 1},\"bbox\":[{x},{y},{w},{h}],\"area\":{it.VisiblePixels.Length},\"iscrowd\":0,\"source_index\":{it.SourceIndex},") +
                    $"\"segmentation\":{{\"size\":[{canvas},{canvas}],\"counts\":[{string.Join(",", rle)}]}}}}");
            }
        sb.Append("]}");
        return sb.ToString();
    }
}
