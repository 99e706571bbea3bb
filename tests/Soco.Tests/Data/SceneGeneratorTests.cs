using System.Text.Json;
using Soco.Data;
using Soco.Data.Coco;
using Soco.Data.Scenes;
using Soco.Imaging;

namespace Soco.Tests.Data;

/// <summary>
/// `soco data scenes` (the transfer benchmark's data) on the real Fashion-MNIST files (Debian's dataset-fashion-mnist;
/// the test fails, naming the package, when they are missing): deterministic bytes, boxes tight around each item's
/// visible pixels, masks that are the item's own pixels and match the boxes, and splits with disjoint source items.
/// </summary>
public sealed class SceneGeneratorTests
{
    static readonly int[] Counts = [6, 4, 4];

    static FashionMnist Train => _train.Value;
    static FashionMnist Test => _test.Value;
    static readonly Lazy<FashionMnist> _train = new(() => Load(false));
    static readonly Lazy<FashionMnist> _test = new(() => Load(true));

    static FashionMnist Load(bool test)
    {
        Assert.True(Directory.Exists(FashionMnist.DefaultFolder), $"{FashionMnist.DefaultFolder} is missing: {FashionMnist.InstallHint}");
        return FashionMnist.Load(FashionMnist.DefaultFolder, test);
    }

    static SceneGenerator Generator(long seed) =>
        new(Train, Test, SceneSet.LoadBackgrounds(TestPaths.Photos).Take(4).ToList(), new SceneOptions(), seed, Counts[1]);

    [Fact]
    public void SameSeedGivesTheSameBytesWhateverTheWorkerCount()
    {
        using var dir = new TestPaths.TempDir();
        SceneSet.Write(FashionMnist.DefaultFolder, TestPaths.Photos, 7, Counts, new SceneOptions(), dir["a"], workers: 1);
        SceneSet.Write(FashionMnist.DefaultFolder, TestPaths.Photos, 7, Counts, new SceneOptions(), dir["b"], workers: 2);
        SceneSet.Write(FashionMnist.DefaultFolder, TestPaths.Photos, 8, Counts, new SceneOptions(), dir["c"], workers: 2);
        var files = Directory.EnumerateFiles(dir["a"], "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir["a"], f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Counts.Sum() + 4, files.Count);   // images, items.json, two instances.json, scenes.json
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(dir["a"], f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["b"], f))), $"{f} differs between two runs with seed 7");
        int differ = files.Count(f => f.EndsWith(".png", StringComparison.Ordinal) && !File.ReadAllBytes(Path.Combine(dir["a"], f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["c"], f))));
        Assert.Equal(Counts.Sum(), differ);   // another seed: every image differs

        // The COCO files read back without a skipped record, every image with at least one object.
        foreach (var split in new[] { "finetune", "eval" })
        {
            var gt = CocoInstancesReader.Read(Path.Combine(dir["a"], split, SceneSet.AnnotationsFile));
            Assert.Empty(gt.Skipped);
            Assert.Equal(10, gt.Categories.Count);
            Assert.All(gt.Images, im => Assert.Contains(gt.Annotations, a => a.ImageId == im.Id));
        }
    }

    [Fact]
    public void BoxesAreTightAndMasksAreTheItemsOwnVisiblePixels()
    {
        var gen = Generator(3);
        var o = gen.Options;
        int c = o.CanvasSize, checkedItems = 0, small = 0;
        foreach (var split in new[] { SceneGenerator.Split.Finetune, SceneGenerator.Split.Eval })
            for (int i = 0; i < 8; i++)
            {
                var scene = gen.Compose(split, i);
                var source = split == SceneGenerator.Split.Eval ? Test : Train;
                Assert.InRange(scene.Items.Count, 1, o.MaxItems);
                // Each item's own pixels, recomputed independently: the 28×28 item resized into its square, thresholded.
                var own = scene.Items.Select(it => OwnPixels(source, it, c, o.MaskThreshold)).ToList();
                for (int k = 0; k < scene.Items.Count; k++)
                {
                    var it = scene.Items[k];
                    Assert.Equal(source.Labels[it.SourceIndex], it.Label);
                    // Visible = own pixels not covered by a later item's own pixels.
                    var expected = own[k].Where(p => !own.Skip(k + 1).Any(later => later.Contains(p))).Order().ToArray();
                    Assert.Equal(expected, it.VisiblePixels);
                    Assert.True(it.VisiblePixels.Length >= o.MinVisible * own[k].Count - 1e-9, "an item lost more than the allowed share to later items");
                    // The box is the tight box of the visible pixels: each of its four edges touches one.
                    var (x, y, w, h) = it.Box(c);
                    var xs = it.VisiblePixels.Select(p => p % c).ToArray();
                    var ys = it.VisiblePixels.Select(p => p / c).ToArray();
                    Assert.Equal((xs.Min(), ys.Min(), xs.Max() - xs.Min() + 1, ys.Max() - ys.Min() + 1), (x, y, w, h));
                    Assert.True(x >= it.X && y >= it.Y && x + w <= it.X + it.Side && y + h <= it.Y + it.Side, "box outside the item's square");
                    // The mask written to COCO (uncompressed RLE, column-major) decodes to the same pixels.
                    var rle = SceneGenerator.Rle(it.VisiblePixels, c, c);
                    Assert.Equal(it.VisiblePixels, SceneGenerator.DecodeRle(rle, c, c).Order().ToArray());
                    if (it.VisiblePixels.Length < 32 * 32) small++;
                    checkedItems++;
                }
            }
        Assert.True(checkedItems >= 20, $"only {checkedItems} items checked");
        Assert.True(small > 0, "no small object (COCO area < 32²) among the scenes");
    }

    static HashSet<int> OwnPixels(FashionMnist source, SceneItem it, int canvas, int threshold)
    {
        var rgb = new RgbImage(FashionMnist.Side, FashionMnist.Side);
        var item = source.Item(it.SourceIndex);
        for (int i = 0; i < item.Length; i++) rgb.Pixels[3 * i] = rgb.Pixels[3 * i + 1] = rgb.Pixels[3 * i + 2] = item[i];
        var r = PilResize.Bilinear(rgb, it.Side, it.Side);
        var set = new HashSet<int>();
        for (int v = 0; v < it.Side; v++)
            for (int u = 0; u < it.Side; u++)
                if (r.Pixels[3 * (v * it.Side + u)] >= threshold) set.Add((it.Y + v) * canvas + it.X + u);
        return set;
    }

    [Fact]
    public void SplitsUseDisjointSourceItems()
    {
        using var dir = new TestPaths.TempDir();
        SceneSet.Write(FashionMnist.DefaultFolder, TestPaths.Photos, 5, Counts, new SceneOptions(), dir.Path, workers: 2);
        using var items = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "pretrain", SceneSet.ItemsFile)));
        var pretrain = items.RootElement.GetProperty("items").EnumerateArray().Select(e => e.GetInt32()).ToHashSet();
        var labels = items.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(pretrain.Order().Select(i => (int)Train.Labels[i]), labels);
        HashSet<int> Sources(string split)
        {
            using var d = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, split, SceneSet.AnnotationsFile)));
            return d.RootElement.GetProperty("annotations").EnumerateArray().Select(a => a.GetProperty("source_index").GetInt32()).ToHashSet();
        }
        var finetune = Sources("finetune");
        Assert.NotEmpty(pretrain);
        Assert.NotEmpty(finetune);
        Assert.Empty(pretrain.Intersect(finetune));   // both from the training file: disjoint indices
        // The held-out split draws from the test file (other physical items); the generator's pools say the same.
        var gen = Generator(5);
        Assert.Empty(gen.Pool(SceneGenerator.Split.Pretrain).Intersect(gen.Pool(SceneGenerator.Split.Finetune)));
        Assert.Equal(Test.Count, gen.Pool(SceneGenerator.Split.Eval).Count);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, SceneSet.ManifestFile)));
        Assert.Contains("eval: held-out, t10k file", manifest.RootElement.GetProperty("splits").GetString());
    }

    [Fact]
    public void MissingDatasetNamesThePackage()
    {
        using var dir = new TestPaths.TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path, test: false));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("train-images-idx3-ubyte", e.Message);
    }
}
