using Soco.Data.Coco;
using Soco.Structures;

namespace Soco.Evaluation;

/// <summary>What <see cref="CocoEvaluator"/> compares: boxes or masks (pycocotools' <c>iouType</c>).</summary>
public enum CocoIouType { Bbox, Segm }

/// <summary>Where the area of a detection comes from in <c>segm</c> evaluation (it decides, with the ground truth's
/// <c>area</c> field, which area range an unmatched detection is ignored in; docs/masks-rle.md §Evaluation).</summary>
public enum SegmDetectionArea
{
    /// <summary>The mask's pixel count: pycocotools' <c>loadRes</c> on results without <c>bbox</c>, which is what
    /// Detectron2 and torchvision's evaluators pass it.</summary>
    Mask,
    /// <summary>The box's w·h: <c>loadRes</c> on a results file whose first record has a <c>bbox</c> (it then gives
    /// every result the box area, in segm evaluation too).</summary>
    Box,
}

/// <summary>
/// COCO's detection metric for <c>bbox</c> and <c>segm</c>, computed exactly as pycocotools' <c>COCOeval</c>
/// (evaluate, accumulate, summarize; docs/coco-evaluation.md, docs/masks-rle.md): the ground truth's images and
/// categories (ids ascending), detections never crowd, ranked per (image, category) by score with ties in file order
/// and cut to the largest maxDets. Only the IoU (boxes or masks) and the detection's area (w·h, or for segm the
/// mask's) differ between the two; ground truth is put in area ranges by its <c>area</c> field in both. Categories
/// are independent, so they run in parallel; the result does not depend on the thread count. Memory is linear in the
/// number of boxes or masks (one D×G IoU block per image and category at a time).
/// </summary>
public static class CocoEvaluator
{
    /// <param name="threads">Worker threads over categories; 0 = all cores.</param>
    public static CocoEvalResult Evaluate(CocoDataset truth, IReadOnlyList<CocoDetection> detections, CocoEvalParams? parameters = null, int threads = 0) =>
        Evaluate(truth, detections, CocoIouType.Bbox, parameters, threads);

    /// <param name="iouType">Boxes or masks. For <see cref="CocoIouType.Segm"/> every ground-truth annotation and every
    /// detection needs a segmentation (an error names the first without one), and polygons need their image's size.</param>
    /// <param name="segmArea">For segm: where a detection's area comes from (see <see cref="SegmDetectionArea"/>).</param>
    /// <param name="threads">Worker threads over categories (and for making masks); 0 = all cores.</param>
    public static CocoEvalResult Evaluate(CocoDataset truth, IReadOnlyList<CocoDetection> detections, CocoIouType iouType,
                                          CocoEvalParams? parameters = null, int threads = 0, SegmDetectionArea segmArea = SegmDetectionArea.Mask)
    {
        var p = parameters ?? new CocoEvalParams();
        p.Validate();
        long[] imgIds = truth.Images.Select(i => i.Id).Distinct().Order().ToArray();
        var imgIndex = new Dictionary<long, int>(imgIds.Length);
        for (int i = 0; i < imgIds.Length; i++) imgIndex[imgIds[i]] = i;
        var cats = truth.Categories.OrderBy(c => c.Id).ToArray();
        long[] catIds = cats.Select(c => c.Id).ToArray();
        var catIndex = new Dictionary<long, int>(catIds.Length);
        for (int k = 0; k < catIds.Length; k++) catIndex[catIds[k]] = k;
        int I = imgIds.Length, K = catIds.Length, T = p.IouThresholds.Length, R = p.RecallThresholds.Length, A = p.AreaRanges.Length, M = p.MaxDets.Length;
        int maxDet = p.MaxDets[^1];

        // Ground truth grouped by (category, image), file order inside a group (pycocotools' _gts lists).
        var gts = truth.Annotations;
        var gtKeys = new long[gts.Count];
        var gtOrder = new int[gts.Count];
        for (int n = 0; n < gts.Count; n++)
        {
            var g = gts[n];
            if (!imgIndex.TryGetValue(g.ImageId, out int ii) || !catIndex.TryGetValue(g.CategoryId, out int kk))
                throw new ArgumentException($"annotation {g.Id} names image {g.ImageId} / category {g.CategoryId}, which the dataset lacks");
            gtKeys[n] = ((long)kk * I + ii) * gts.Count + n;
            gtOrder[n] = n;
        }
        Array.Sort(gtKeys, gtOrder);

        // Detections grouped by (category, image), by score descending with ties in file order, the first maxDet kept.
        var dtSorted = new (long Key, double Score, int File)[detections.Count];
        for (int n = 0; n < detections.Count; n++)
        {
            var d = detections[n];
            if (!imgIndex.TryGetValue(d.ImageId, out int ii))
                throw new ArgumentException($"detection #{n} names image_id {d.ImageId}, which the ground truth lacks");
            if (!catIndex.TryGetValue(d.CategoryId, out int kk))
                throw new ArgumentException($"detection #{n} names category_id {d.CategoryId}, which the ground truth lacks");
            if (!double.IsFinite(d.Score)) throw new ArgumentException($"detection #{n} has a score that is not a finite number");
            dtSorted[n] = ((long)kk * I + ii, d.Score, n);
        }
        Array.Sort(dtSorted, (x, y) =>
        {
            int c = x.Key.CompareTo(y.Key);
            if (c != 0) return c;
            c = y.Score.CompareTo(x.Score);
            return c != 0 ? c : x.File.CompareTo(y.File);
        });

        var gtGroups = Groups(K, gtKeys.Length, j => gtKeys[j] / gts.Count, I, int.MaxValue);
        var dtGroups = Groups(K, dtSorted.Length, j => dtSorted[j].Key, I, maxDet);

        var precision = new double[T * R * K * A * M];
        var recall = new double[T * K * A * M];
        Array.Fill(precision, -1.0);
        Array.Fill(recall, -1.0);

        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Masks? masks = iouType == CocoIouType.Segm ? Masks.Make(truth, detections, segmArea, options) : null;
        Parallel.For(0, K, options,
            () => new Worker(p, masks),
            (k, _, w) =>
            {
                w.Category(k, gtGroups[k], dtGroups[k], gts, gtOrder, detections, dtSorted, precision, recall, K);
                return w;
            },
            _ => { });
        return new CocoEvalResult(p, catIds, cats.Select(c => c.Name).ToArray(), precision, recall);
    }

    /// <summary>A run of one (category, image) in a sorted array: image index, start, length (cut to <paramref name="cap"/>).</summary>
    readonly record struct Group(int Image, int Start, int Count);

    static List<Group>[] Groups(int K, int n, Func<int, long> key, int I, int cap)
    {
        var result = new List<Group>[K];
        for (int k = 0; k < K; k++) result[k] = [];
        int j = 0;
        while (j < n)
        {
            long kk = key(j);
            int start = j;
            while (j < n && key(j) == kk) j++;
            result[kk / I].Add(new Group((int)(kk % I), start, Math.Min(j - start, cap)));
        }
        return result;
    }

    /// <summary>
    /// For segm: every annotation's and detection's mask (pycocotools' <c>_prepare</c> → <c>annToRLE</c>: polygons at
    /// the image's size, RLEs as they are) and every detection's area, by index in the input lists.
    /// </summary>
    sealed class Masks(Rle[] gt, Rle[] dt, double[] dtArea)
    {
        public readonly Rle[] Gt = gt, Dt = dt;
        public readonly double[] DtArea = dtArea;

        public static Masks Make(CocoDataset truth, IReadOnlyList<CocoDetection> detections, SegmDetectionArea area, ParallelOptions options)
        {
            var gts = truth.Annotations;
            var gt = new Rle[gts.Count];
            var dt = new Rle[detections.Count];
            var dtArea = new double[detections.Count];
            for (int n = 0; n < gts.Count; n++)
                if (gts[n].Segmentation is null)
                    throw new ArgumentException($"annotation {gts[n].Id} (image {gts[n].ImageId}) has no segmentation; segm evaluation needs a mask for every ground-truth object ({truth.Source})");
            for (int n = 0; n < detections.Count; n++)
                if (detections[n].Segmentation is null)
                    throw new ArgumentException($"detection #{n} (image_id {detections[n].ImageId}) has no segmentation; segm evaluation needs a mask for every detection");
            // Errors are kept per index and the first one thrown afterwards: the same message whatever the thread count.
            var gtErr = new string?[gts.Count];
            var dtErr = new string?[detections.Count];
            Parallel.For(0, gts.Count, options, n =>
            {
                var a = gts[n];
                var img = truth.ImagesById[a.ImageId];
                try { gt[n] = a.Segmentation!.ToRle(img.Height, img.Width); }
                catch (ArgumentException e) { gtErr[n] = $"annotation {a.Id} (image {a.ImageId}): {e.Message}"; }
            });
            Parallel.For(0, detections.Count, options, n =>
            {
                var d = detections[n];
                var img = truth.ImagesById[d.ImageId];
                try
                {
                    dt[n] = d.Segmentation!.ToRle(img.Height, img.Width);
                    dtArea[n] = area == SegmDetectionArea.Box ? d.W * d.H : dt[n].Area;
                }
                catch (ArgumentException e) { dtErr[n] = $"detection #{n} (image_id {d.ImageId}): {e.Message}"; }
            });
            if ((gtErr.FirstOrDefault(e => e is not null) ?? dtErr.FirstOrDefault(e => e is not null)) is string err) throw new ArgumentException(err);
            return new Masks(gt, dt, dtArea);
        }
    }

    /// <summary>Per-thread state: the matcher, one accumulator per area range and scratch buffers.</summary>
    sealed class Worker(CocoEvalParams p, Masks? masks)
    {
        readonly CocoImageMatcher _matcher = new(p.IouThresholds);
        readonly CocoAccumulator _acc = new(p);
        double[] _iou = new double[1024];
        bool[] _gtIgnore = [], _gtCrowd = [], _gtIdNonZero = [], _dtOutside = [];
        double[] _gtArea = [], _dtArea = [], _scores = [];
        byte[] _flags = [];

        public void Category(int k, List<Group> gtGroups, List<Group> dtGroups, IReadOnlyList<CocoAnnotation> gts, int[] gtOrder,
                             IReadOnlyList<CocoDetection> dts, (long Key, double Score, int File)[] dtSorted,
                             double[] precision, double[] recall, int K)
        {
            int A = p.AreaRanges.Length, T = p.IouThresholds.Length;
            _acc.Clear();
            int gi = 0, di = 0;
            // Images in ascending id order, each that has ground truth or detections of this category (pycocotools'
            // evaluateImg returns None for the others, and accumulate leaves those out).
            while (gi < gtGroups.Count || di < dtGroups.Count)
            {
                int img = Math.Min(gi < gtGroups.Count ? gtGroups[gi].Image : int.MaxValue, di < dtGroups.Count ? dtGroups[di].Image : int.MaxValue);
                var gg = gi < gtGroups.Count && gtGroups[gi].Image == img ? gtGroups[gi++] : new Group(img, 0, 0);
                var dg = di < dtGroups.Count && dtGroups[di].Image == img ? dtGroups[di++] : new Group(img, 0, 0);
                int G = gg.Count, D = dg.Count;
                Ensure(G, D, T);
                for (int j = 0; j < G; j++)
                {
                    var a = gts[gtOrder[gg.Start + j]];
                    _gtCrowd[j] = a.IsCrowd;
                    _gtIdNonZero[j] = a.Id != 0;
                    _gtArea[j] = a.Area;
                }
                for (int d = 0; d < D; d++)
                {
                    int file = dtSorted[dg.Start + d].File;
                    var x = dts[file];
                    _scores[d] = x.Score;
                    var row = _iou.AsSpan(d * G, G);
                    if (masks is null)
                    {
                        _dtArea[d] = x.W * x.H; // COCO.loadRes: area = w·h for box results
                        for (int j = 0; j < G; j++)
                        {
                            var a = gts[gtOrder[gg.Start + j]];
                            row[j] = BoxIou.Iou(x.X, x.Y, x.W, x.H, a.X, a.Y, a.W, a.H, a.IsCrowd);
                        }
                    }
                    else
                    {
                        _dtArea[d] = masks.DtArea[file];
                        for (int j = 0; j < G; j++)
                        {
                            int n = gtOrder[gg.Start + j];
                            row[j] = Rle.Iou(masks.Dt[file], masks.Gt[n], gts[n].IsCrowd);
                        }
                    }
                }
                _acc.AddDetections(_scores.AsSpan(0, D));
                for (int a = 0; a < A; a++)
                {
                    var range = p.AreaRanges[a];
                    for (int j = 0; j < G; j++) _gtIgnore[j] = _gtCrowd[j] || !range.Contains(_gtArea[j]);
                    for (int d = 0; d < D; d++) _dtOutside[d] = !range.Contains(_dtArea[d]);
                    var flags = _flags.AsSpan(0, T * D);
                    int npig = _matcher.Match(_gtIgnore.AsSpan(0, G), _gtCrowd.AsSpan(0, G), _gtIdNonZero.AsSpan(0, G),
                        _iou.AsSpan(0, D * G), _dtOutside.AsSpan(0, D), flags);
                    _acc.AddFlags(a, flags, npig);
                }
            }
            _acc.Finish(k, K, precision, recall);
        }

        void Ensure(int G, int D, int T)
        {
            if (_iou.Length < G * D) _iou = new double[G * D * 2];
            if (_gtIgnore.Length < G)
            {
                int n = Math.Max(16, G * 2);
                _gtIgnore = new bool[n];
                _gtCrowd = new bool[n];
                _gtIdNonZero = new bool[n];
                _gtArea = new double[n];
            }
            if (_dtOutside.Length < D)
            {
                int n = Math.Max(16, D * 2);
                _dtOutside = new bool[n];
                _dtArea = new double[n];
                _scores = new double[n];
            }
            if (_flags.Length < T * D) _flags = new byte[Math.Max(16, T * D * 2)];
        }
    }
}
