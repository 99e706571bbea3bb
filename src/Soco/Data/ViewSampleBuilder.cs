using Soco.Geometry;
using Soco.Imaging;

namespace Soco.Data;

/// <summary>
/// Builds one <see cref="SocoSample"/> of a <see cref="ViewRecipe"/> from a decoded image and its proposals, in the
/// order of docs/soco-reference.md §4: crops and proposal selection with retries (§4.1–4.3), jitter of the V1 copies (§4.4), clipping
/// (§4.5), padding (§4.6), int-resized and normalised boxes (§4.7), levels and correspondence (§4.8), flips (§4.9),
/// colour (§4.10), ToTensor + Normalize, cutout (§4.11). Every draw comes from the sample's <see cref="SampleRandom"/>:
/// stream 1 for the geometry, one stream per view for its flip and colour, one per view for its cutout.
/// Thread-safe (no state besides the options).
/// </summary>
public sealed class ViewSampleBuilder
{
    public ViewSampleBuilder(ViewRecipe recipe, bool color = true, bool keepDetails = false)
    {
        Recipe = recipe;
        Color = color;
        KeepDetails = keepDetails;
        if (recipe.SelectK > recipe.PaddingK)
            throw new ArgumentException($"select_k ({recipe.SelectK}) above padding_k ({recipe.PaddingK}) gives box lists of varying length");
        if (recipe.Views.Count < 2 || recipe.Views[0].Kind != ViewKind.Whole)
            throw new ArgumentException("a recipe needs V1 = the whole image and at least one more view");
        for (int v = 0; v < recipe.Views.Count; v++)
            if (recipe.Views[v].Kind == ViewKind.ResizeOf && (recipe.Views[v].Source < 2 || recipe.Views[v].Source > v))
                throw new ArgumentException($"view {v + 1} resizes view {recipe.Views[v].Source}, which must be an earlier view other than V1");
        var pairViews = recipe.Pairs.Select(p => p.View).ToList();
        if (pairViews.Distinct().Count() != pairViews.Count || pairViews.Order().SequenceEqual(Enumerable.Range(2, recipe.Views.Count - 1)) is false)
            throw new ArgumentException("a recipe needs exactly one pair (1, k) per view k ≥ 2");
        for (int p = 0; p < recipe.Pairs.Count; p++)
            if (recipe.Pairs[p].ReuseOf != 0 && !recipe.Pairs.Take(p).Any(q => q.View == recipe.Pairs[p].ReuseOf && q.ReuseOf == 0))
                throw new ArgumentException($"pair (1,{recipe.Pairs[p].View}) reuses pair (1,{recipe.Pairs[p].ReuseOf}), which must be an earlier pair with its own selection");
    }

    public ViewRecipe Recipe { get; }
    /// <summary>False: skip the colour pipelines (geometry only; tensors are the plain normalised pixels).</summary>
    public bool Color { get; }
    public bool KeepDetails { get; }

    public SocoSample Build(RgbImage image, ProposalBoxes proposals, SampleRandom rng, int index, int label = -1)
    {
        var r = Recipe;
        int nViews = r.Views.Count;
        int imageW = image.Width, imageH = image.Height;
        var geo = rng.Fork(1);

        // §4.3: up to max_tries draws of every view's crop and of each (non-reused) pair's selection.
        var crops = new CropParams[nViews];
        var selected = new List<Box>[nViews + 1]; // by partner view number
        int leastCommon = Math.Max(r.PaddingK / 2, 1);
        int tries = 0;
        bool accepted = false;
        while (tries < r.MaxTries && !accepted)
        {
            tries++;
            for (int v = 0; v < nViews; v++)
            {
                var spec = r.Views[v];
                crops[v] = spec.Kind switch
                {
                    ViewKind.Whole => CropParams.Whole(imageW, imageH),
                    ViewKind.RandomCrop => CropParams.RandomResized(geo, imageW, imageH, spec.CropScale, 1.0),
                    _ => crops[spec.Source - 1],
                };
            }
            accepted = true;
            foreach (var pair in r.Pairs)
            {
                if (pair.ReuseOf != 0) continue;
                var overlap = ProposalSelection.Overlap(crops[0], crops[pair.View - 1]);
                var candidates = ProposalSelection.Candidates(proposals.Boxes, overlap);
                selected[pair.View] = ProposalSelection.SelectRandom(candidates, r.SelectK, geo);
                if (selected[pair.View].Count < leastCommon) accepted = false;
            }
            if (!accepted) leastCommon = Math.Max(leastCommon / 2, 1);
        }

        // §4.9 draws first so each view's transform is complete; they come from the view's own stream.
        var viewRng = new SampleRandom[nViews];
        var transforms = new ViewTransform[nViews];
        for (int v = 0; v < nViews; v++)
        {
            viewRng[v] = rng.Fork(100 + (ulong)v);
            bool flip = viewRng[v].Bernoulli(r.FlipProb);
            transforms[v] = new ViewTransform(crops[v], r.Views[v].Size, flip);
        }
        // Clipping, padding and levels are computed on the un-flipped geometry (§4.7: before the flip).
        var plain = transforms.Select(t => t with { Flipped = false }).ToArray();

        var pairDetails = new PairDetails[r.Pairs.Count];
        var pairs = new PairBoxes[r.Pairs.Count];
        var padded = new (List<Box> B1, List<Box> BK, bool Fb1, bool FbK)[nViews + 1];
        for (int p = 0; p < r.Pairs.Count; p++)
        {
            var pair = r.Pairs[p];
            int k = pair.View;
            if (pair.ReuseOf != 0)
            {
                var src = padded[pair.ReuseOf];
                padded[k] = (new List<Box>(src.B1), new List<Box>(src.BK), src.Fb1, src.FbK);
            }
            else
            {
                var sel = selected[k];
                var b1 = r.Jitter ? ProposalSelection.Jitter(sel, r.JitterProb, r.JitterRatio, geo) : sel;
                var c1 = ProposalSelection.ClipToView(b1, plain[0], out bool fb1);
                var ck = ProposalSelection.ClipToView(sel, plain[k - 1], out bool fbk);
                var common = ProposalSelection.CommonIds(c1, ck);
                if (common.Count == 0)
                {
                    // Python would raise here (docs/soco-reference.md §4.6); only reachable when one side fell back: both views whole.
                    c1 = [plain[0].WholeView(1)];
                    ck = [plain[k - 1].WholeView(1)];
                    common = [1];
                    fb1 = fbk = true;
                }
                padded[k] = (ProposalSelection.Pad(c1, common, r.PaddingK, geo), ProposalSelection.Pad(ck, common, r.PaddingK, geo), fb1, fbk);
            }
            var (l1, lk, f1, fk) = padded[k];
            var levels1 = l1.Select(b => Geometry.Correspondence.Level(plain[0].IntResized(b), r.AwareRange)).ToArray();
            var levelsK = lk.Select(b => Geometry.Correspondence.Level(plain[k - 1].IntResized(b), r.AwareRange)).ToArray();
            var ids1 = l1.Select(b => b.Id).ToArray();
            var idsK = lk.Select(b => b.Id).ToArray();
            int[] assign1 = [], assignK = [];
            float[] corr;
            if (r.AwareLevels)
            {
                assign1 = Geometry.Correspondence.Assign(ids1, levels1, 1);
                assignK = Geometry.Correspondence.Assign(idsK, levelsK, k);
                corr = Geometry.Correspondence.Aware(assign1, assignK);
            }
            else corr = Geometry.Correspondence.Plain(ids1, idsK);
            var n1 = l1.Select(transforms[0].ApplyBox).ToArray();
            var nk = lk.Select(transforms[k - 1].ApplyBox).ToArray();
            pairs[p] = new PairBoxes(k, ToArray(n1), ToArray(nk), corr);
            pairDetails[p] = new PairDetails(k, l1, lk, n1, nk, levels1, levelsK, assign1, assignK, f1, fk,
                pair.ReuseOf != 0 ? selected[pair.ReuseOf].Count : selected[k].Count);
        }

        // Pixels: resized crops; a ResizeOf view resizes its source's un-flipped, un-coloured image (§4.1, SoCo* V4).
        var baseImages = new RgbImage[nViews];
        var images = new float[nViews][];
        var sizes = new int[nViews];
        var viewDetails = new ViewDetails[nViews];
        for (int v = 0; v < nViews; v++)
        {
            var spec = r.Views[v];
            baseImages[v] = spec.Kind == ViewKind.ResizeOf
                ? PilResize.Bilinear(baseImages[spec.Source - 1], spec.Size, spec.Size)
                : plain[v].ApplyImage(image);
        }
        for (int v = 0; v < nViews; v++)
        {
            var spec = r.Views[v];
            // The resized image is this view's own unless a later view resizes it (then colour works on a copy).
            bool reused = false;
            for (int u = v + 1; u < nViews; u++) reused |= r.Views[u].Kind == ViewKind.ResizeOf && r.Views[u].Source == v + 1;
            var img = reused ? new RgbImage(spec.Size, spec.Size, (byte[])baseImages[v].Pixels.Clone()) : baseImages[v];
            if (transforms[v].Flipped) ColorOps.FlipHorizontal(img);
            var colorLog = new List<string>();
            if (Color) ApplyColor(img, spec.Color, viewRng[v], KeepDetails ? colorLog : null);
            var tensor = ViewTensorPool.Rent(3 * spec.Size * spec.Size); // ToNormalizedTensor writes all
            ColorOps.ToNormalizedTensor(img, tensor);
            var cutouts = new List<CutoutSquare>();
            if (spec.Cutout && v > 0)
            {
                var boxes = pairDetails.First(pd => pd.View == v + 1).NormK;
                ApplyCutout(tensor, spec.Size, boxes, rng.Fork(200 + (ulong)v), cutouts);
            }
            images[v] = tensor;
            sizes[v] = spec.Size;
            viewDetails[v] = new ViewDetails(v + 1, transforms[v], img, colorLog, cutouts);
        }

        return new SocoSample
        {
            Index = index,
            Label = label,
            Images = images,
            Sizes = sizes,
            Pairs = pairs,
            Details = KeepDetails ? new SampleDetails(viewDetails, pairDetails, tries, accepted, proposals) : null,
            Warning = proposals.Warning,
        };
    }

    static float[] ToArray(IReadOnlyList<NormBox> boxes)
    {
        var a = new float[boxes.Count * 5];
        for (int i = 0; i < boxes.Count; i++)
        {
            var b = boxes[i];
            a[5 * i] = (float)b.X1;
            a[5 * i + 1] = (float)b.Y1;
            a[5 * i + 2] = (float)b.X2;
            a[5 * i + 3] = (float)b.Y2;
            a[5 * i + 4] = b.Id;
        }
        return a;
    }

    /// <summary>
    /// Spec §4.10: RandomApply(ColorJitter) with its four ops in random order, RandomGrayscale, Gaussian blur with
    /// σ ~ U(0.1, 2), solarize — torchvision semantics, each with the pipeline's probability.
    /// </summary>
    public static void ApplyColor(RgbImage img, ColorPipeline c, SampleRandom rng, List<string>? log = null)
    {
        if (c.JitterProb > 0 && rng.Bernoulli(c.JitterProb))
        {
            double b = rng.Uniform(Math.Max(0, 1 - c.Brightness), 1 + c.Brightness);
            double ct = rng.Uniform(Math.Max(0, 1 - c.Contrast), 1 + c.Contrast);
            double s = rng.Uniform(Math.Max(0, 1 - c.Saturation), 1 + c.Saturation);
            double h = rng.Uniform(-c.Hue, c.Hue);
            int[] order = [0, 1, 2, 3];
            rng.Shuffle(order);
            foreach (int op in order)
            {
                switch (op)
                {
                    case 0: ColorOps.AdjustBrightness(img, b); log?.Add($"brightness {b:0.###}"); break;
                    case 1: ColorOps.AdjustContrast(img, ct); log?.Add($"contrast {ct:0.###}"); break;
                    case 2: ColorOps.AdjustSaturation(img, s); log?.Add($"saturation {s:0.###}"); break;
                    default: ColorOps.AdjustHue(img, h); log?.Add($"hue {h:+0.###;-0.###}"); break;
                }
            }
        }
        if (c.GrayscaleProb > 0 && rng.Bernoulli(c.GrayscaleProb))
        {
            ColorOps.Grayscale(img);
            log?.Add("grayscale");
        }
        if (c.BlurProb > 0 && rng.Bernoulli(c.BlurProb))
        {
            double sigma = rng.Uniform(c.BlurSigmaMin, c.BlurSigmaMax);
            ColorOps.GaussianBlur(img, sigma);
            log?.Add($"blur σ={sigma:0.##}");
        }
        if (c.SolarizeProb > 0 && rng.Bernoulli(c.SolarizeProb))
        {
            ColorOps.Solarize(img);
            log?.Add("solarize");
        }
    }

    /// <summary>
    /// Spec §4.11 with the fix of §10.2: for each box (padding duplicates included) with probability cutout_prob, the
    /// flipped normalised box × S floored to ints, side s = round(√(U(0.1, 0.3)·bw·bh)), centre randint in the box,
    /// the square [c − s//2, c + s//2] clipped to [0, 224] and to the view is zeroed.
    /// </summary>
    void ApplyCutout(float[] tensor, int size, IReadOnlyList<NormBox> boxes, SampleRandom rng, List<CutoutSquare> log)
    {
        var r = Recipe;
        for (int i = 0; i < boxes.Count; i++)
        {
            if (!rng.Bernoulli(r.CutoutProb)) continue;
            var b = boxes[i];
            int x1 = (int)Math.Floor(b.X1 * size), y1 = (int)Math.Floor(b.Y1 * size);
            int x2 = (int)Math.Floor(b.X2 * size), y2 = (int)Math.Floor(b.Y2 * size);
            double area = rng.Uniform(r.CutoutRatioMin, r.CutoutRatioMax) * (x2 - x1 + 1) * (y2 - y1 + 1);
            int s = (int)Math.Round(Math.Sqrt(area), MidpointRounding.ToEven);
            int cx = rng.RandInt(x1, x2), cy = rng.RandInt(y1, y2);
            int qx1 = Math.Max(cx - s / 2, 0), qx2 = Math.Min(cx + s / 2, r.CutoutClampSize);
            int qy1 = Math.Max(cy - s / 2, 0), qy2 = Math.Min(cy + s / 2, r.CutoutClampSize);
            Cutout.Zero(tensor, size, qx1, qy1, qx2, qy2);
            log.Add(new CutoutSquare(qx1, qy1, Math.Min(qx2, size - 1), Math.Min(qy2, size - 1), i));
        }
    }
}
