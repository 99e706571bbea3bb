using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>Which (box, level) slots the FPN models run through head, projector and predictor.</summary>
public enum LevelPooling
{
    /// <summary>The official behaviour (docs/soco-reference.md §5.8): every box on every level, each level its own BN batch.</summary>
    EveryLevel,

    /// <summary>
    /// Only the slots the correspondence can use (a row of C with a 1 for view-1 lists, a column for the other view's
    /// list); all of a list's active slots form one BN batch. Same loss terms, far less compute, different BN statistics.
    /// </summary>
    AssignedLevels,
}

/// <summary>Sizes and settings of a SoCo model. Defaults are the released ones.</summary>
public sealed record SocoConfig
{
    public ResNetConfig Backbone { get; init; } = ResNetConfig.R50;
    public int FpnChannels { get; init; } = 256;
    public int HeadConvDim { get; init; } = 256;
    public int HeadFcDim { get; init; } = 1024;
    public int MlpHiddenDim { get; init; } = 4096;
    public int EmbeddingDim { get; init; } = 256;
    /// <summary>RoIAlign output side for the FPN box head (7). SoCo_C4 always pools 14×14 on C4.</summary>
    public int RoiOutputSize { get; init; } = 7;
    public bool Aligned { get; init; } = true;
    public int SamplingRatio { get; init; } = -1;
    /// <summary>m0 of the momentum schedule (0.99 in the scripts).</summary>
    public double BaseMomentum { get; init; } = 0.99;
    /// <summary>K of the momentum schedule (see <see cref="MomentumSchedule.TotalSteps"/>).</summary>
    public long TotalSteps { get; init; } = 1;
    public LevelPooling Pooling { get; init; } = LevelPooling.EveryLevel;
    /// <summary>Precision of the backbone, FPN and box-head convolutions (<see cref="MixedPrecision"/>).</summary>
    public ConvPrecision Precision { get; init; } = ConvPrecision.Fp32;
    /// <summary>Run those convolutions on NHWC-strided maps (PyTorch's <c>channels_last</c>, <see cref="MixedConv2d"/>).</summary>
    public bool ChannelsLast { get; init; }
}

/// <summary>
/// One training batch. Pair p compares view 1 (boxes <c>View1Boxes[p]</c>) with <c>OtherViews[p]</c> (boxes
/// <c>OtherBoxes[p]</c>) under correspondence <c>Correspondences[p]</c> (N×M×M; M = L for C4, P·L for FPN).
/// Boxes are N×L×5 normalised <c>[x1, y1, x2, y2, id]</c> (the id column is ignored). Views are normalised images.
/// SoCo_C4: one pair; SoCo_FPN: two (V2 224, V3 112); SoCo_FPN_Star: three (V2, V3 192, V4 112).
/// </summary>
public sealed record SocoBatch(Tensor View1, IReadOnlyList<Tensor> OtherViews, IReadOnlyList<Tensor> View1Boxes,
    IReadOnlyList<Tensor> OtherBoxes, IReadOnlyList<Tensor> Correspondences)
{
    public int Pairs => OtherViews.Count;
}

/// <summary>Loss plus the normalised embeddings that produced it (N×M×D each, per pair).</summary>
public sealed record SocoOutput(Tensor Loss, Tensor[] View1Predictions, Tensor[] OtherPredictions, Tensor[] View1Targets, Tensor[] OtherTargets);

/// <summary>
/// Shared machinery of the three SoCo models: online and target networks, the EMA with its step counter (a
/// registered buffer <c>ema_step</c>, so it is saved and restored — the official code loses it on resume, docs/soco-reference.md §6.1),
/// the forward order of docs/soco-reference.md §5.8 and the loss of §5.9.
/// </summary>
public abstract class SocoModel : Module<SocoBatch, Tensor>
{
    protected SocoModel(string name, SocoConfig config) : base(name)
    {
        Config = config;
    }

    public SocoConfig Config { get; }

    /// <summary>(online, target) module pairs the EMA covers.</summary>
    protected abstract IEnumerable<(Module Online, Module Target)> MomentumPairs { get; }

    /// <summary>Registers the named submodules in state-dict order (explicitly: reflection-based registration misses
    /// a base class's private fields in derived models), the EMA counter, and copies online → target.</summary>
    protected void FinishConstruction(params (string Name, Module Module)[] modules)
    {
        foreach (var (name, module) in modules) register_module(name, module);
        register_buffer("ema_step", tensor(0L));
        foreach (var (q, k) in MomentumPairs) TargetNetwork.InitializeFrom(q, k);
        MixedPrecision.Apply(this, Config.Precision, Config.ChannelsLast);
    }

    /// <summary>Number of EMA updates done so far (k of the schedule).</summary>
    public long EmaStep
    {
        get => get_buffer("ema_step")!.item<long>();
        set { using var _ = no_grad(); get_buffer("ema_step")!.Fill(value); }
    }

    /// <summary>
    /// Whether <see cref="ForwardWithOutputs"/> performs the EMA update (default true, the official behaviour). Gradient
    /// accumulation turns it off for every micro-batch after the first, so the target network moves once per optimiser
    /// step, as in the official data-parallel run (one update per iteration, whatever the number of GPUs).
    /// </summary>
    public bool UpdateTargetInForward { get; set; } = true;

    /// <summary>The momentum the next update will use.</summary>
    public double NextMomentum => MomentumSchedule.At(EmaStep, Config.TotalSteps, Config.BaseMomentum);

    /// <summary>One EMA update of every target module, then k ← k + 1 (the official <c>_momentum_update_key_encoder</c>).</summary>
    public void UpdateTargetNetwork()
    {
        double m = NextMomentum;
        foreach (var (q, k) in MomentumPairs) TargetNetwork.Update(q, k, m);
        using var _ = no_grad();
        get_buffer("ema_step")!.AddInPlace(1);
    }

    /// <summary>Parameters the optimiser trains (the online networks; target parameters are frozen).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> OnlineParameters()
        => named_parameters().Where(p => p.parameter.requires_grad);

    /// <summary>
    /// Normalised embeddings N×M×D of each box list of one view. <paramref name="target"/> picks the target network
    /// (projections) instead of the online one (predictions). <paramref name="slotMasks"/> (per list, N×M bool, on the
    /// CPU) is given in <see cref="LevelPooling.AssignedLevels"/> mode only.
    /// </summary>
    protected abstract Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks);

    /// <summary>Expected M of the correspondence for L boxes per list.</summary>
    protected abstract long SlotsPerList(long boxesPerList);

    public override Tensor forward(SocoBatch batch) => ForwardWithOutputs(batch).Loss;

    /// <summary>The training forward (docs/soco-reference.md §5.8): online view 1 (all its lists), online other views, EMA update,
    /// target view 1, target other views; then the symmetric loss summed over pairs.</summary>
    public SocoOutput ForwardWithOutputs(SocoBatch batch)
    {
        Check(batch);
        // The boxes on the host, read once before any of this step's work is queued: RoIAlign's checks and grid sizes
        // then need no copy back from a GPU in the middle of the forward (each would wait for the queued work).
        _hostBoxes = new Dictionary<Tensor, float[]>(ReferenceEqualityComparer.Instance);
        foreach (var b in batch.View1Boxes.Concat(batch.OtherBoxes))
            if (!_hostBoxes.ContainsKey(b))
            {
                using var cpu = b.detach().to(float32).cpu().contiguous();
                _hostBoxes[b] = cpu.data<float>().ToArray();
            }
        try
        {
            return ForwardCore(batch);
        }
        finally
        {
            _hostBoxes = null;
        }
    }

    Dictionary<Tensor, float[]>? _hostBoxes;

    /// <summary>Called with a phase name as each part of the training forward ends (<c>forward_online</c>, <c>ema</c>,
    /// <c>forward_target</c>, <c>loss</c>); null in normal use. `soco bench step --breakdown` sets it to synchronise the
    /// device and read a clock, to attribute the step time (docs/gpu.md).</summary>
    public Action<string>? PhaseEnded { get; set; }

    /// <summary>The host copy of a box list of the batch being run (null outside <see cref="ForwardWithOutputs"/>).</summary>
    protected float[]? HostBoxes(Tensor boxes) => _hostBoxes is not null && _hostBoxes.TryGetValue(boxes, out var h) ? h : null;

    SocoOutput ForwardCore(SocoBatch batch)
    {
        bool[][,]? masks1 = null, masksO = null;
        if (Config.Pooling == LevelPooling.AssignedLevels)
        {
            masks1 = batch.Correspondences.Select(c => NonZero(c, 2)).ToArray();
            masksO = batch.Correspondences.Select(c => NonZero(c, 1)).ToArray();
        }
        int pairs = batch.Pairs;
        var q1 = Embed(batch.View1, batch.View1Boxes, false, masks1);
        var qo = new Tensor[pairs];
        for (int p = 0; p < pairs; p++) qo[p] = Embed(batch.OtherViews[p], [batch.OtherBoxes[p]], false, masksO is null ? null : [masksO[p]])[0];
        PhaseEnded?.Invoke("forward_online");

        if (UpdateTargetInForward) UpdateTargetNetwork();
        PhaseEnded?.Invoke("ema");

        Tensor[] z1;
        var zo = new Tensor[pairs];
        using (no_grad())
        {
            z1 = Embed(batch.View1, batch.View1Boxes, true, masks1);
            for (int p = 0; p < pairs; p++) zo[p] = Embed(batch.OtherViews[p], [batch.OtherBoxes[p]], true, masksO is null ? null : [masksO[p]])[0];
        }
        PhaseEnded?.Invoke("forward_target");

        Tensor? loss = null;
        for (int p = 0; p < pairs; p++)
        {
            var c = batch.Correspondences[p].to(q1[p].dtype);
            // Tensor + tensor passes TorchSharp's implicit alpha scalar: explicit here (see ExplicitScalars).
            var term = SocoLoss.Pair(q1[p], zo[p], c).Plus(SocoLoss.Pair(qo[p], z1[p], c.transpose(1, 2)));
            loss = loss is null ? term : loss.Plus(term);
        }
        PhaseEnded?.Invoke("loss");
        return new SocoOutput(loss!, q1, qo, z1, zo);
    }

    void Check(SocoBatch b)
    {
        int p = b.Pairs;
        if (p < 1 || b.View1Boxes.Count != p || b.OtherBoxes.Count != p || b.Correspondences.Count != p)
            throw new ArgumentException($"a SoCo batch needs one view-1 box list, one other view, its boxes and a correspondence per pair (got {b.OtherViews.Count}, {b.View1Boxes.Count}, {b.OtherBoxes.Count}, {b.Correspondences.Count}).", nameof(b));
        if (ExpectedPairs is int e && p != e) throw new ArgumentException($"{GetName()} expects {e} view pairs, got {p}.", nameof(b));
        long n = b.View1.shape[0];
        for (int i = 0; i < p; i++)
        {
            foreach (var boxes in new[] { b.View1Boxes[i], b.OtherBoxes[i] })
                if (boxes.dim() != 3 || boxes.shape[0] != n || boxes.shape[2] < 4)
                    throw new ArgumentException($"pair {i}: boxes must be N×L×5 with N = {n}; got [{string.Join(", ", boxes.shape)}].", nameof(b));
            long m = SlotsPerList(b.View1Boxes[i].shape[1]);
            var c = b.Correspondences[i];
            if (c.dim() != 3 || c.shape[0] != n || c.shape[1] != m || c.shape[2] != SlotsPerList(b.OtherBoxes[i].shape[1]))
                throw new ArgumentException($"pair {i}: correspondence must be N×{m}×{m}; got [{string.Join(", ", c.shape)}].", nameof(b));
            if (b.OtherViews[i].shape[0] != n) throw new ArgumentException($"pair {i}: the other view has batch {b.OtherViews[i].shape[0]}, view 1 has {n}.", nameof(b));
        }
    }

    /// <summary>Pairs this model accepts (null: any).</summary>
    protected virtual int? ExpectedPairs => null;

    static bool[,] NonZero(Tensor c, int dim)
    {
        using var s = c.detach().to(float64).abs().sum(dim).cpu().contiguous();
        long n = s.shape[0], m = s.shape[1];
        var v = s.data<double>().ToArray();
        var r = new bool[n, m];
        for (long i = 0; i < n; i++) for (long j = 0; j < m; j++) r[i, j] = v[i * m + j] > 0;
        return r;
    }

    /// <summary>Projector → (predictor) → L2 normalise (eps 1e-12) → N×L×D.</summary>
    protected static Tensor Project(Tensor features, MlpHead projector, MlpHead? predictor)
    {
        var y = projector.forward(features);
        if (predictor is not null) y = predictor.forward(y);
        return nn.functional.normalize(y, p: 2, dim: 1, eps: 1e-12);
    }
}

/// <summary>
/// SoCo_C4 (docs/soco-reference.md §5.2): stem → layer3 (C4) → RoIAlign 14×14 aligned on C4 → layer4 on the RoIs → 7×7 average →
/// projector (2048 → 4096 → 256) → predictor. Names <c>encoder, projector, predictor, encoder_k, projector_k</c>,
/// plus the buffer <c>ema_step</c>. The official unused MoCo queue buffers are not created.
/// </summary>
public sealed class SocoC4 : SocoModel
{
    readonly ResNet encoder, encoder_k;
    readonly MlpHead projector, predictor, projector_k;

    public const int RoiSize = 14;

    public SocoC4(SocoConfig? config = null) : base(nameof(SocoC4), config ?? new SocoConfig())
    {
        encoder = new ResNet(Config.Backbone);
        int feat = Config.Backbone.StageChannels[3];
        projector = new MlpHead(feat, Config.MlpHiddenDim, Config.EmbeddingDim);
        predictor = new MlpHead(Config.EmbeddingDim, Config.MlpHiddenDim, Config.EmbeddingDim);
        encoder_k = new ResNet(Config.Backbone);
        projector_k = new MlpHead(feat, Config.MlpHiddenDim, Config.EmbeddingDim);
        FinishConstruction(("encoder", encoder), ("projector", projector), ("predictor", predictor), ("encoder_k", encoder_k), ("projector_k", projector_k));
    }

    public ResNet Encoder => encoder;
    public MlpHead Projector => projector;
    public MlpHead Predictor => predictor;

    protected override IEnumerable<(Module Online, Module Target)> MomentumPairs => [(encoder, encoder_k), (projector, projector_k)];
    protected override int? ExpectedPairs => 1;
    protected override long SlotsPerList(long boxesPerList) => boxesPerList;

    /// <summary>Per-box 2048-d (C5-width) features of one view: the official C4 encoder with boxes.</summary>
    public Tensor BoxFeatures(Tensor image, Tensor boxes, bool target = false)
    {
        using var scope = NewDisposeScope();
        var net = target ? encoder_k : encoder;
        var c4 = net.ForwardToC4(image);
        return PoolC4(net, c4, boxes).MoveToOuterDisposeScope();
    }

    Tensor PoolC4(ResNet net, Tensor c4, Tensor boxes)
    {
        var rois = RoiPooling.PoolOneLevel(c4, boxes, RoiSize, aligned: true, samplingRatio: -1, hostBoxes: HostBoxes(boxes));
        var c5 = net.Layer4.forward(rois);
        return nn.functional.avg_pool2d(c5, [c5.shape[2], c5.shape[3]], [1, 1]).flatten(1);
    }

    protected override Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks)
    {
        using var scope = NewDisposeScope();
        var net = target ? encoder_k : encoder;
        var c4 = net.ForwardToC4(image);
        var outs = new Tensor[boxLists.Count];
        for (int i = 0; i < boxLists.Count; i++)
        {
            var b = boxLists[i];
            var f = PoolC4(net, c4, b);
            var e = Project(f, target ? projector_k : projector, target ? null : predictor);
            outs[i] = e.reshape(b.shape[0], b.shape[1], -1).MoveToOuterDisposeScope();
        }
        return outs;
    }
}

/// <summary>
/// SoCo_FPN (docs/soco-reference.md §5.3–5.9): ResNet → FPN P2..P5 → RoIAlign 7×7 per level → conv-fc box head → projector
/// (1024 → 4096 → 256) → predictor. Names <c>encoder, neck, head, projector, predictor, encoder_k, neck_k, head_k,
/// projector_k</c>, plus the buffer <c>ema_step</c>. Two view pairs (V1–V2, V1–V3).
/// </summary>
public class SocoFpn : SocoModel
{
    readonly ResNet encoder, encoder_k;
    readonly Fpn neck, neck_k;
    readonly ConvFcBoxHead head, head_k;
    readonly MlpHead projector, predictor, projector_k;

    public const int Levels = 4;

    public SocoFpn(SocoConfig? config = null) : this(nameof(SocoFpn), config) { }

    protected SocoFpn(string name, SocoConfig? config) : base(name, config ?? new SocoConfig())
    {
        var c = Config;
        encoder = new ResNet(c.Backbone);
        neck = new Fpn(c.Backbone.StageChannels, c.FpnChannels);
        head = new ConvFcBoxHead(c.FpnChannels, c.HeadConvDim, c.RoiOutputSize, c.HeadFcDim);
        projector = new MlpHead(c.HeadFcDim, c.MlpHiddenDim, c.EmbeddingDim);
        predictor = new MlpHead(c.EmbeddingDim, c.MlpHiddenDim, c.EmbeddingDim);
        encoder_k = new ResNet(c.Backbone);
        neck_k = new Fpn(c.Backbone.StageChannels, c.FpnChannels);
        head_k = new ConvFcBoxHead(c.FpnChannels, c.HeadConvDim, c.RoiOutputSize, c.HeadFcDim);
        projector_k = new MlpHead(c.HeadFcDim, c.MlpHiddenDim, c.EmbeddingDim);
        FinishConstruction(("encoder", encoder), ("neck", neck), ("head", head), ("projector", projector), ("predictor", predictor),
            ("encoder_k", encoder_k), ("neck_k", neck_k), ("head_k", head_k), ("projector_k", projector_k));
    }

    public ResNet Encoder => encoder;
    public Fpn Neck => neck;
    public ConvFcBoxHead Head => head;
    public MlpHead Projector => projector;
    public MlpHead Predictor => predictor;

    protected override IEnumerable<(Module Online, Module Target)> MomentumPairs =>
        [(encoder, encoder_k), (neck, neck_k), (head, head_k), (projector, projector_k)];
    protected override int? ExpectedPairs => 2;
    protected override long SlotsPerList(long boxesPerList) => Levels * boxesPerList;

    /// <summary>P2..P5 of one view from the online (or target) network.</summary>
    public Tensor[] Pyramid(Tensor image, bool target = false)
    {
        using var scope = NewDisposeScope();
        var outs = (target ? neck_k : neck).forward((target ? encoder_k : encoder).forward(image));
        foreach (var t in outs) t.MoveToOuterDisposeScope();
        return outs;
    }

    protected override Tensor[] Embed(Tensor image, IReadOnlyList<Tensor> boxLists, bool target, IReadOnlyList<bool[,]>? slotMasks)
    {
        using var scope = NewDisposeScope();
        var pyramid = Pyramid(image, target);
        if (pyramid.Length != Levels) throw new InvalidOperationException($"the FPN must give {Levels} levels, got {pyramid.Length}.");
        var h = target ? head_k : head;
        var proj = target ? projector_k : projector;
        var pred = target ? null : predictor;
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
                {
                    var pooled = RoiPooling.PoolOneLevel(pyramid[lv], boxes, Config.RoiOutputSize, Config.Aligned, Config.SamplingRatio, HostBoxes(boxes));
                    perLevel[lv] = Project(h.forward(pooled), proj, pred).reshape(n, l, -1);
                }
                e = cat(perLevel, 1);
            }
            else
            {
                e = EmbedAssigned(pyramid, boxes, slotMasks[i], h, proj, pred);
            }
            outs[i] = e.MoveToOuterDisposeScope();
        }
        return outs;
    }

    /// <summary>Only the active (box, level) slots, one BN batch; inactive slots get zero vectors (they meet zeros in
    /// the correspondence, so the loss is the same function of the active slots).</summary>
    Tensor EmbedAssigned(Tensor[] pyramid, Tensor boxes, bool[,] mask, ConvFcBoxHead h, MlpHead proj, MlpHead? pred)
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
        var emb = Project(h.forward(pooled), proj, pred);
        var withZero = cat([emb, zeros(1, emb.shape[1], dtype: emb.dtype, device: emb.device)], 0);
        return withZero.index_select(0, tensor(slotToRow, device: emb.device)).view(n, m, -1);
    }

    /// <summary>Head output (K×1024) and projection (K×256, not normalised) of boxes N×L×(≥4) on one pyramid level.</summary>
    public (Tensor HeadOutput, Tensor Projection) ObjectEmbeddings(Tensor level, Tensor boxes, bool target = false)
    {
        using var scope = NewDisposeScope();
        var pooled = RoiPooling.PoolOneLevel(level, boxes, Config.RoiOutputSize, Config.Aligned, Config.SamplingRatio);
        var ho = (target ? head_k : head).forward(pooled);
        var pr = (target ? projector_k : projector).forward(ho);
        return (ho.MoveToOuterDisposeScope(), pr.MoveToOuterDisposeScope());
    }
}

/// <summary>SoCo_FPN_Star (SoCo*, docs/soco-reference.md §5.10): the SoCo_FPN model with a third pair (V1–V4).</summary>
public sealed class SocoFpnStar : SocoFpn
{
    public SocoFpnStar(SocoConfig? config = null) : base(nameof(SocoFpnStar), config) { }
    protected override int? ExpectedPairs => 3;
}
