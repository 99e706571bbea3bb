using System.Text.Json;
using Soco.Imaging;
using Soco.Interop;
using Soco.Runtime;
using Soco.Structures;
using Soco.Tests.Detection;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static Soco.Tests.Cli.CliRunner;

namespace Soco.Tests.Cli;

/// <summary>
/// Mask R-CNN through the commands a user runs: `soco import` of a torchvision <c>maskrcnn_resnet50_fpn_v2</c>
/// state_dict (its mask branch loaded), `soco detect` against torchvision's own boxes, labels, scores and masks, the
/// results' compressed RLE and the drawn masks. Fixtures: tests/fixtures/detection/detcli/maskrcnn_v2_seeded.pth and
/// golden_masks.pt, written by tools/mask_rcnn_fixtures.py (torchvision 0.14; the ResNet-50 layout at stem width 2,
/// FPN 16, 5 classes, short side 128 / max 200, seeded weights).
/// </summary>
[Collection("torch")]
public class MaskDetectCliTests
{
    readonly ITestOutputHelper log;

    public MaskDetectCliTests(ITestOutputHelper log)
    {
        this.log = log;
        TorchRuntime.SetThreads(1);
    }

    /// <summary>Scores closer than this are compared as a set (our scores agree with torchvision's to ~1.5e-5).</summary>
    const double ScoreTie = 3e-5;

    static string Fx(string name) => TestPaths.Fixture("detection", "detcli", name);

    internal sealed record Result(string ImageId, long Category, double[] Bbox, double Score, Rle? Mask);

    internal static List<Result> ReadResults(string path) =>
        JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray().Select(e =>
        {
            Rle? mask = null;
            if (e.TryGetProperty("segmentation", out var s))
            {
                var size = s.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray();
                mask = Rle.FromCountsString(s.GetProperty("counts").GetString()!, size[0], size[1]);
            }
            return new Result(e.GetProperty("image_id").GetString()!, e.GetProperty("category_id").GetInt64(),
                e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray(), e.GetProperty("score").GetDouble(), mask);
        }).ToList();

    /// <summary>Torchvision's detections of photo <paramref name="i"/> in a golden fixture (tools/mask_rcnn_fixtures.py,
    /// tools/torch_mask_rcnn_reference.py): boxes (x1, y1, x2, y2 each), scores, labels, the photo's size, and the
    /// binary masks and near-threshold pixels packed per detection (<see cref="GoldenMask"/>).</summary>
    internal static (float[] Boxes, float[] Scores, long[] Labels, int Height, int Width, byte[] Masks, byte[] Near) GoldenPhoto(DetectionFixture golden, int i)
    {
        var shape = golden[$"mask_shape.{i}"].data<long>().ToArray();
        return (golden[$"boxes.{i}"].data<float>().ToArray(), golden[$"scores.{i}"].data<float>().ToArray(),
            golden[$"labels.{i}"].data<long>().ToArray(), (int)shape[1], (int)shape[2],
            golden[$"masks.{i}"].data<byte>().ToArray(), golden[$"near.{i}"].data<byte>().ToArray());
    }

    /// <summary>Golden mask k of an image: numpy.packbits of the row-major H×W mask (most significant bit first).</summary>
    internal static byte[] GoldenMask(byte[] packed, int k, int h, int w)
    {
        int rowBytes = (h * w + 7) / 8;
        var m = new byte[h * w];
        for (int j = 0; j < m.Length; j++) m[j] = (byte)((packed[k * rowBytes + j / 8] >> (7 - j % 8)) & 1);
        return m;
    }

    /// <summary>How our detections of one photo compare with torchvision's (golden_detections of
    /// tools/mask_rcnn_fixtures.py).</summary>
    internal sealed record MaskComparison(double BoxDiff, double ScoreDiff, double WorstIou, double WorstLargeIou, int Below, int Differing, string Line);

    /// <summary>
    /// Pairs our detections of photo <paramref name="i"/> (results-JSON image id <paramref name="stem"/>) with
    /// torchvision's in its order (scores within <paramref name="scoreTie"/> as sets, <see cref="RankMatching"/>) and
    /// compares their masks. Asserts: every detection has a mask of the photo's size, the masks cover pixels, and every
    /// mask of ≥ 100 pixels has IoU ≥ 0.99 with torchvision's (one pixel moves a smaller mask below that); with
    /// <paramref name="onlyThresholdPixelsDiffer"/>, a differing pixel must be one whose torchvision probability lies
    /// within 1e-3 of the 0.5 threshold (where float32 summation order decides its side).
    /// </summary>
    internal static MaskComparison CompareWithTorchvision(List<Result> all, DetectionFixture golden, int i, string stem, double scoreTie, bool onlyThresholdPixelsDiffer)
    {
        var ours = all.Where(r => r.ImageId == stem).ToList();
        var (boxes, scores, labels, h, w, packed, nearPacked) = GoldenPhoto(golden, i);
        // Detections compared in torchvision's order; where consecutive scores lie within the scores' float32
        // agreement (scoreTie, exact ties included) their order is rounding, and they are paired as a set.
        var (picks, bd, groups) = RankMatching.Match(scores, labels, boxes,
            ours.Select(r => (r.Category, new[] { r.Bbox[0], r.Bbox[1], r.Bbox[0] + r.Bbox[2], r.Bbox[1] + r.Bbox[3] })).ToList(), scoreTie, stem);
        double sd = 0, worstIou = 1, worstLargeIou = 1;
        long pixels = 0;
        int below = 0, differing = 0, atThreshold = 0;
        for (int k = 0; k < scores.Length; k++)
        {
            int pick = picks[k];
            sd = Math.Max(sd, Math.Abs(ours[pick].Score - scores[k]));
            var mine = ours[pick].Mask ?? throw new Xunit.Sdk.XunitException($"{stem} detection {k} has no segmentation");
            Assert.Equal((h, w), (mine.Height, mine.Width));
            var theirs = GoldenMask(packed, k, h, w);
            var near = GoldenMask(nearPacked, k, h, w);
            var ourPixels = mine.Decode();
            long inter = 0, union = 0;
            for (int p = 0; p < theirs.Length; p++)
            {
                inter += theirs[p] & ourPixels[p];
                union += theirs[p] | ourPixels[p];
                if (theirs[p] != ourPixels[p])
                {
                    Assert.True(!onlyThresholdPixelsDiffer || near[p] == 1, $"{stem} detection {k}: pixel ({p % w}, {p / w}) differs from torchvision's and is not at the threshold");
                    differing++;
                    atThreshold += near[p];
                }
            }
            double iou = union == 0 ? 1 : (double)inter / union;
            pixels += union;
            worstIou = Math.Min(worstIou, iou);
            if (iou < 0.99) below++;
            if (union >= 100)
            {
                Assert.True(iou >= 0.99, $"{stem} detection {k} (label {labels[k]}, score {scores[k]}): mask IoU {iou:F4} with torchvision's ({union} pixels)");
                worstLargeIou = Math.Min(worstLargeIou, iou);
            }
        }
        Assert.True(pixels > 1000, $"{stem}: the masks cover only {pixels} pixels; the comparison would be empty");
        string line = $"{stem} ({w}×{h}): all {scores.Length} detections with torchvision's labels in its order ({groups} groups of scores within {scoreTie:E0} compared as sets); boxes max |diff| {bd:E2} px, scores {sd:E2}; " +
            $"mask IoU ≥ 0.99 for {scores.Length - below} of {scores.Length} (worst {worstIou:F4}; masks of ≥ 100 pixels worst {worstLargeIou:F4}), {differing} pixels differ, {atThreshold} of them at the threshold";
        return new MaskComparison(bd, sd, worstIou, worstLargeIou, below, differing, line);
    }

    [Fact]
    public void ImportedMaskRcnnDetectsTorchvisionsBoxesAndMasks()
    {
        using var dir = new TestPaths.TempDir();
        string model = dir["mask.model.pth"];
        var imported = Ok("import", "--from", Fx("maskrcnn_v2_seeded.pth"), "--out", model, "--min-size", "128", "--max-size", "200");
        Assert.Contains("Mask R-CNN", imported);
        Assert.True(DetectorModelFile.Load(model).Config.MaskOn);
        string photos = dir["photos"];
        Directory.CreateDirectory(photos);
        foreach (var f in new[] { "dog.png", "horses.png" }) File.Copy(Fx(f), Path.Combine(photos, f));
        Ok("detect", "--checkpoint", model, "--image", photos, "--out", dir["out"]);
        var all = ReadResults(Path.Combine(dir["out"], "results.json"));

        using var golden = new DetectionFixture(Path.Combine("detcli", "golden_masks.pt"));
        string[] stems = ["dog", "horses"];
        for (int i = 0; i < 2; i++)
        {
            var c = CompareWithTorchvision(all, golden, i, stems[i], ScoreTie, onlyThresholdPixelsDiffer: true);
            Assert.True(c.BoxDiff <= 1e-3, $"{stems[i]}: boxes differ from torchvision's by {c.BoxDiff:E2} px");
            Assert.True(c.ScoreDiff <= 1e-4, $"{stems[i]}: scores differ from torchvision's by {c.ScoreDiff:E2}");
            log.WriteLine(c.Line);
        }

        // The picture: the best detection's mask is blended into the photo inside its region, not only on its outline.
        var src = ImageDecoder.Decode(Fx("dog.png"));
        var drawn = ImageDecoder.Decode(Path.Combine(dir["out"], "dog.png"));
        var top = all.First(r => r.ImageId == "dog");
        var m = top.Mask!.Decode();
        int changed = 0, inside = 0;
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < src.Width; x++)
            {
                if (m[y * src.Width + x] == 0) continue;
                // away from the drawn outlines: skip the box border pixels (stroke 2)
                if (Math.Abs(x - top.Bbox[0]) < 3 || Math.Abs(y - top.Bbox[1]) < 3 || Math.Abs(x - top.Bbox[0] - top.Bbox[2]) < 3 || Math.Abs(y - top.Bbox[1] - top.Bbox[3]) < 3) continue;
                inside++;
                int a = src.Index(x, y), b = drawn.Index(x, y + 22);
                if (src.Pixels[a] != drawn.Pixels[b] || src.Pixels[a + 1] != drawn.Pixels[b + 1] || src.Pixels[a + 2] != drawn.Pixels[b + 2]) changed++;
            }
        Assert.True(inside > 0);
        Assert.True(changed > inside / 2, $"only {changed} of {inside} mask pixels are tinted in the picture");
    }

    [Fact]
    public void ModelFileThatKeptTheMaskBranchNowLoadsIt()
    {
        // A Mask R-CNN imported before the mask branch existed: the box detector with the mask tensors kept under
        // torchvision's names. Loading it now gives the Mask R-CNN, with the same weights as a fresh import.
        using var dir = new TestPaths.TempDir();
        string fresh = dir["fresh.pth"];
        Ok("import", "--from", Fx("maskrcnn_v2_seeded.pth"), "--out", fresh, "--min-size", "128", "--max-size", "200");
        var d = DetectorModelFile.Load(fresh);
        using var state = new DetectionFixture(Path.Combine("detcli", "maskrcnn_v2_seeded.pth"));
        var kept = state.Keys.Where(TorchvisionDetectorState.IsMaskKey).ToDictionary(k => k, k => state[k]);
        Assert.Equal(28, kept.Count);
        var boxOnly = d.State.Where(kv => !kv.Key.StartsWith("roi_heads.mask_head.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        string old = dir["old.pth"];
        DetectorModelFile.Save(old, d with { Config = d.Config with { MaskOn = false }, State = boxOnly, Kept = kept });
        var upgraded = DetectorModelFile.Load(old);
        Assert.True(upgraded.Config.MaskOn);
        Assert.Empty(upgraded.Kept);
        Assert.Equal(d.State.Keys.Order(), upgraded.State.Keys.Order());
        foreach (var (k, t) in d.State) Assert.True(t.equal(upgraded.State[k]).all().item<bool>(), k);
        Ok("detect", "--checkpoint", old, "--image", Fx("horses.png"), "--out", dir["a.json"]);
        Ok("detect", "--checkpoint", fresh, "--image", Fx("horses.png"), "--out", dir["b.json"]);
        Assert.Equal(File.ReadAllBytes(dir["b.json"]), File.ReadAllBytes(dir["a.json"]));
    }
}
