using Soco.Data.Coco;
using Soco.Data.Lvis;
using Soco.Structures;

namespace Soco.Evaluation;

/// <summary>
/// The LVIS API's federated evaluation (<c>LVISResults</c> + <c>LVISEval</c>, docs/lvis.md §Evaluation), for boxes:
/// at most 300 detections per image across categories (the best by score, ties in file order), kept before anything
/// else; then a detection counts only on an image where its category is verified (among the image's ground-truth
/// categories or its <c>neg_category_ids</c>); no crowd regions; the COCO matching loop per (image, category, area
/// range); an unmatched detection of a category in the image's <c>not_exhaustive_category_ids</c> is ignored, as is one
/// outside the area range; COCO's accumulation without a maxDets axis; AP, AP50, AP75, APs/m/l, APr/APc/APf, AR@300
/// and ARs/m/l@300. Ground truth and detections with area 0 are left out, as the LVIS API's <c>get_ann_ids</c>
/// keeps only area &gt; 0. The matching and accumulation are <see cref="CocoImageMatcher"/> and
/// <see cref="CocoAccumulator"/>, which follow the same pycocotools loops.
/// </summary>
public static class LvisEvaluator
{
    /// <summary>LVIS's parameters: COCO's IoU thresholds, recall points and area ranges, 300 detections per image.</summary>
    public static CocoEvalParams DefaultParams() => new() { MaxDets = [300] };

    /// <summary>IoU of detections (indices into the evaluator's detection list) against annotations (indices into
    /// <see cref="CocoDataset.Annotations"/>), row-major [D × G], never a crowd comparison.</summary>
    public delegate void IouBlock(ReadOnlySpan<int> detections, ReadOnlySpan<int> annotations, Span<double> iou);

    /// <summary>Box evaluation of COCO-format results; <paramref name="parameters"/>.MaxDets[^1] is the per-image cap.</summary>
    public static LvisEvalResult Evaluate(LvisDataset truth, IReadOnlyList<CocoDetection> detections, CocoEvalParams? parameters = null, int threads = 0) =>
        Evaluate(truth, detections, CocoIouType.Bbox, parameters, threads);

    /// <summary>Box or mask evaluation. For segm every annotation and detection needs a mask (made as for COCO's segm
    /// evaluation); a detection's area is its mask's, or with <see cref="SegmDetectionArea.Box"/> its box's, as
    /// <c>LVISResults</c> gives results that carry a <c>bbox</c> (docs/lvis.md §Evaluation).</summary>
    public static LvisEvalResult Evaluate(LvisDataset truth, IReadOnlyList<CocoDetection> detections, CocoIouType iouType,
                                          CocoEvalParams? parameters = null, int threads = 0, SegmDetectionArea segmArea = SegmDetectionArea.Mask)
    {
        if (iouType == CocoIouType.Segm) return EvaluateMasks(truth, detections, parameters, threads, segmArea);
        var gts = truth.Coco.Annotations;
        int n = detections.Count;
        var img = new long[n];
        var cat = new long[n];
        var score = new double[n];
        var area = new double[n];
        for (int i = 0; i < n; i++)
        {
            var d = detections[i];
            img[i] = d.ImageId;
            cat[i] = d.CategoryId;
            score[i] = d.Score;
            area[i] = d.W * d.H; // LVISResults: area = w·h for box results
        }
        void Iou(ReadOnlySpan<int> ds, ReadOnlySpan<int> gs, Span<double> iou)
        {
            int G = gs.Length;
            for (int a = 0; a < ds.Length; a++)
            {
                var x = detections[ds[a]];
                for (int b = 0; b < G; b++)
                {
                    var g = gts[gs[b]];
                    iou[a * G + b] = BoxIou.Iou(x.X, x.Y, x.W, x.H, g.X, g.Y, g.W, g.H, crowd: false);
                }
            }
        }
        return Evaluate(truth, img, cat, score, area, Iou, "bbox", parameters, threads);
    }

    static LvisEvalResult EvaluateMasks(LvisDataset truth, IReadOnlyList<CocoDetection> detections, CocoEvalParams? parameters, int threads, SegmDetectionArea segmArea)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        var masks = CocoEvaluator.Masks.Make(truth.Coco, detections, segmArea, options);
        void Iou(ReadOnlySpan<int> ds, ReadOnlySpan<int> gs, Span<double> iou)
        {
            int G = gs.Length;
            for (int a = 0; a < ds.Length; a++)
                for (int b = 0; b < G; b++)
                    iou[a * G + b] = Rle.Iou(masks.Dt[ds[a]], masks.Gt[gs[b]], crowd: false);
        }
        return Evaluate(truth, detections.Select(d => d.ImageId).ToArray(), detections.Select(d => d.CategoryId).ToArray(),
            detections.Select(d => d.Score).ToArray(), masks.DtArea, Iou, "segm", parameters, threads);
    }

    /// <summary>The evaluation for any region type: per detection its image, category, score and area, and the IoU.</summary>
    public static LvisEvalResult Evaluate(LvisDataset truth, long[] imageIds, long[] categoryIds, double[] scores, double[] areas, IouBlock iou,
                                          string iouType, CocoEvalParams? parameters = null, int threads = 0)
    {
        var p = parameters ?? DefaultParams();
        p.Validate();
        var coco = truth.Coco;
        int n = imageIds.Length;
        if (categoryIds.Length != n || scores.Length != n || areas.Length != n) throw new ArgumentException("detection arrays differ in length");
        long[] imgIds = coco.Images.Select(i => i.Id).Distinct().Order().ToArray();
        var imgIndex = new Dictionary<long, int>(imgIds.Length);
        for (int i = 0; i < imgIds.Length; i++) imgIndex[imgIds[i]] = i;
        var cats = coco.Categories.OrderBy(c => c.Id).ToArray();
        long[] catIds = cats.Select(c => c.Id).ToArray();
        var catIndex = new Dictionary<long, int>(catIds.Length);
        for (int k = 0; k < catIds.Length; k++) catIndex[catIds[k]] = k;
        int I = imgIds.Length, K = catIds.Length, T = p.IouThresholds.Length, R = p.RecallThresholds.Length, A = p.AreaRanges.Length;
        for (int i = 0; i < n; i++)
        {
            if (!imgIndex.ContainsKey(imageIds[i])) throw new ArgumentException($"detection #{i} names image_id {imageIds[i]}, which the ground truth lacks");
            if (!catIndex.ContainsKey(categoryIds[i])) throw new ArgumentException($"detection #{i} names category_id {categoryIds[i]}, which the ground truth lacks");
            if (!double.IsFinite(scores[i])) throw new ArgumentException($"detection #{i} has a score that is not a finite number");
        }

        // Ground truth with area > 0, grouped by (category, image), file order inside a group; the categories
        // present in each image (the positive set of the federated rule).
        var gts = coco.Annotations;
        var gtKeys = new List<long>(gts.Count);
        var gtOrder = new List<int>(gts.Count);
        var positive = new HashSet<(int, int)>();
        for (int j = 0; j < gts.Count; j++)
        {
            var g = gts[j];
            if (!(g.Area > 0)) continue;
            int ii = imgIndex[g.ImageId], kk = catIndex[g.CategoryId];
            gtKeys.Add(((long)kk * I + ii) * gts.Count + j);
            gtOrder.Add(j);
            positive.Add((ii, kk));
        }
        var gtKeyArr = gtKeys.ToArray();
        var gtOrderArr = gtOrder.ToArray();
        Array.Sort(gtKeyArr, gtOrderArr);

        // LVISResults.limit_dets_per_image: per image, the best MaxDets by score (a stable sort, so ties keep file order).
        int cap = p.MaxDets[^1];
        var kept = Enumerable.Range(0, n).GroupBy(i => imageIds[i])
            .SelectMany(g => g.Count() <= cap ? g : g.OrderByDescending(i => scores[i]).Take(cap))
            .ToArray();

        // The federated rule: a detection is scored on an image only if its category is verified there (positive or
        // negative); unverified ones are dropped, not counted as false positives. Area 0 is left out (get_ann_ids).
        var negative = new HashSet<(int, int)>();
        foreach (var (id, list) in truth.NegativeCategories)
            if (imgIndex.TryGetValue(id, out int ii))
                foreach (long c in list)
                    if (catIndex.TryGetValue(c, out int kk)) negative.Add((ii, kk));
        var notExhaustive = new HashSet<(int, int)>();
        foreach (var (id, list) in truth.NotExhaustiveCategories)
            if (imgIndex.TryGetValue(id, out int ii))
                foreach (long c in list)
                    if (catIndex.TryGetValue(c, out int kk)) notExhaustive.Add((ii, kk));
        var dts = new List<(long Key, double Score, int File)>(kept.Length);
        foreach (int i in kept)
        {
            int ii = imgIndex[imageIds[i]], kk = catIndex[categoryIds[i]];
            if (!(areas[i] > 0)) continue;
            if (!positive.Contains((ii, kk)) && !negative.Contains((ii, kk))) continue;
            dts.Add(((long)kk * I + ii, scores[i], i));
        }
        var dtSorted = dts.ToArray();
        Array.Sort(dtSorted, (x, y) =>
        {
            int c = x.Key.CompareTo(y.Key);
            if (c != 0) return c;
            c = y.Score.CompareTo(x.Score);
            return c != 0 ? c : x.File.CompareTo(y.File);
        });

        // No per-(image, category) cut: the cap above was per image.
        var gtGroups = CocoEvaluator.Groups(K, gtKeyArr.Length, j => gtKeyArr[j] / gts.Count, I, int.MaxValue);
        var dtGroups = CocoEvaluator.Groups(K, dtSorted.Length, j => dtSorted[j].Key, I, int.MaxValue);
        var ignoredGt = truth.IgnoredAnnotations;

        var precision = new double[T * R * K * A];
        var recall = new double[T * K * A];
        Array.Fill(precision, -1.0);
        Array.Fill(recall, -1.0);
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Parallel.For(0, K, options, () => new Worker(p), (k, _, w) =>
        {
            w.Acc.Clear();
            int gi = 0, di = 0;
            var gg = gtGroups[k];
            var dg = dtGroups[k];
            // Images in ascending id order that have ground truth or detections of this category (evaluate_img
            // returns None for the others, and accumulate leaves those out).
            while (gi < gg.Count || di < dg.Count)
            {
                int im = Math.Min(gi < gg.Count ? gg[gi].Image : int.MaxValue, di < dg.Count ? dg[di].Image : int.MaxValue);
                var g = gi < gg.Count && gg[gi].Image == im ? gg[gi++] : new CocoEvaluator.Group(im, 0, 0);
                var d = di < dg.Count && dg[di].Image == im ? dg[di++] : new CocoEvaluator.Group(im, 0, 0);
                int G = g.Count, D = d.Count;
                w.Ensure(G, D, T);
                var annIdx = gtOrderArr.AsSpan(g.Start, G);
                for (int j = 0; j < G; j++)
                {
                    var a = gts[annIdx[j]];
                    w.GtBaseIgnore[j] = ignoredGt.Contains(a.Id);
                    w.GtIdNonZero[j] = a.Id != 0;
                    w.GtArea[j] = a.Area;
                }
                bool nel = notExhaustive.Contains((im, k));
                for (int j = 0; j < D; j++)
                {
                    int f = dtSorted[d.Start + j].File;
                    w.DtIndex[j] = f;
                    w.Scores[j] = scores[f];
                    w.DtArea[j] = areas[f];
                }
                var iouBlock = w.Iou.AsSpan(0, D * G);
                if (D > 0 && G > 0) iou(w.DtIndex.AsSpan(0, D), annIdx, iouBlock);
                w.Acc.AddDetections(w.Scores.AsSpan(0, D));
                for (int a = 0; a < A; a++)
                {
                    var range = p.AreaRanges[a];
                    for (int j = 0; j < G; j++) w.GtIgnore[j] = w.GtBaseIgnore[j] || !range.Contains(w.GtArea[j]);
                    // Unmatched detections are ignored outside the area range and for a not-exhaustive category.
                    for (int j = 0; j < D; j++) w.DtIgnoreUnmatched[j] = nel || !range.Contains(w.DtArea[j]);
                    var flags = w.Flags.AsSpan(0, T * D);
                    int npig = w.Matcher.Match(w.GtIgnore.AsSpan(0, G), w.NoCrowd.AsSpan(0, G), w.GtIdNonZero.AsSpan(0, G),
                        iouBlock, w.DtIgnoreUnmatched.AsSpan(0, D), flags);
                    w.Acc.AddFlags(a, flags, npig);
                }
            }
            w.Acc.Finish(k, K, precision, recall);
            return w;
        }, _ => { });

        var freqs = catIds.Select(c => truth.Frequencies.TryGetValue(c, out var f) ? f : LvisFrequency.Unknown).ToArray();
        return new LvisEvalResult(p, iouType, catIds, cats.Select(c => c.Name).ToArray(), freqs, precision, recall)
        {
            DetectionsGiven = n, DetectionsAfterCap = kept.Length, DetectionsScored = dtSorted.Length,
        };
    }

    sealed class Worker(CocoEvalParams p)
    {
        public readonly CocoImageMatcher Matcher = new(p.IouThresholds);
        public readonly CocoAccumulator Acc = new(p);
        public double[] Iou = [], GtArea = [], DtArea = [], Scores = [];
        public bool[] GtBaseIgnore = [], GtIgnore = [], GtIdNonZero = [], NoCrowd = [], DtIgnoreUnmatched = [];
        public int[] DtIndex = [];
        public byte[] Flags = [];

        public void Ensure(int G, int D, int T)
        {
            if (Iou.Length < G * D) Iou = new double[G * D * 2];
            if (GtArea.Length < G)
            {
                int m = Math.Max(16, 2 * G);
                GtArea = new double[m]; GtBaseIgnore = new bool[m]; GtIgnore = new bool[m]; GtIdNonZero = new bool[m]; NoCrowd = new bool[m];
            }
            if (DtArea.Length < D)
            {
                int m = Math.Max(16, 2 * D);
                DtArea = new double[m]; Scores = new double[m]; DtIgnoreUnmatched = new bool[m]; DtIndex = new int[m];
            }
            if (Flags.Length < T * D) Flags = new byte[Math.Max(16, 2 * T * D)];
        }
    }
}
