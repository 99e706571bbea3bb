using Soco.Data;
using Soco.Geometry;
using Soco.Imaging;
using Soco.Proposals;

using Soco.Tests.Imaging.Reference;

namespace Soco.Tests.Data;

/// <summary>Shared inputs: sample photos and their proposals (ratio3size0308post from `soco demo`, committed as a fixture).</summary>
public static class ViewsTestData
{
    static readonly Lazy<Dictionary<string, List<double[]>>> Json = new(() =>
    {
        var d = new Dictionary<string, List<double[]>>();
        ProposalJson.Read(TestPaths.Fixture("views", "proposals_ratio3size0308post.json"), (k, v) => d[k] = v);
        return d;
    });
    static readonly Dictionary<string, RgbImage> Images = new();

    public static RgbImage Photo(string name)
    {
        lock (Images)
        {
            if (!Images.TryGetValue(name, out var img)) Images[name] = img = ImageDecoder.Decode(TestPaths.Photo(name));
            return img;
        }
    }

    public static ProposalBoxes Proposals(string photo)
    {
        var img = Photo(photo);
        var rects = Json.Value[ImageSources.KeyOf(photo)].Select(r => (r[0], r[1], r[2], r[3])).ToList();
        return ProposalBoxes.Prepare(rects, img.Width, img.Height);
    }

    public static readonly string[] Photos = ["dog.jpg", "chelsea.png", "apple.jpg", "giraffe.jpg", "orange.jpg", "messi5.jpg"];
}

public class ViewsPipelineTests
{
    static SocoSample Build(ViewRecipe recipe, string photo, int index, bool color = false, long seed = 0, int epoch = 0) =>
        new ViewSampleBuilder(recipe, color, keepDetails: true)
            .Build(ViewsTestData.Photo(photo), ViewsTestData.Proposals(photo), SampleRandom.For(seed, epoch, index), index);

    public static TheoryData<string> RecipeNames() => new()
    {
        "ImageAsymBboxCutout", "ImageAsymBboxAwareMultiJitter1", "ImageAsymBboxAwareMultiJitter1Cutout",
        "ImageAsymBboxAwareMulti3ResizeExtraJitter1", "fpn+PaperV3",
    };

    [Theory]
    [MemberData(nameof(RecipeNames))]
    public void ShapesFollowTheSpec(string name)
    {
        var recipe = ViewRecipe.ByName(name);
        var s = Build(recipe, "dog.jpg", 3, color: true);
        int[] expectedSizes = recipe.Name switch
        {
            "ImageAsymBboxCutout" => [224, 224],
            "ImageAsymBboxAwareMulti3ResizeExtraJitter1" => [224, 224, 192, 112],
            _ => [224, 224, 112],
        };
        Assert.Equal(expectedSizes, s.Sizes);
        for (int v = 0; v < s.Images.Length; v++) Assert.Equal(3 * s.Sizes[v] * s.Sizes[v], s.Images[v].Length);
        Assert.Equal(expectedSizes.Length - 1, s.Pairs.Length);
        int m = recipe.AwareLevels ? 16 : 4;
        foreach (var p in s.Pairs)
        {
            Assert.Equal(4 * 5, p.Boxes1.Length);
            Assert.Equal(4 * 5, p.BoxesK.Length);
            Assert.Equal(m * m, p.Correspondence.Length);
            Assert.All(p.Boxes1.Concat(p.BoxesK), f => Assert.True(float.IsFinite(f)));
        }
        Assert.All(s.Images.SelectMany(x => x), f => Assert.InRange(f, -2.2f, 2.7f));
    }

    [Fact]
    public void RecipesResolveByOfficialNamesAndAliases()
    {
        Assert.Same(ViewRecipe.C4, ViewRecipe.ByName("ImageFolderImageAsymBboxCutout"));
        Assert.Same(ViewRecipe.FpnStar, ViewRecipe.ByName("fpn-star"));
        Assert.Equal("ImageAsymBboxAwareMultiJitter1Cutout+PaperV3", ViewRecipe.ByName("ImageAsymBboxAwareMultiJitter1Cutout+PaperV3").Name);
        var ex = Assert.Throws<ArgumentException>(() => ViewRecipe.ByName("nope"));
        Assert.Contains("ImageAsymBboxCutout", ex.Message);
        Assert.Throws<InvalidOperationException>(() => ViewRecipe.C4.WithPaperV3());
    }

    /// <summary>Corresponding boxes of two views cover the same image content: back-projected to the image, the partner's box is the proposal inside its crop.</summary>
    [Theory]
    [MemberData(nameof(RecipeNames))]
    public void CorrespondingBoxesBackProjectToTheSameProposal(string name)
    {
        var recipe = ViewRecipe.ByName(name);
        int checkedBoxes = 0;
        foreach (var photo in ViewsTestData.Photos)
        {
            var props = ViewsTestData.Proposals(photo).Boxes.ToDictionary(b => b.Id);
            for (int index = 0; index < 4; index++)
            {
                var s = Build(recipe, photo, index);
                var d = s.Details!;
                foreach (var pair in d.Pairs)
                {
                    var t1 = d.Views[0].Transform;
                    var tk = d.Views[pair.View - 1].Transform;
                    for (int b = 0; b < pair.NormK.Count; b++)
                    {
                        var backK = tk.BackProject(pair.NormK[b]);
                        if (pair.FellBackK)
                        {
                            Assert.Equal(tk.Crop.Rect with { Id = 1 }, Round(backK));
                            continue;
                        }
                        var expected = props[backK.Id].Intersect(tk.Crop.Rect);
                        Assert.Equal(expected, Round(backK));
                        checkedBoxes++;
                        // V1's box with the same id: the same proposal (jittered in FPN) over the whole image.
                        foreach (var nb in pair.Norm1.Where(x => x.Id == backK.Id))
                        {
                            var back1 = t1.BackProject(nb);
                            if (!recipe.Jitter) Assert.Equal(props[nb.Id], Round(back1));
                            else Assert.True(back1.OverlapsStrictly(props[nb.Id]), $"{photo}: jittered V1 box {back1} left proposal {props[nb.Id]}");
                        }
                    }
                    // The correspondence pairs exactly the boxes with equal ids.
                    var c = s.Pairs.First(p => p.View == pair.View).Correspondence;
                    if (!recipe.AwareLevels)
                        for (int a = 0; a < 4; a++)
                            for (int b = 0; b < 4; b++)
                                Assert.Equal(pair.Boxes1[a].Id == pair.BoxesK[b].Id ? 1f : 0f, c[a * 4 + b]);
                }
            }
        }
        Assert.True(checkedBoxes > 50, $"only {checkedBoxes} boxes checked");
    }

    static Box Round(Box b) => new(Math.Round(b.X1, 6), Math.Round(b.Y1, 6), Math.Round(b.X2, 6), Math.Round(b.Y2, 6), b.Id);

    [Theory]
    [InlineData("ImageAsymBboxAwareMultiJitter1")]
    [InlineData("ImageAsymBboxAwareMulti3ResizeExtraJitter1")]
    public void LevelsAndAwareCorrespondenceFollowThresholdsAndSentinels(string name)
    {
        var recipe = ViewRecipe.ByName(name);
        var levelsSeen = new HashSet<int>();
        foreach (var photo in ViewsTestData.Photos)
            for (int index = 0; index < 4; index++)
            {
                var s = Build(recipe, photo, index);
                foreach (var pair in s.Details!.Pairs)
                {
                    var t1 = s.Details.Views[0].Transform with { Flipped = false };
                    var tk = s.Details.Views[pair.View - 1].Transform with { Flipped = false };
                    for (int b = 0; b < 4; b++)
                    {
                        Assert.Equal(ExpectedLevel(t1.IntResized(pair.Boxes1[b])), pair.Levels1[b]);
                        Assert.Equal(ExpectedLevel(tk.IntResized(pair.BoxesK[b])), pair.LevelsK[b]);
                        levelsSeen.Add(pair.LevelsK[b]);
                    }
                    for (int a = 0; a < 16; a++)
                    {
                        int lv = a / 4, b = a % 4;
                        Assert.Equal(pair.Levels1[b] == lv ? pair.Boxes1[b].Id : -1, pair.Assign1[a]);
                        Assert.Equal(pair.LevelsK[b] == lv ? pair.BoxesK[b].Id : -pair.View, pair.AssignK[a]);
                    }
                    var c = s.Pairs.First(p => p.View == pair.View).Correspondence;
                    for (int a = 0; a < 16; a++)
                        for (int b = 0; b < 16; b++)
                            Assert.Equal(pair.Assign1[a] == pair.AssignK[b] ? 1f : 0f, c[a * 16 + b]);
                    // Every V1 box whose id the partner holds matches at least once; sentinel slots never match.
                    for (int b = 0; b < 4; b++)
                    {
                        int row = pair.Levels1[b] * 4 + b;
                        Assert.True(c.Skip(row * 16).Take(16).Sum() >= 1);
                    }
                }
            }
        Assert.True(levelsSeen.Count >= 3, $"levels seen: {string.Join(",", levelsSeen)}");
    }

    static int ExpectedLevel((int X1, int Y1, int X2, int Y2) b)
    {
        double size = Math.Sqrt((b.X2 - b.X1 + 1.0) * (b.Y2 - b.Y1 + 1.0));
        return size <= 48 ? 0 : size <= 96 ? 1 : size <= 192 ? 2 : 3;
    }

    [Fact]
    public void PaddingOnlyRepeatsCommonBoxes()
    {
        int padded = 0;
        foreach (var recipe in ViewRecipe.All)
            foreach (var photo in new[] { "apple.jpg", "orange.jpg", "chelsea.png", "messi5.jpg" }) // few proposals → padding
                for (int index = 0; index < 6; index++)
                {
                    var s = Build(recipe, photo, index);
                    foreach (var pair in s.Details!.Pairs)
                    {
                        var common = pair.Boxes1.Select(b => b.Id).Intersect(pair.BoxesK.Select(b => b.Id)).ToHashSet();
                        foreach (var list in new[] { pair.Boxes1, pair.BoxesK })
                        {
                            Assert.Equal(4, list.Count);
                            var firstSeen = new HashSet<Box>();
                            foreach (var b in list)
                                if (!firstSeen.Add(b)) { Assert.Contains(b.Id, common); padded++; }
                        }
                    }
                }
        Assert.True(padded > 10, $"only {padded} padded rows seen");
    }

    [Fact]
    public void ImageWithoutProposalsFallsBackToTheWholeImage()
    {
        var img = ViewsTestData.Photo("dog.jpg");
        var none = ProposalBoxes.Prepare(Array.Empty<ProposalRect>(), img.Width, img.Height);
        Assert.True(none.WholeImage);
        Assert.Equal([new Box(0, 0, img.Width - 1, img.Height - 1, 1)], none.Boxes);
        foreach (var recipe in ViewRecipe.All)
        {
            var s = new ViewSampleBuilder(recipe, color: false, keepDetails: true).Build(img, none, SampleRandom.For(1, 2, 3), 3);
            Assert.True(s.Details!.Accepted);
            foreach (var pair in s.Details.Pairs)
            {
                // The whole-image proposal is a proposal like any other: FPN recipes jitter V1's copy (then clip it).
                if (!recipe.Jitter) Assert.All(pair.Boxes1, b => Assert.Equal(new Box(0, 0, img.Width - 1, img.Height - 1, 1), b));
                else Assert.All(pair.Boxes1, b => Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= img.Width - 1 && b.Y2 <= img.Height - 1 && b.Width > img.Width * 0.75));
                Assert.All(pair.BoxesK, b => Assert.Equal(s.Details.Views[pair.View - 1].Transform.WholeView(1), b));
                Assert.All(pair.NormK.Concat(pair.Norm1), b => Assert.Equal(1, b.Id));
            }
            Assert.All(s.Pairs, p => Assert.Equal(16, p.Correspondence.Count(x => x == 1)));
        }
    }

    [Fact]
    public void RetryExhaustedFallsBackToWholeViewsWithId1()
    {
        var img = ViewsTestData.Photo("chelsea.png");
        // A one-pixel proposal at the corner never overlaps a crop strictly: every try selects nothing.
        var corner = ProposalBoxes.Prepare([(0.0, 0.0, 1.0, 1.0)], img.Width, img.Height);
        foreach (var recipe in ViewRecipe.All)
        {
            var s = new ViewSampleBuilder(recipe, color: false, keepDetails: true).Build(img, corner, SampleRandom.For(0, 0, 9), 9);
            Assert.Equal(5, s.Details!.Tries);
            Assert.False(s.Details.Accepted);
            foreach (var pair in s.Details.Pairs)
            {
                var tk = s.Details.Views[pair.View - 1].Transform;
                Assert.True(pair.FellBack1 && pair.FellBackK);
                Assert.All(pair.Boxes1, b => Assert.Equal(new Box(0, 0, img.Width - 1, img.Height - 1, 1), b));
                Assert.All(pair.BoxesK, b => Assert.Equal(tk.WholeView(1), b));
                var c = s.Pairs.First(p => p.View == pair.View).Correspondence;
                Assert.Equal(16, c.Count(x => x == 1)); // 4 × 4 copies of id 1 (at one level each when aware)
            }
        }
    }

    [Fact]
    public void CutoutOnlyInsideBoxesAndNeverOnV1()
    {
        int squares = 0;
        foreach (var recipe in new[] { ViewRecipe.C4, ViewRecipe.FpnCutout })
            foreach (var photo in ViewsTestData.Photos)
                for (int index = 0; index < 3; index++)
                {
                    var s = Build(recipe, photo, index);
                    for (int v = 0; v < s.Images.Length; v++)
                    {
                        var d = s.Details!.Views[v];
                        int size = s.Sizes[v];
                        var clean = new float[3 * size * size];
                        ColorOpsReference.ToNormalizedTensor(d.Image, clean);   // the oracle checked against torchvision (ViewsColorTests)
                        var changed = Enumerable.Range(0, clean.Length).Where(i => clean[i] != s.Images[v][i]).ToList();
                        if (v == 0 || !recipe.Views[v].Cutout)
                        {
                            Assert.Empty(changed);
                            Assert.Empty(d.Cutouts);
                            continue;
                        }
                        var boxes = s.Details.Pairs.First(p => p.View == v + 1).NormK;
                        foreach (var q in d.Cutouts)
                        {
                            squares++;
                            var b = boxes[q.Box];
                            int bx1 = (int)Math.Floor(b.X1 * size), bx2 = (int)Math.Floor(b.X2 * size);
                            int by1 = (int)Math.Floor(b.Y1 * size), by2 = (int)Math.Floor(b.Y2 * size);
                            // The square is centred in its box (clipping to the view can only cut it).
                            double half = Math.Max(q.X2 - q.X1, q.Y2 - q.Y1) / 2.0;
                            Assert.True(q.X1 <= bx2 && q.X2 >= bx1 && q.Y1 <= by2 && q.Y2 >= by1, $"square {q} misses its box {b}");
                            Assert.True(q.X1 >= bx1 - half - 1 && q.X2 <= bx2 + half + 1 && q.Y1 >= by1 - half - 1 && q.Y2 <= by2 + half + 1, $"square {q} far from its box {b}");
                        }
                        int plane = size * size;
                        foreach (int i in changed)
                        {
                            Assert.Equal(0f, s.Images[v][i]);
                            int x = i % plane % size, y = i % plane / size;
                            Assert.Contains(d.Cutouts, q => x >= q.X1 && x <= q.X2 && y >= q.Y1 && y <= q.Y2);
                        }
                    }
                }
        Assert.True(squares > 10, $"only {squares} cutouts fired");
    }

    [Fact]
    public void SameSeedEpochIndexGivesIdenticalTensors()
    {
        foreach (var recipe in new[] { ViewRecipe.FpnCutout, ViewRecipe.FpnStar })
        {
            var a = Build(recipe, "giraffe.jpg", 17, color: true, seed: 5, epoch: 2);
            var b = Build(recipe, "giraffe.jpg", 17, color: true, seed: 5, epoch: 2);
            var c = Build(recipe, "giraffe.jpg", 17, color: true, seed: 5, epoch: 3);
            for (int v = 0; v < a.Images.Length; v++) Assert.Equal(a.Images[v], b.Images[v]);
            for (int p = 0; p < a.Pairs.Length; p++)
            {
                Assert.Equal(a.Pairs[p].Boxes1, b.Pairs[p].Boxes1);
                Assert.Equal(a.Pairs[p].BoxesK, b.Pairs[p].BoxesK);
                Assert.Equal(a.Pairs[p].Correspondence, b.Pairs[p].Correspondence);
            }
            Assert.NotEqual(a.Images[1], c.Images[1]);
        }
    }

    /// <summary>PIL's <c>Image.crop((x, y, x + w, y + h))</c> for a crop inside the image: the rows copied.</summary>
    static RgbImage CropPixels(RgbImage src, int x, int y, int w, int h)
    {
        Assert.True(x >= 0 && y >= 0 && x + w <= src.Width && y + h <= src.Height);
        var px = new byte[w * h * 3];
        for (int r = 0; r < h; r++) Array.Copy(src.Pixels, ((y + r) * src.Width + x) * 3, px, r * w * 3, w * 3);
        return new RgbImage(w, h, px);
    }

    [Fact]
    public void FpnStarV4ReusesPair12()
    {
        for (int index = 0; index < 4; index++)
        {
            var s = Build(ViewRecipe.FpnStar, "dog.jpg", index);
            var d = s.Details!;
            var p12 = d.Pairs.First(p => p.View == 2);
            var p14 = d.Pairs.First(p => p.View == 4);
            Assert.Equal(p12.Boxes1, p14.Boxes1);
            Assert.Equal(p12.BoxesK, p14.BoxesK);
            Assert.Equal(d.Views[1].Transform.Crop, d.Views[3].Transform.Crop);
            Assert.Equal(112, d.Views[3].Transform.Size);
            // Same normalised boxes as V2 up to each view's own flip.
            for (int b = 0; b < 4; b++)
            {
                var n2 = d.Views[1].Transform.Flipped ? p12.NormK[b].FlipHorizontal() : p12.NormK[b];
                var n4 = d.Views[3].Transform.Flipped ? p14.NormK[b].FlipHorizontal() : p14.NormK[b];
                Assert.Equal(n2.X1, n4.X1, 12);
                Assert.Equal(n2.X2, n4.X2, 12);
            }
            // V4's pixels are V2's un-flipped, un-coloured pixels resized to 112. Expected pixels from the oracles, not
            // from the code under test: torchvision's resized_crop as PIL does it (crop, then BILINEAR resize of the
            // crop) with the scalar PilResizeReference, which PilResizeTests holds bit-exact to PIL.
            var crop = d.Views[1].Transform.Crop;
            var v2 = PilResizeReference.Bilinear(CropPixels(ViewsTestData.Photo("dog.jpg"), crop.J, crop.I, crop.W, crop.H), 224, 224);
            var v4 = PilResizeReference.Bilinear(v2, 112, 112);
            if (d.Views[3].Transform.Flipped) ColorOpsReference.FlipHorizontal(v4);
            Assert.Equal(v4.Pixels, d.Views[3].Image.Pixels);
        }
    }

    [Fact]
    public void BadProposalsAreDroppedOrClippedWithAClearWarning()
    {
        var p = ProposalBoxes.Prepare([(double.NaN, 0, 10, 10), (5, 5, -3, 10), (1000, 1000, 50, 50), (-20, -10, 60, 40), (10, 10, 20, 20)], 200, 100);
        Assert.False(p.WholeImage);
        Assert.Equal([new Box(0, 0, 39, 29, 4), new Box(10, 10, 29, 29, 5)], p.Boxes);
        Assert.Contains("dropped 2 invalid (NaN, negative or empty size) and 1 outside the 200×100 image proposal(s)", p.Warning);
        Assert.Contains("clipped 1", p.Warning);
        var allBad = ProposalBoxes.Prepare([(double.PositiveInfinity, 0, 1, 1)], 20, 10);
        Assert.True(allBad.WholeImage);
        Assert.NotNull(allBad.Warning);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(17, 5)]
    public void ImageSmallerThanTheViewsStillGivesASample(int w, int h)
    {
        var img = new RgbImage(w, h);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)(i * 37);
        var props = ProposalBoxes.Prepare([(0.0, 0.0, (double)w, (double)h)], w, h);
        foreach (var recipe in ViewRecipe.All)
        {
            var s = new ViewSampleBuilder(recipe, color: true).Build(img, props, SampleRandom.For(0, 0, 0), 0);
            Assert.All(s.Pairs, p => Assert.All(p.Boxes1.Concat(p.BoxesK), f => Assert.True(float.IsFinite(f))));
            Assert.All(s.Images, t => Assert.All(t, f => Assert.True(float.IsFinite(f))));
        }
    }
}
