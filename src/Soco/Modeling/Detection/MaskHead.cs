using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling.Detection;

/// <summary>
/// The mask branch of Mask R-CNN (docs/mask-rcnn.md §Head): Detectron2's <c>MaskRCNNConvUpsampleHead</c> with norm —
/// four 3×3 convs (no bias) each followed by BatchNorm and ReLU, a 2×2 stride-2 transposed conv + ReLU, and a 1×1
/// predictor — on 14×14 pooled RoIs, giving 28×28 mask logits per class. The layout is torchvision's
/// <c>MaskRCNNHeads</c> + <c>MaskRCNNPredictor</c> of <c>maskrcnn_resnet50_fpn_v2</c> (one predictor channel per class
/// including background, indexed by the label), so its weights load one to one. Class-agnostic (one channel) on request.
/// Names: <c>conv1..4</c>, <c>bn1..4</c>, <c>deconv</c>, <c>predictor</c>.
/// <para>With <c>numConv</c> 0 it is Detectron2's R-C4 mask head (<c>ROI_MASK_HEAD.NUM_CONV</c> 0, no norm;
/// docs/mask-rcnn-c4.md): the transposed conv reads the res5 features of the RoIs (7×7 after the 14×14 pooler) and
/// the predictor gives 14×14 mask logits.</para>
/// </summary>
public sealed class MaskRcnnHead : Module<Tensor, Tensor>
{
    // Declaration order = registration order = PyTorch's parameter order.
    readonly Conv2d? conv1;
    readonly BatchNorm? bn1;
    readonly Conv2d? conv2;
    readonly BatchNorm? bn2;
    readonly Conv2d? conv3;
    readonly BatchNorm? bn3;
    readonly Conv2d? conv4;
    readonly BatchNorm? bn4;
    readonly ConvTranspose2d deconv;
    readonly Conv2d predictor;

    /// <param name="inChannels">Pooled feature channels (the FPN width).</param>
    /// <param name="convDim">Width of the four convs and the transposed conv.</param>
    /// <param name="numClasses">Classes including background; the predictor has that many channels, or one when
    /// <paramref name="classAgnostic"/>.</param>
    /// <param name="numConv">4: the FPN head (four 3×3 convs with BatchNorm); 0: the R-C4 head (transposed conv
    /// straight on the <paramref name="inChannels"/>-channel res5 features).</param>
    public MaskRcnnHead(int inChannels, int convDim, int numClasses, bool classAgnostic = false, int numConv = 4) : base(nameof(MaskRcnnHead))
    {
        if (inChannels < 1 || convDim < 1) throw new ArgumentException("mask head widths must be positive.");
        if (numClasses < 2) throw new ArgumentException("a mask head needs background plus at least one class.", nameof(numClasses));
        if (numConv is not (0 or 4)) throw new ArgumentException($"a mask head has 4 convs (FPN) or none (R-C4), not {numConv}.", nameof(numConv));
        if (numConv == 4)
        {
            conv1 = Conv2d(inChannels, convDim, 3, padding: 1, bias: false);
            bn1 = Norms.BatchNorm2d(convDim);
            conv2 = Conv2d(convDim, convDim, 3, padding: 1, bias: false);
            bn2 = Norms.BatchNorm2d(convDim);
            conv3 = Conv2d(convDim, convDim, 3, padding: 1, bias: false);
            bn3 = Norms.BatchNorm2d(convDim);
            conv4 = Conv2d(convDim, convDim, 3, padding: 1, bias: false);
            bn4 = Norms.BatchNorm2d(convDim);
        }
        NumConv = numConv;
        deconv = ConvTranspose2d(numConv == 4 ? convDim : inChannels, convDim, 2, stride: 2);
        predictor = Conv2d(convDim, classAgnostic ? 1 : numClasses, 1);
        ClassAgnostic = classAgnostic;
        NumClasses = numClasses;
        // Detectron2's initialisation (mask_head.py): MSRA fill (fan_out, ReLU) for the convs and the transposed conv,
        // biases zero, predictor N(0, 0.001²). Draws come from the seeded global generator, in registration order.
        using (no_grad())
        {
            foreach (var c in new Module?[] { conv1, conv2, conv3, conv4, deconv }.OfType<Module>())
            {
                var w = c is Conv2d cv ? cv.weight! : ((ConvTranspose2d)c).weight!;
                init.kaiming_normal_(w, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
            }
            init.zeros_(deconv.bias!);
            init.normal_(predictor.weight!, 0, 0.001);
            init.zeros_(predictor.bias!);
        }
        RegisterComponents();
    }

    /// <summary>Classes including background.</summary>
    public int NumClasses { get; }
    /// <summary>One mask per RoI for every class (Detectron2's CLS_AGNOSTIC_MASK) instead of one per class.</summary>
    public bool ClassAgnostic { get; }
    /// <summary>3×3 convs before the transposed conv: 4 (FPN) or 0 (R-C4).</summary>
    public int NumConv { get; }

    /// <summary>K×C×S×S RoI features (FPN: pooled 14×14; R-C4: res5's 7×7) → K×(classes or 1)×2S×2S mask logits.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = x;
        if (NumConv == 4)
        {
            y = functional.relu(bn1!.forward(conv1!.forward(y)));
            y = functional.relu(bn2!.forward(conv2!.forward(y)));
            y = functional.relu(bn3!.forward(conv3!.forward(y)));
            y = functional.relu(bn4!.forward(conv4!.forward(y)));
        }
        y = functional.relu(deconv.forward(y));
        return predictor.forward(y).MoveToOuterDisposeScope();
    }

    /// <summary>The logits of each RoI's channel: its label's (class-specific) or the one channel (class-agnostic).</summary>
    public Tensor SelectChannel(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        long k = logits.shape[0];
        var channel = ClassAgnostic ? zeros(k, dtype: int64, device: logits.device) : labels.to(int64).to(logits.device);
        var picked = logits.gather(1, channel.view(k, 1, 1, 1).expand(k, 1, logits.shape[2], logits.shape[3]));
        return picked.squeeze(1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Mask targets, loss and inference around <see cref="MaskRcnnHead"/>, with torchvision 0.14's arithmetic
/// (roi_heads.py <c>project_masks_on_boxes</c>, <c>maskrcnn_loss</c>, <c>maskrcnn_inference</c>,
/// <c>paste_masks_in_image</c>; transform.py's mask resize). docs/mask-rcnn.md says why these and not Detectron2's.
/// </summary>
public static class MaskOps
{
    /// <summary>
    /// Mask targets (K×M×M, soft values in [0, 1]): RoIAlign of each proposal's matched gt mask (<paramref name="gtMasks"/>
    /// G×H×W, full image at the proposals' scale) inside the proposal box, output M×M, scale 1, adaptive sampling,
    /// aligned = false — torchvision's <c>project_masks_on_boxes</c>.
    /// </summary>
    public static Tensor ProjectMasksOnBoxes(Tensor gtMasks, Tensor boxes, Tensor matchedIdxs, int m)
    {
        using var scope = NewDisposeScope();
        var dt = boxes.dtype;
        if (boxes.shape[0] == 0) return zeros(0, m, m, dtype: dt, device: boxes.device).MoveToOuterDisposeScope();
        var rois = cat([matchedIdxs.to(dt).view(-1, 1), boxes], 1);
        var t = RoiAlign.Apply(gtMasks.unsqueeze(1).to(dt), rois, m, 1.0, -1, aligned: false);
        return t.select(1, 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// torchvision's <c>maskrcnn_loss</c>: binary cross-entropy with logits, mean over the positive RoIs' pixels, on the
    /// gt class's channel (<paramref name="selectedLogits"/>: K×M×M already picked by <see cref="MaskRcnnHead.SelectChannel"/>)
    /// against <paramref name="targets"/> (K×M×M). No positive RoI → 0, still connected to the graph.
    /// </summary>
    public static Tensor Loss(Tensor allLogits, Tensor selectedLogits, Tensor targets)
    {
        if (targets.numel() == 0) return allLogits.sum().Mul(0.0);
        return functional.binary_cross_entropy_with_logits(selectedLogits, targets.to(selectedLogits.dtype));
    }

    /// <summary>
    /// torchvision's <c>paste_masks_in_image</c> (padding 1) for masks K×1×M×M (probabilities) and boxes K×4 in the
    /// target image's pixels: each mask zero-padded to (M+2)², its box widened about the centre by (M+2)/M in float32 and
    /// truncated to integers, the mask resized bilinearly to the box's (x2 − x1 + 1)×(y2 − y1 + 1) and copied into a
    /// zero image of <paramref name="imageSize"/> where they overlap. Returns K×1×H×W probabilities (threshold them
    /// at &gt; 0.5 for a binary mask, as torchvision's COCO evaluation does).
    /// </summary>
    public static Tensor PasteMasksInImage(Tensor masks, Tensor boxes, (long Height, long Width) imageSize, int padding = 1)
    {
        using var scope = NewDisposeScope();
        long k = masks.shape[0], m = masks.shape[^1];
        long imH = imageSize.Height, imW = imageSize.Width;
        var result = zeros(k, 1, imH, imW, dtype: masks.dtype, device: masks.device);
        if (k == 0) return result.MoveToOuterDisposeScope();
        var padded = functional.pad(masks, [padding, padding, padding, padding]);
        var exp = PasteRectangles(boxes, m, padding);
        for (long i = 0; i < k; i++)
        {
            long x1 = exp[4 * i], y1 = exp[4 * i + 1], x2 = exp[4 * i + 2], y2 = exp[4 * i + 3];
            long w = Math.Max(x2 - x1 + 1, 1), h = Math.Max(y2 - y1 + 1, 1);
            long x0 = Math.Max(x1, 0), xe = Math.Min(x2 + 1, imW), y0 = Math.Max(y1, 0), ye = Math.Min(y2 + 1, imH);
            if (xe <= x0 || ye <= y0) continue;
            var one = padded[i];   // 1×(M+2)×(M+2)
            var resized = one.dtype == float32 ? Soco.Ops.BilinearResize.Apply(one, h, w)
                : functional.interpolate(one.unsqueeze(0), size: [h, w], mode: InterpolationMode.Bilinear, align_corners: false).squeeze(0);
            result[i].narrow(1, y0, ye - y0).narrow(2, x0, xe - x0).copy_(resized.narrow(1, y0 - y1, ye - y0).narrow(2, x0 - x1, xe - x0));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The integer rectangles <see cref="PasteMasksInImage"/> resizes each M×M mask into (x1, y1, x2, y2 per box,
    /// inclusive): torchvision's <c>expand_boxes</c> in the boxes' dtype (float32: half sizes · (M+2·padding)/M,
    /// centres) cast to int64 (truncation toward zero). A box coordinate that lands near an integer after the
    /// widening can move its rectangle by a pixel for a float32 rounding of the box (docs/mask-rcnn-results.md
    /// §Whole-model mask parity).
    /// </summary>
    public static long[] PasteRectangles(Tensor boxes, long m, int padding = 1)
    {
        using var scope = NewDisposeScope();
        double scale = (double)(m + 2 * padding) / m;
        var b = boxes.detach();
        var wHalf = b.select(1, 2).sub(b.select(1, 0)).Mul(0.5).Mul(scale);
        var hHalf = b.select(1, 3).sub(b.select(1, 1)).Mul(0.5).Mul(scale);
        var xc = b.select(1, 2).Plus(b.select(1, 0)).Mul(0.5);
        var yc = b.select(1, 3).Plus(b.select(1, 1)).Mul(0.5);
        return stack([xc.sub(wHalf), yc.sub(hHalf), xc.Plus(wHalf), yc.Plus(hHalf)], 1).to(int64).cpu().contiguous().data<long>().ToArray();
    }

    /// <summary>
    /// Resizes full-image masks (G×H×W, any dtype) to <paramref name="height"/>×<paramref name="width"/> by nearest
    /// neighbour with PyTorch 1.13's index rule (source = min(floor(i · (in/out in float32)), in − 1)), as torchvision's
    /// transform resizes target masks beside the image. Returns uint8.
    /// </summary>
    public static Tensor ResizeNearest(Tensor masks, long height, long width)
    {
        using var scope = NewDisposeScope();
        var rows = NearestIndex(masks.shape[1], height, masks.device);
        var cols = NearestIndex(masks.shape[2], width, masks.device);
        return masks.to(uint8).index_select(1, rows).index_select(2, cols).MoveToOuterDisposeScope();
    }

    static Tensor NearestIndex(long input, long output, Device device)
    {
        var idx = new long[output];
        float scale = (float)input / output;
        for (long i = 0; i < output; i++) idx[i] = Math.Min((long)MathF.Floor(i * scale), input - 1);
        return tensor(idx, device: device);
    }
}
