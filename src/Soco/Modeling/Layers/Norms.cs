using Soco.Distributed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Soco.Modeling;

/// <summary>The normalisation layer a model is built with (detectron2's <c>MODEL.*.NORM</c> names).</summary>
public enum NormKind
{
    /// <summary>BatchNorm over this process's batch (TorchSharp's <c>BatchNorm1d/2d</c>): the default, unchanged.</summary>
    BN,
    /// <summary>BatchNorm over the whole data-parallel batch (<see cref="SyncBatchNorm"/>); BN itself in one process.</summary>
    SyncBN,
    /// <summary>Fixed affine transform from the running statistics, nothing trained (<see cref="FrozenBatchNorm"/>).</summary>
    FrozenBN,
}

/// <summary>
/// The one place models get their norm layers from. Model constructors call <see cref="BatchNorm2d"/> /
/// <see cref="BatchNorm1d"/>; what they return is chosen by the innermost <see cref="Use"/> scope on this thread
/// (BN when there is none), so a model is built with SyncBN by wrapping its construction —
/// <c>using (Norms.Use(NormKind.SyncBN)) model = new …;</c> — without threading a setting through every constructor.
/// Every kind has BatchNorm's parameters and buffers under the same names, so state dicts are interchangeable.
/// </summary>
public static class Norms
{
    [ThreadStatic] static NormKind? _kind;
    [ThreadStatic] static ProcessGroup? _group;

    /// <summary>The kind layers made now get (BN outside any <see cref="Use"/> scope).</summary>
    public static NormKind Current => _kind ?? NormKind.BN;

    /// <summary>Layers made on this thread until the scope is disposed are <paramref name="kind"/>; SyncBN synchronises
    /// over <paramref name="group"/> (default: <see cref="ProcessGroup.World"/>).</summary>
    public static IDisposable Use(NormKind kind, ProcessGroup? group = null) => new Scope(kind, group);

    public static BatchNorm BatchNorm2d(long features) => Make(features, two: true);

    public static BatchNorm BatchNorm1d(long features) => Make(features, two: false);

    static BatchNorm Make(long features, bool two) => Current switch
    {
        NormKind.SyncBN => new SyncBatchNorm(features, _group ?? ProcessGroup.World),
        NormKind.FrozenBN => new FrozenBatchNorm(features),
        _ => two ? nn.BatchNorm2d(features) : nn.BatchNorm1d(features),
    };

    /// <summary>Parses a config value ("BN", "SyncBN", "FrozenBN", any case).</summary>
    public static NormKind Parse(string value, string key) =>
        Enum.TryParse<NormKind>(value, ignoreCase: true, out var k) && Enum.IsDefined(k)
            ? k : throw new ArgumentException($"{key} must be BN, SyncBN or FrozenBN (got '{value}')");

    sealed class Scope : IDisposable
    {
        readonly NormKind? _kindBefore = _kind;
        readonly ProcessGroup? _groupBefore = _group;

        public Scope(NormKind kind, ProcessGroup? group)
        {
            _kind = kind;
            _group = group;
        }

        public void Dispose()
        {
            _kind = _kindBefore;
            _group = _groupBefore;
        }
    }
}

/// <summary>
/// detectron2's <c>FrozenBatchNorm2d</c>: y = (x − running_mean)·(running_var + eps)^−½·weight + bias in every mode,
/// with weight and bias not trained (requires_grad false) and the statistics never updated. Same keys as BatchNorm.
/// </summary>
public sealed class FrozenBatchNorm : BatchNorm
{
    public FrozenBatchNorm(long numFeatures, double eps = 1e-5)
        : base(numFeatures, eps, 0.1, true, true, null, null, nameof(FrozenBatchNorm))
    {
        weight.requires_grad = false;
        bias!.requires_grad = false;
    }

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim < 2) throw new ArgumentException($"expected at least 2D input (N, C, …), but got {input.ndim}D input.");
    }

    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        return F.batch_norm(input, running_mean, running_var, weight, bias, false, 0.0, eps);
    }
}
