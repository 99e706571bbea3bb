using Soco.Data.Coco;
using Soco.Evaluation;

namespace Soco.Tests.Evaluation;

/// <summary>
/// Cases whose COCO numbers follow from the definitions by hand (docs/coco-evaluation.md): perfect detections, boxes
/// at a known IoU, duplicates, crowd regions, empty images, categories and area ranges, maxDets, score ties.
/// </summary>
public class CocoEvalHandTests
{
    /// <summary>A ground truth built in code: images 640×480, ground truth area = w·h unless given.</summary>
    sealed class Gt
    {
        readonly List<CocoImage> _images = [];
        readonly List<CocoAnnotation> _anns = [];
        readonly List<CocoCategory> _cats = [];
        public readonly List<CocoDetection> Dets = [];

        public Gt(params long[] categories)
        {
            foreach (var c in categories) _cats.Add(new CocoCategory(c, $"c{c}", null));
        }

        public Gt Image(long id) { _images.Add(new CocoImage(id, $"{id}.jpg", 640, 480)); return this; }

        public Gt Box(long img, long cat, double x, double y, double w, double h, bool crowd = false, double? area = null)
        {
            _anns.Add(new CocoAnnotation(_anns.Count + 1, img, cat, x, y, w, h, area ?? w * h, crowd, default));
            return this;
        }

        public Gt Det(long img, long cat, double x, double y, double w, double h, double score)
        {
            Dets.Add(new CocoDetection(img, cat, x, y, w, h, score));
            return this;
        }

        public CocoEvalResult Eval() => CocoEvaluator.Evaluate(new CocoDataset("test", _images, _cats, _anns, [], []), Dets);
    }

    static double Stat(CocoEvalResult r, string name) => r.Stats[Array.IndexOf(CocoEvalResult.StatNames, name)];

    [Fact]
    public void PerfectDetectionsScoreOneEverywhere()
    {
        var g = new Gt(1, 5).Image(1).Image(2).Image(3);
        // One object per (image, category), so AR@1 is 1 too; small, medium and large objects all present.
        g.Box(1, 1, 10, 10, 20, 20).Det(1, 1, 10, 10, 20, 20, 0.9);     // small (400)
        g.Box(1, 5, 100, 100, 50, 50).Det(1, 5, 100, 100, 50, 50, 0.3); // medium (2500)
        g.Box(2, 1, 0, 0, 300, 200).Det(2, 1, 0, 0, 300, 200, 0.6);     // large
        g.Box(3, 5, 5.5, 7.25, 120.5, 99.75).Det(3, 5, 5.5, 7.25, 120.5, 99.75, 0.1);
        var r = g.Eval();
        Assert.All(r.Stats, s => Assert.Equal(1.0, s, 12));
        Assert.All(r.PerCategoryAp, ap => Assert.Equal(1.0, ap, 12));
    }

    [Theory]
    // A 100×100 box and a detection shifted s px right: IoU = (100 − s)/(100 + s); it counts at the thresholds ≤ IoU.
    [InlineData(5, 9)]   // 0.9048: 0.50 … 0.90
    [InlineData(10, 7)]  // 0.8182: 0.50 … 0.80
    [InlineData(20, 4)]  // 0.6667: 0.50 … 0.65
    [InlineData(30, 1)]  // 0.5385: 0.50 only
    [InlineData(40, 0)]  // 0.4286: none
    public void EveryBoxShiftedToAKnownIou(double shift, int thresholdsPassed)
    {
        var g = new Gt(3).Image(1).Image(2);
        foreach (long img in new long[] { 1, 2 })
        {
            g.Box(img, 3, 200, 100, 100, 100);
            g.Det(img, 3, 200 + shift, 100, 100, 100, 0.5 + 0.1 * img);
        }
        var r = g.Eval();
        Assert.Equal((100 - shift) / (100 + shift), BoxIou.Iou(200 + shift, 100, 100, 100, 200, 100, 100, 100, false), 15);
        // At a passed threshold both detections are hits (precision 1 at every recall point), otherwise both miss (0).
        Assert.Equal(thresholdsPassed / 10.0, Stat(r, "AP"), 12);
        Assert.Equal(thresholdsPassed >= 1 ? 1 : 0, Stat(r, "AP50"), 12);
        Assert.Equal(thresholdsPassed >= 6 ? 1 : 0, Stat(r, "AP75"), 12);
        Assert.Equal(thresholdsPassed / 10.0, Stat(r, "AR100"), 12);
        Assert.Equal(-1, Stat(r, "APs"));  // 10,000 px² objects: no small or medium ground truth at all
        Assert.Equal(-1, Stat(r, "APm"));
        Assert.Equal(thresholdsPassed / 10.0, Stat(r, "APl"), 12);
    }

    [Fact]
    public void IouExactlyAtAThresholdCounts()
    {
        var g = new Gt(1).Image(1).Box(1, 1, 0, 0, 100, 100).Det(1, 1, 0, 0, 50, 100, 0.9); // IoU 5000/10000 = 0.5
        var r = g.Eval();
        Assert.Equal(1.0, Stat(r, "AP50"), 12);
        Assert.Equal(0.1, Stat(r, "AP"), 12);
    }

    [Fact]
    public void DuplicatesAreFalsePositives()
    {
        // Image 1: the object found (0.9) and found again (0.8); image 2: its object found (0.7).
        // Ranked: TP (rc .5, pr 1), FP (rc .5, pr .5), TP (rc 1, pr 2/3); envelope 1, 2/3, 2/3.
        // Recall points 0.00 … 0.50 (51) read 1, 0.51 … 1.00 (50) read 2/3.
        var g = new Gt(1).Image(1).Image(2);
        g.Box(1, 1, 10, 10, 100, 100).Det(1, 1, 10, 10, 100, 100, 0.9).Det(1, 1, 10, 10, 100, 100, 0.8);
        g.Box(2, 1, 10, 10, 100, 100).Det(2, 1, 10, 10, 100, 100, 0.7);
        var r = g.Eval();
        double expected = (51 * 1.0 + 50 * (2.0 / 3.0)) / 101;
        Assert.Equal(expected, Stat(r, "AP"), 12);
        Assert.Equal(expected, Stat(r, "AP50"), 12);
        Assert.Equal(1.0, Stat(r, "AR100"), 12);
        Assert.Equal(1.0, Stat(r, "AR1"), 12); // the best detection of each image is a hit
    }

    [Fact]
    public void CrowdRegionsAbsorbDetectionsAndAreNotCounted()
    {
        // Crowd region [0,400)²; an object elsewhere. D1 (0.9) lies inside the crowd: IoU = intersection / its own
        // area = 1, ignored at every threshold. D2 (0.8) is half inside: IoU 0.5 with the crowd, ignored at 0.50
        // only, a false positive above. D3 (0.5) finds the object.
        // t = 0.50: precision 1. t > 0.50: FP then TP → envelope 0.5 at every recall point. AP = (1 + 9·0.5)/10.
        var g = new Gt(1).Image(1);
        g.Box(1, 1, 0, 0, 400, 400, crowd: true).Box(1, 1, 450, 50, 100, 100);
        g.Det(1, 1, 10, 10, 50, 50, 0.9).Det(1, 1, 350, 100, 100, 40, 0.8).Det(1, 1, 450, 50, 100, 100, 0.5);
        Assert.Equal(1.0, BoxIou.Iou(10, 10, 50, 50, 0, 0, 400, 400, crowd: true));
        Assert.Equal(0.5, BoxIou.Iou(350, 100, 100, 40, 0, 0, 400, 400, crowd: true));
        var r = g.Eval();
        Assert.Equal(0.55, Stat(r, "AP"), 12);
        Assert.Equal(1.0, Stat(r, "AP50"), 12);
        Assert.Equal(0.5, Stat(r, "AP75"), 12);
        Assert.Equal(1.0, Stat(r, "AR100"), 12); // the crowd region is not an object to find
    }

    [Fact]
    public void EmptyImagesChangeNothingAndDetectionsOnThemAreFalsePositives()
    {
        var g = new Gt(1).Image(1).Image(2).Image(3);
        g.Box(1, 1, 10, 10, 100, 100).Det(1, 1, 10, 10, 100, 100, 0.5);
        Assert.Equal(1.0, g.Eval().Stats[0], 12); // images 2 and 3 have neither ground truth nor detections
        g.Det(3, 1, 10, 10, 100, 100, 0.9);       // a confident detection on an image with no objects: FP first
        var r = g.Eval();
        Assert.Equal(0.5, Stat(r, "AP"), 12);
        Assert.Equal(1.0, Stat(r, "AR100"), 12);
        Assert.Equal(1.0, Stat(r, "AR1"), 12);   // maxDets counts per image: image 1's one detection still counts
    }

    [Fact]
    public void NoDetectionsAtAllGiveZero()
    {
        // pycocotools itself fails on an empty results list (loadRes reads anns[0]); the definition gives 0.
        var r = new Gt(1).Image(1).Box(1, 1, 0, 0, 10, 10).Box(1, 1, 100, 100, 50, 50).Eval();
        Assert.Equal([0.0, 0.0, 0.0, 0.0, 0.0, -1, 0.0, 0.0, 0.0, 0.0, 0.0, -1], r.Stats);
    }

    [Fact]
    public void NoGroundTruthAtAllGivesMinusOne()
    {
        var r = new Gt(1, 2).Image(1).Det(1, 1, 0, 0, 10, 10, 0.9).Eval();
        Assert.All(r.Stats, s => Assert.Equal(-1, s));
        Assert.All(r.PerCategoryAp, ap => Assert.True(double.IsNaN(ap)));
    }

    [Fact]
    public void CategoriesAndAreaRangesAverageSeparately()
    {
        // Category 7: a small object found; category 90: a large object missed; category 42: detections only.
        var g = new Gt(7, 42, 90).Image(1).Image(2);
        g.Box(1, 7, 10, 10, 20, 20).Det(1, 7, 10, 10, 20, 20, 0.9);
        g.Box(2, 90, 0, 0, 300, 300);
        g.Det(2, 42, 0, 0, 300, 300, 0.99);
        var r = g.Eval();
        Assert.Equal(0.5, Stat(r, "AP"), 12);  // mean over categories with ground truth (7: 1, 90: 0); 42 left out
        Assert.Equal(1.0, Stat(r, "APs"), 12);
        Assert.Equal(-1, Stat(r, "APm"));      // no medium ground truth in any category
        Assert.Equal(0.0, Stat(r, "APl"), 12);
        Assert.Equal(0.5, Stat(r, "AR100"), 12);
        Assert.Equal(1.0, r.PerCategoryAp[0], 12); // tp / (tp + fp + 2⁻⁵²): one ulp under 1, as pycocotools
        Assert.True(double.IsNaN(r.PerCategoryAp[1]));
        Assert.Equal(0.0, r.PerCategoryAp[2]);
        Assert.Equal([7L, 42L, 90L], r.CategoryIds);
    }

    [Fact]
    public void AreaRangesUseTheAnnotationAreaAndIncludeTheirBounds()
    {
        // A box of 50×50 whose annotation area is 500 is small; an area of exactly 32² is small and medium.
        var g = new Gt(1).Image(1);
        g.Box(1, 1, 10, 10, 50, 50, area: 500).Det(1, 1, 10, 10, 50, 50, 0.9);
        g.Box(1, 1, 100, 100, 32, 32).Det(1, 1, 100, 100, 32, 32, 0.8);
        var r = g.Eval();
        Assert.Equal(1.0, Stat(r, "APs"), 12);
        Assert.Equal(1.0, Stat(r, "APm"), 12);
        Assert.Equal(1.0, Stat(r, "ARs"), 12);
        Assert.Equal(-1, Stat(r, "APl"));
    }

    [Fact]
    public void MaxDetsLimitsDetectionsPerImage()
    {
        // Two objects on one image, found by the first and second detection: AR@1 = 0.5, AR@10 = 1.
        var g = new Gt(1).Image(1);
        g.Box(1, 1, 0, 0, 100, 100).Box(1, 1, 200, 0, 100, 100);
        g.Det(1, 1, 0, 0, 100, 100, 0.9).Det(1, 1, 200, 0, 100, 100, 0.8);
        var r = g.Eval();
        Assert.Equal(0.5, Stat(r, "AR1"), 12);
        Assert.Equal(1.0, Stat(r, "AR10"), 12);
        // 100 false positives ranked above a hit: the hit is the 101st detection and is cut.
        var h = new Gt(1).Image(1).Box(1, 1, 0, 0, 50, 50);
        for (int i = 0; i < 100; i++) h.Det(1, 1, 300, 300, 10, 10, 0.9);
        h.Det(1, 1, 0, 0, 50, 50, 0.1);
        Assert.Equal(0.0, Stat(h.Eval(), "AR100"), 12);
    }

    [Fact]
    public void ScoreTiesKeepFileOrderInsideAnImageAndImageIdOrderAcross()
    {
        var fpFirst = new Gt(1).Image(1).Box(1, 1, 0, 0, 100, 100);
        fpFirst.Det(1, 1, 300, 300, 100, 100, 0.5).Det(1, 1, 0, 0, 100, 100, 0.5);
        Assert.Equal(0.5, Stat(fpFirst.Eval(), "AP"), 12);
        var tpFirst = new Gt(1).Image(1).Box(1, 1, 0, 0, 100, 100);
        tpFirst.Det(1, 1, 0, 0, 100, 100, 0.5).Det(1, 1, 300, 300, 100, 100, 0.5);
        Assert.Equal(1.0, Stat(tpFirst.Eval(), "AP"), 12);
        // Across images the lower image id comes first, whatever the file order: the FP on image 1 outranks the hit.
        var across = new Gt(1).Image(2).Image(1).Box(2, 1, 0, 0, 100, 100);
        across.Det(2, 1, 0, 0, 100, 100, 0.5).Det(1, 1, 0, 0, 100, 100, 0.5);
        Assert.Equal(0.5, Stat(across.Eval(), "AP"), 12);
    }
}
