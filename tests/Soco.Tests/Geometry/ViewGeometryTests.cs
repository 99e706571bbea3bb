using Soco.Data;
using Soco.Geometry;
using Soco.Imaging;

namespace Soco.Tests.Geometry;

public class ViewGeometryTests
{
    [Theory]
    [InlineData(640, 480, 0.5)]
    [InlineData(300, 451, 0.6)]
    [InlineData(7, 5, 0.5)]
    [InlineData(1, 1, 0.5)]
    [InlineData(1000, 3, 0.5)]
    public void RandomResizedCropStaysInsideTheImageAndInRange(int w, int h, double scale)
    {
        var rng = SampleRandom.FromSeed(7);
        for (int k = 0; k < 500; k++)
        {
            var c = CropParams.RandomResized(rng, w, h, scale, 1.0);
            Assert.True(c.W >= 1 && c.H >= 1 && c.J >= 0 && c.I >= 0 && c.J + c.W <= w && c.I + c.H <= h, c.ToString());
            Assert.Equal((h, w), (c.ImageH, c.ImageW));
        }
    }

    [Fact]
    public void RandomResizedCropFallsBackToTorchvisionsCentralCrop()
    {
        // A 1000×10 strip cannot hold any crop of ratio ≤ 4/3 with area ≥ 0.9·10000 → central crop h = 10, w = round(13.33) = 13.
        var c = CropParams.RandomResized(SampleRandom.FromSeed(1), 1000, 10, 0.9, 1.0);
        Assert.Equal(new CropParams(0, (1000 - 13) / 2, 10, 13, 10, 1000), c);
        // A tall strip: w = W, h = round(W / (3/4)).
        Assert.Equal(new CropParams((1000 - 13) / 2, 0, 13, 10, 1000, 10), CropParams.CentralFallback(10, 1000));
        Assert.Equal(CropParams.Whole(50, 40), CropParams.CentralFallback(50, 40));
    }

    [Fact]
    public void RandomResizedCropAreaAndRatioFollowTheDistribution()
    {
        var rng = SampleRandom.FromSeed(3);
        double sumScale = 0;
        int n = 2000;
        for (int k = 0; k < n; k++)
        {
            var c = CropParams.RandomResized(rng, 1000, 1000, 0.5, 1.0);
            double ratio = (double)c.W / c.H;
            Assert.InRange(ratio, 0.74, 1.35);
            sumScale += (double)c.W * c.H / 1e6;
        }
        // E[U(0.5, 1)] = 0.75 before rejection; large areas with ratio ≠ 1 do not fit a square image and are redrawn.
        Assert.InRange(sumScale / n, 0.66, 0.72);
    }

    [Fact]
    public void ClipNormalizeFlipFollowTheSpec()
    {
        var t = new ViewTransform(new CropParams(I: 10, J: 20, H: 100, W: 200, ImageH: 300, ImageW: 400), 224);
        // Strict overlap: a box touching the crop's left edge column (x2 == 20) does not overlap.
        Assert.Null(t.ClipToView(new Box(0, 50, 20, 60, 3)));
        var c = t.ClipToView(new Box(0, 50, 21, 60, 3))!.Value;
        Assert.Equal(new Box(0, 40, 1, 50, 3), c);
        var n = t.Normalize(c);
        Assert.Equal(new NormBox(0, 0.4, 1 / 200.0, 0.5, 3), n);
        var f = (t with { Flipped = true }).ApplyBox(c);
        Assert.Equal(1 - 1 / 200.0, f.X1, 12);
        Assert.Equal(1.0, f.X2, 12);
        Assert.Equal(n.Y1, f.Y1);
        // Whole view: [0, 0, (w−1)/w, (h−1)/h].
        var whole = t.Normalize(t.WholeView());
        Assert.Equal(new NormBox(0, 0, 199 / 200.0, 99 / 100.0, 1), whole);
        // Int-resized: truncation of x·S/w.
        Assert.Equal((0, 89, 1, 112), t.IntResized(new Box(0, 40, 1, 50, 3)));
        // Back-projection inverts the box mapping, flipped or not.
        foreach (bool flip in new[] { false, true })
        {
            var tf = t with { Flipped = flip };
            var back = tf.BackProject(tf.ApplyBox(c));
            Assert.Equal(c.Translate(20, 10), back);
        }
    }

    [Fact]
    public void LevelsFollowAwareRangeThresholds()
    {
        static int L(int side) => Correspondence.Level((0, 0, side - 1, side - 1));
        Assert.Equal(0, L(1));
        Assert.Equal(0, L(48));
        Assert.Equal(1, L(49));
        Assert.Equal(1, L(96));
        Assert.Equal(2, L(97));
        Assert.Equal(2, L(192));
        Assert.Equal(3, L(193));
        Assert.Equal(3, L(224));
        // sqrt of the area: 24×96 → 48 → P2; 25×96 → 48.98 → P3.
        Assert.Equal(0, Correspondence.Level((0, 0, 23, 95)));
        Assert.Equal(1, Correspondence.Level((0, 0, 24, 95)));
    }

    [Fact]
    public void AwareCorrespondenceUsesSentinelsAndLevels()
    {
        int[] ids1 = [3, 5, 3, 7], lv1 = [0, 1, 0, 3];
        int[] idsK = [5, 3, 7, 7], lvK = [2, 0, 3, 1];
        var a1 = Correspondence.Assign(ids1, lv1, 1);
        var aK = Correspondence.Assign(idsK, lvK, 3);
        Assert.Equal(16, a1.Length);
        Assert.Equal(3, a1[0 * 4 + 0]);
        Assert.Equal(5, a1[1 * 4 + 1]);
        Assert.Equal(7, a1[3 * 4 + 3]);
        Assert.Equal(16 - 4, a1.Count(x => x == -1));
        Assert.Equal(16 - 4, aK.Count(x => x == -3));
        var c = Correspondence.Aware(a1, aK);
        var ones = Enumerable.Range(0, 256).Where(i => c[i] == 1).Select(i => (i / 16, i % 16)).ToHashSet();
        // id 3: V1 slots (0,0),(0,2) → level 0 → rows 0, 2; Vk id 3 at box 1 level 0 → column 1.
        // id 5: row 1·4+1 = 5; Vk box 0 level 2 → column 8.  id 7: row 15; Vk boxes 2 (level 3 → 14) and 3 (level 1 → 7).
        Assert.Equal(new HashSet<(int, int)> { (0, 1), (2, 1), (5, 8), (15, 14), (15, 7) }, ones);
        // Plain C4 matrix: duplicates give several ones per row.
        var p = Correspondence.Plain(ids1, idsK);
        Assert.Equal(new float[] { 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1 }, p);
    }

    [Fact]
    public void SelectionAndPaddingFollowTheSpec()
    {
        var rng = SampleRandom.FromSeed(11);
        var props = Enumerable.Range(1, 10).Select(i => new Box(i * 10, 0, i * 10 + 30, 30, i)).ToList();
        var overlap = ProposalSelection.Overlap(CropParams.Whole(200, 100), new CropParams(0, 50, 50, 40, 100, 200));
        Assert.Equal(new Box(50, 0, 89, 49, 0), overlap);
        var cands = ProposalSelection.Candidates(props, overlap);
        // Strict: box [x, x+30] overlaps [50, 89] iff 50 < x+30 and x < 89 → x ∈ {30,…,80} → ids 3…8.
        Assert.Equal([3, 4, 5, 6, 7, 8], cands.Select(b => b.Id));
        var sel = ProposalSelection.SelectRandom(cands, 4, rng);
        Assert.Equal(4, sel.Select(b => b.Id).Distinct().Count());
        Assert.Equal(cands.Take(2).ToList(), ProposalSelection.SelectRandom(cands.Take(2).ToList(), 4, rng));
        Assert.Null(ProposalSelection.Overlap(new CropParams(0, 0, 10, 10, 100, 100), new CropParams(0, 9, 10, 10, 100, 100)));
        Assert.Empty(ProposalSelection.Candidates(props, null));

        var list = new List<Box> { new(0, 0, 5, 5, 1), new(1, 1, 5, 5, 2) };
        for (int k = 0; k < 50; k++)
        {
            var padded = ProposalSelection.Pad(list, new HashSet<int> { 2 }, 4, rng);
            Assert.Equal(4, padded.Count);
            Assert.Equal(list, padded.Take(2));
            Assert.All(padded.Skip(2), b => Assert.Equal(2, b.Id));
        }
        var five = Enumerable.Repeat(new Box(0, 0, 1, 1, 1), 5).ToList();
        Assert.Equal(5, ProposalSelection.Pad(five, new HashSet<int> { 1 }, 4, rng).Count); // never truncated
    }

    [Fact]
    public void JitterMovesBoxesWithinTheRatio()
    {
        var rng = SampleRandom.FromSeed(5);
        var b = new Box(100, 50, 199, 149, 4); // 100×100
        int moved = 0;
        for (int k = 0; k < 400; k++)
        {
            var j = ProposalSelection.Jitter([b], 0.5, 0.1, rng)[0];
            Assert.Equal(4, j.Id);
            if (j != b) moved++;
            Assert.InRange(j.X1, 90, 110);
            Assert.InRange(j.Y1, 40, 60);
            Assert.InRange(j.Width, 90, 110);
            Assert.InRange(j.Height, 90, 110);
        }
        Assert.InRange(moved, 150, 250);
    }

    /// <summary>
    /// A box painted into a real photo stays under the transformed box after crop, resize and flip, within SoCo's own
    /// conventions (inclusive x2 normalised without +1, and a flip that shifts by one crop pixel) plus bilinear blur.
    /// </summary>
    [Theory]
    [InlineData("dog.jpg", 1)]
    [InlineData("chelsea.png", 2)]
    [InlineData("building.jpg", 3)]
    public void PaintedBoxStaysUnderTheTransformedBox(string photo, int seed)
    {
        var image = ImageDecoder.Decode(TestPaths.Photo(photo));
        var rng = SampleRandom.FromSeed((ulong)seed);
        int viewsWithBox = 0, flippedWithBox = 0;
        long insideChecked = 0, outsideChecked = 0;
        for (int k = 0; k < 24; k++)
        {
            var painted = new RgbImage(image.Width, image.Height, (byte[])image.Pixels.Clone());
            int bw = rng.RandInt(30, image.Width / 2), bh = rng.RandInt(30, image.Height / 2);
            int bx = rng.RandInt(0, image.Width - bw), by = rng.RandInt(0, image.Height - bh);
            var box = new Box(bx, by, bx + bw - 1, by + bh - 1, 1);
            for (int y = by; y < by + bh; y++)
                for (int x = bx; x < bx + bw; x++)
                {
                    int i = painted.Index(x, y);
                    painted.Pixels[i] = 255; painted.Pixels[i + 1] = 0; painted.Pixels[i + 2] = 255;
                }
            int size = k % 3 == 0 ? 224 : k % 3 == 1 ? 112 : 192;
            var crop = k % 4 == 0 ? CropParams.Whole(image.Width, image.Height) : CropParams.RandomResized(rng, image.Width, image.Height, 0.5, 1);
            var t = new ViewTransform(crop, size, Flipped: rng.Bernoulli(0.5));
            var view = t.ApplyImage(painted);
            var clipped = t.ClipToView(box);
            var (x1, y1, x2, y2) = clipped is { } c ? t.ToViewPixels(t.ApplyBox(c)) : (0, 0, -1, -1);
            double sx = (double)size / crop.W, sy = (double)size / crop.H;
            // Tolerances: the inclusive end misses one crop pixel, the flip shifts by one, bilinear support ≈ 1 px each side.
            double mx = sx + 1.5, my = sy + 1.5;
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    int i = view.Index(x, y);
                    bool magenta = view.Pixels[i] > 240 && view.Pixels[i + 1] < 15 && view.Pixels[i + 2] > 240;
                    bool deepInside = x >= x1 + mx && x <= x2 + sx - mx && y >= y1 + my && y <= y2 + sy - my;
                    bool farOutside = x < x1 - mx || x > x2 + sx + mx || y < y1 - my || y > y2 + sy + my;
                    if (deepInside) { Assert.True(magenta, $"{photo} view {k}: ({x},{y}) inside [{x1:0.#},{y1:0.#},{x2:0.#},{y2:0.#}] is not the painted colour ({t})"); insideChecked++; }
                    if (farOutside && clipped is not null) { Assert.False(magenta, $"{photo} view {k}: ({x},{y}) outside the box is painted ({t})"); outsideChecked++; }
                    if (clipped is null) Assert.False(magenta && x > 1 && y > 1 && x < size - 2 && y < size - 2, $"{photo} view {k}: painted pixel in a view the box misses");
                }
            if (clipped is not null)
            {
                viewsWithBox++;
                if (t.Flipped) flippedWithBox++;
            }
        }
        // The draws must have exercised what the test is about: views that show the box, flipped and not, with pixels
        // checked on both sides of its edges.
        Assert.True(viewsWithBox >= 12, $"{photo}: only {viewsWithBox} of 24 views show the box");
        Assert.InRange(flippedWithBox, 1, viewsWithBox - 1);
        Assert.True(insideChecked > 10_000 && outsideChecked > 10_000, $"{photo}: {insideChecked} inside and {outsideChecked} outside pixels checked");
    }
}
