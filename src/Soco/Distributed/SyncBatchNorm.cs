using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Soco.Distributed;

/// <summary>
/// BatchNorm whose batch statistics are those of the whole data-parallel batch (PyTorch's <c>nn.SyncBatchNorm</c>,
/// docs/distributed.md §SyncBN): in training, the per-channel count, sum and sum of squares of every rank's input are
/// all-reduced (in float64), so each rank normalises with the mean and biased variance of the concatenated batch and
/// updates the running statistics with its unbiased variance; in the backward, the per-channel sums of dy and
/// dy·x̂ are all-reduced the same way, so the input gradient is the concatenated batch's. The affine parameters' own
/// gradients stay local sums (the data-parallel gradient average makes them the global ones, as DDP does with PyTorch's).
/// With one process, or in eval mode, it is TorchSharp's BatchNorm forward exactly (same kernel, same numbers). State
/// dict keys are BatchNorm's (<c>weight, bias, running_mean, running_var, num_batches_tracked</c>).
/// </summary>
public sealed class SyncBatchNorm : BatchNorm
{
    public SyncBatchNorm(long numFeatures, ProcessGroup group, double eps = 1e-5, double momentum = 0.1)
        : base(numFeatures, eps, momentum, true, true, null, null, nameof(SyncBatchNorm))
    {
        Group = group;
    }

    public ProcessGroup Group { get; }

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim < 2) throw new ArgumentException($"expected at least 2D input (N, C, …), but got {input.ndim}D input.");
    }

    public override Tensor forward(Tensor input)
    {
        if (!training || !Group.IsDistributed) return base.forward(input);
        ValidateInputDimensions(input);
        if (input.shape[1] != num_features) throw new ArgumentException($"expected {num_features} channels, got {input.shape[1]}");
        using var scope = NewDisposeScope();
        long c = num_features;
        var dims = ReduceDims(input);
        Tensor mean, invstd;
        double count;
        using (no_grad())
        {
            // One all-reduce: [Σx (C), Σx² (C), n].
            var x64 = input.detach().to(ScalarType.Float64);
            long n = input.numel() / c;
            var stats = cat([x64.sum(dims), x64.square().sum(dims), ExplicitScalars.Full([1], n, ScalarType.Float64, input.device)]).cpu().contiguous();
            Group.AllReduce(stats);
            count = stats[2 * c].item<double>();
            if (count <= 1) throw new ArgumentException($"SyncBatchNorm needs more than one value per channel over all ranks (got {count})");
            var mean64 = stats.narrow(0, 0, c).Div(count);
            var var64 = stats.narrow(0, c, c).Div(count).sub(mean64.square()).ClampMin(0);
            mean = mean64.to(input.dtype).to(input.device);
            invstd = var64.Add(eps).rsqrt().to(input.dtype).to(input.device);
            // Running statistics as BatchNorm updates them: momentum-weighted, with the unbiased variance.
            num_batches_tracked!.AddInPlace(1);
            double m = momentum ?? 0.1;
            using var keep = (1 - m).ToScalar();
            using var take = m.ToScalar();
            running_mean!.mul_(keep).add_(mean64.to(running_mean.dtype).to(running_mean.device), take);
            running_var!.mul_(keep).add_(var64.Mul(count / (count - 1)).to(running_var.dtype).to(running_var.device), take);
        }
        // Whether a backward can come (autograd runs the function's forward itself with gradients off, so it cannot tell).
        bool record = is_grad_enabled() && (input.requires_grad || weight.requires_grad || bias!.requires_grad);
        return SyncBatchNormFunction.apply(input, weight, bias!, mean, invstd, Group, count, record).MoveToOuterDisposeScope();
    }

    /// <summary>All dimensions but the channel one (1).</summary>
    internal static long[] ReduceDims(Tensor x) => [0, .. Enumerable.Range(2, (int)x.ndim - 2).Select(i => (long)i)];

    /// <summary>Shape that broadcasts a per-channel vector against <paramref name="x"/>.</summary>
    internal static long[] ChannelShape(Tensor x) => [1, x.shape[1], .. Enumerable.Repeat(1L, (int)x.ndim - 2)];
}

/// <summary>The SyncBN normalisation with its own backward (docs/distributed.md §SyncBN): y = (x − μ)·σ⁻¹·γ + β with the
/// global μ, σ⁻¹ given; backward all-reduces Σdy and Σdy·x̂ per channel and returns
/// dx = γσ⁻¹(dy − Σdy/n − x̂·Σdy·x̂/n), dγ = Σdy·x̂ (local), dβ = Σdy (local).</summary>
sealed class SyncBatchNormFunction : autograd.SingleTensorFunction<SyncBatchNormFunction>
{
    sealed record Saved(Tensor Xhat, Tensor Scale);

    public override string Name => nameof(SyncBatchNormFunction);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var w = (Tensor)vars[1];
        var b = (Tensor)vars[2];
        var mean = (Tensor)vars[3];
        var invstd = (Tensor)vars[4];
        ctx.save_data("group", vars[5]);
        ctx.save_data("count", vars[6]);
        var shape = SyncBatchNorm.ChannelShape(x);
        using var scope = NewDisposeScope();
        var xhat = x.sub(mean.view(shape)).mul(invstd.view(shape));
        if ((bool)vars[7])
        {
            // Kept as managed objects outside every dispose scope (the callers' scopes end before the backward runs)
            // and disposed by the backward.
            // (In a holder: TorchSharp warns on the console about a bare tensor in save_data.)
            ctx.save_data("saved", new Saved(xhat.detach().DetachFromDisposeScope(), w.detach().mul(invstd).DetachFromDisposeScope()));
        }
        return xhat.mul(w.view(shape)).Plus(b.view(shape)).MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor dy)
    {
        var (xhat, scale) = (Saved)ctx.get_data("saved");
        using var xhatOwner = xhat;
        using var scaleOwner = scale;
        var group = (ProcessGroup)ctx.get_data("group");
        double count = (double)ctx.get_data("count");
        var shape = SyncBatchNorm.ChannelShape(xhat);
        var dims = SyncBatchNorm.ReduceDims(xhat);
        long c = xhat.shape[1];
        Tensor dx, dw, db;
        using (var scope = NewDisposeScope())
        {
            db = dy.sum(dims);
            dw = dy.mul(xhat).sum(dims);
            var sums = cat([db, dw]).to(ScalarType.Float64).cpu().contiguous();
            group.AllReduce(sums);
            var meanDy = sums.narrow(0, 0, c).Div(count).to(dy.dtype).to(dy.device);
            var meanDyXhat = sums.narrow(0, c, c).Div(count).to(dy.dtype).to(dy.device);
            dx = dy.sub(meanDy.view(shape)).sub(xhat.mul(meanDyXhat.view(shape))).mul(scale.view(shape));
            dx.MoveToOuterDisposeScope();
            db.MoveToOuterDisposeScope();
            dw.MoveToOuterDisposeScope();
        }
        return [dx, dw, db, null!, null!, null!, null!, null!];
    }
}
