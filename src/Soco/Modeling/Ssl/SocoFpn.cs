using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// SoCo_FPN (docs/soco-reference.md §5.3–5.9): ResNet → FPN P2..P5 → RoIAlign 7×7 per level → conv-fc box head → projector
/// (1024 → 4096 → 256) → predictor. Names <c>encoder, neck, head, projector, predictor, encoder_k, neck_k, head_k,
/// projector_k</c>, plus the buffer <c>ema_step</c>. Two view pairs (V1–V2, V1–V3).
/// </summary>
public class SocoFpn : SocoModel
{
    public const int Levels = 4;

    public SocoFpn(SocoConfig? config = null) : this(nameof(SocoFpn), config) { }

    protected SocoFpn(string name, SocoConfig? config) : base(name, config ?? new SocoConfig())
    {
        FinishConstruction(() => SslBranch.FpnHeadProjector(Config));
    }

    public ResNet Encoder => Online.Encoder;
    public Fpn Neck => Online.Neck!;
    public ConvFcBoxHead Head => Online.Head!;
    public MlpHead Projector => Online.Projector;

    protected override int? ExpectedPairs => 2;
    protected override long SlotsPerList(long boxesPerList) => Levels * boxesPerList;

    /// <summary>P2..P5 of one view from the online (or target) network.</summary>
    public Tensor[] Pyramid(Tensor image, bool target = false)
    {
        using var scope = NewDisposeScope();
        var net = Branch(target);
        var outs = net.Neck!.forward(net.Encoder.ForwardMixed(image));
        foreach (var t in outs) t.MoveToOuterDisposeScope();
        return outs;
    }

    protected override Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks)
    {
        using var scope = NewDisposeScope();
        var pyramid = Pyramid(image, target);
        if (pyramid.Length != Levels) throw new InvalidOperationException($"the FPN must give {Levels} levels, got {pyramid.Length}.");
        var h = Branch(target).Head!;
        Tensor Pool(Tensor boxes, int lv) => RoiPooling.PoolOneLevel(pyramid[lv], boxes, Config.RoiOutputSize, Config.Aligned, Config.SamplingRatio, HostBoxes(boxes));
        // bf16 / channels-last: every (box list, level) chunk of this view through the head in one call, which runs
        // each convolution once over all chunks (each chunk still its own BatchNorm batch). Plain float32 keeps the
        // official interleaved pool → head → projector order per chunk, op for op (bit-identical golden losses).
        var heads = slotMasks is null && h.BatchesChunks
            ? h.ForwardChunks(boxLists.SelectMany(boxes => Enumerable.Range(0, Levels).Select(lv => Pool(boxes, lv))).ToArray())
            : null;
        var outs = new Tensor[boxLists.Count];
        for (int i = 0; i < boxLists.Count; i++)
        {
            var boxes = boxLists[i];
            long n = boxes.shape[0], l = boxes.shape[1];
            Tensor e;
            if (slotMasks is null)
            {
                // Official: each level is its own head/MLP batch of N·L RoIs; levels concatenated level-major.
                var perLevel = new Tensor[Levels];
                for (int lv = 0; lv < Levels; lv++)
                    perLevel[lv] = Project(heads?[i * Levels + lv] ?? h.forward(Pool(boxes, lv)), target).reshape(n, l, -1);
                e = cat(perLevel, 1);
            }
            else
            {
                e = EmbedAssigned(pyramid, boxes, slotMasks[i], h, target);
            }
            outs[i] = e.MoveToOuterDisposeScope();
        }
        return outs;
    }

    /// <summary>Only the active (box, level) slots, one BN batch; inactive slots get zero vectors (they meet zeros in
    /// the correspondence, so the loss is the same function of the active slots).</summary>
    Tensor EmbedAssigned(Tensor[] pyramid, Tensor boxes, bool[,] mask, ConvFcBoxHead h, bool target)
    {
        long n = boxes.shape[0], l = boxes.shape[1], m = Levels * l;
        var batchIdx = new List<long>();
        var levels = new List<long>();
        var boxIdx = new List<long>();
        var slotToRow = new long[n * m];
        for (long b = 0; b < n; b++)
            for (long s = 0; s < m; s++)
            {
                if (mask[b, s])
                {
                    slotToRow[b * m + s] = boxIdx.Count;
                    batchIdx.Add(b);
                    levels.Add(s / l);
                    boxIdx.Add(b * l + s % l);
                }
                else slotToRow[b * m + s] = -1;
            }
        int active = boxIdx.Count;
        long dim = Config.EmbeddingDim;
        if (active == 0) return zeros(n, m, dim, device: boxes.device);
        if (active == 1)
            throw new InvalidOperationException("assigned-level pooling found a single usable box in this batch; BatchNorm needs at least two. Use more boxes or images per batch.");
        for (int j = 0; j < slotToRow.Length; j++) if (slotToRow[j] < 0) slotToRow[j] = active; // the zero row
        var flat = boxes.reshape(n * l, boxes.shape[2]).index_select(0, tensor(boxIdx.ToArray(), device: boxes.device));
        var pooled = RoiPooling.PoolNormalizedAssigned(pyramid, flat, batchIdx, levels, Config.RoiOutputSize, Config.Aligned, Config.SamplingRatio);
        var emb = Project(h.forward(pooled), target);
        var withZero = cat([emb, zeros(1, emb.shape[1], dtype: emb.dtype, device: emb.device)], 0);
        return withZero.index_select(0, tensor(slotToRow, device: emb.device)).view(n, m, -1);
    }

    /// <summary>Head output (K×1024) and projection (K×256, not normalised) of boxes N×L×(≥4) on one pyramid level.</summary>
    public (Tensor HeadOutput, Tensor Projection) ObjectEmbeddings(Tensor level, Tensor boxes, bool target = false)
    {
        using var scope = NewDisposeScope();
        var pooled = RoiPooling.PoolOneLevel(level, boxes, Config.RoiOutputSize, Config.Aligned, Config.SamplingRatio);
        var net = Branch(target);
        var ho = net.Head!.forward(pooled);
        var pr = net.Projector.forward(ho);
        return (ho.MoveToOuterDisposeScope(), pr.MoveToOuterDisposeScope());
    }
}

/// <summary>SoCo_FPN_Star (SoCo*, docs/soco-reference.md §5.10): the SoCo_FPN model with a third pair (V1–V4).</summary>
public sealed class SocoFpnStar : SocoFpn
{
    public SocoFpnStar(SocoConfig? config = null) : base(nameof(SocoFpnStar), config) { }
    protected override int? ExpectedPairs => 3;
}
