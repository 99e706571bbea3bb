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
/// Shared machinery of the three SoCo models and BYOL: the online branch, the predictor and the target branch (an EMA
/// copy of the online one, <see cref="SslBranch"/>), the EMA with its step counter (a registered buffer
/// <c>ema_step</c>, so it is saved and restored — the official code loses it on resume, docs/soco-reference.md §6.1),
/// the forward order of docs/soco-reference.md §5.8 and the loss of §5.9.
/// </summary>
public abstract class SocoModel : Module<SocoBatch, Tensor>
{
    protected SocoModel(string name, SocoConfig config) : base(name)
    {
        Config = config;
    }

    public SocoConfig Config { get; }

    /// <summary>The online network (trained by the optimiser).</summary>
    public SslBranch Online { get; private set; } = null!;

    /// <summary>The target network: a copy of <see cref="Online"/> at construction, then its EMA; no gradients.</summary>
    public SslBranch Target { get; private set; } = null!;

    /// <summary>The online network's predictor (the target has none).</summary>
    public MlpHead Predictor { get; private set; } = null!;

    /// <summary>The online or the target network.</summary>
    protected SslBranch Branch(bool target) => target ? Target : Online;

    /// <summary>
    /// Builds the online branch, the predictor and the target as a copy of the online branch (in this order, the
    /// official construction order), then registers the parts under the official names in state-dict order —
    /// <c>encoder, (neck, head,) projector, predictor, encoder_k, (neck_k, head_k,) projector_k</c> — and the EMA
    /// counter. Registration is explicit: reflection-based registration misses a base class's members.
    /// </summary>
    protected void FinishConstruction(Func<SslBranch> buildBranch)
    {
        Online = buildBranch();
        Predictor = new MlpHead(Config.EmbeddingDim, Config.MlpHiddenDim, Config.EmbeddingDim);
        Target = TargetNetwork.CopyOf(Online, buildBranch);
        foreach (var (name, module) in Online.Parts) register_module(name, module);
        register_module("predictor", Predictor);
        foreach (var (name, module) in Target.Parts) register_module(name + "_k", module);
        register_buffer("ema_step", tensor(0L));
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
        TargetNetwork.Update(Online, Target, NextMomentum);
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
        // bf16: one weight cast per layer and branch for the whole forward (docs/bf16.md §1).
        using var casts = MixedPrecision.CacheWeightCasts();
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
        var ((q1, qo), (z1, zo)) = OnlineThenTarget(target =>
        {
            var v1 = Embed(batch.View1, batch.View1Boxes, target, masks1);
            var others = new Tensor[pairs];
            for (int p = 0; p < pairs; p++) others[p] = Embed(batch.OtherViews[p], [batch.OtherBoxes[p]], target, masksO is null ? null : [masksO[p]])[0];
            return (v1, others);
        });
        var loss = SumOverPairs(pairs, p =>
        {
            var c = batch.Correspondences[p].to(q1[p].dtype);
            return SocoLoss.Pair(q1[p], zo[p], c).Plus(SocoLoss.Pair(qo[p], z1[p], c.transpose(1, 2)));
        });
        return new SocoOutput(loss, q1, qo, z1, zo);
    }

    /// <summary>
    /// The official order of a training forward (docs/soco-reference.md §5.8): the online embeddings
    /// (<paramref name="embed"/>(false)), the EMA update (when <see cref="UpdateTargetInForward"/>), then the target
    /// embeddings without gradients (<paramref name="embed"/>(true)).
    /// </summary>
    protected (T Online, T Target) OnlineThenTarget<T>(Func<bool, T> embed)
    {
        var q = embed(false);
        PhaseEnded?.Invoke("forward_online");
        if (UpdateTargetInForward) UpdateTargetNetwork();
        PhaseEnded?.Invoke("ema");
        T z;
        using (no_grad()) z = embed(true);
        PhaseEnded?.Invoke("forward_target");
        return (q, z);
    }

    /// <summary>The sum of the pairs' symmetric loss terms, in pair order.</summary>
    protected Tensor SumOverPairs(int pairs, Func<int, Tensor> term)
    {
        Tensor? loss = null;
        for (int p = 0; p < pairs; p++)
        {
            var t = term(p);
            // Tensor + tensor passes TorchSharp's implicit alpha scalar: explicit here (see ExplicitScalars).
            loss = loss is null ? t : loss.Plus(t);
        }
        PhaseEnded?.Invoke("loss");
        return loss ?? throw new ArgumentException("a batch needs at least one view pair.");
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

    /// <summary>Projector → (online only: predictor) → L2 normalise (eps 1e-12): online predictions q or target
    /// projections z of the branch's features.</summary>
    protected Tensor Project(Tensor features, bool target)
    {
        var y = Branch(target).Projector.forward(features);
        return target ? Normalize(y) : OnlinePrediction(y);
    }

    /// <summary>The online prediction q of an online projection, L2-normalised as the loss uses it.</summary>
    public Tensor OnlinePrediction(Tensor projection) => Normalize(Predictor.forward(projection));

    static Tensor Normalize(Tensor y) => nn.functional.normalize(y, p: 2, dim: 1, eps: 1e-12);
}
