using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// SoCo's projector / predictor MLP (docs/soco-reference.md §5.6): Linear(in, hidden) → BatchNorm1d(hidden) → ReLU → Linear(hidden, out).
/// Names <c>linear1, bn1, linear2</c> (official <c>mlps.MLP</c>). The official code runs the BN on an (N, C, 1) view;
/// BatchNorm1d over a 2-D batch is the same statistic.
/// </summary>
public sealed class MlpHead : Module<Tensor, Tensor>
{
    readonly MixedLinear linear1;
    readonly BatchNorm bn1;
    readonly MixedLinear linear2;

    public MlpHead(int inDim, int hiddenDim = 4096, int outDim = 256) : base(nameof(MlpHead))
    {
        InDim = inDim;
        OutDim = outDim;
        linear1 = new MixedLinear(inDim, hiddenDim, hasBias: true);
        bn1 = Norms.BatchNorm1d(hiddenDim);
        linear2 = new MixedLinear(hiddenDim, outDim, hasBias: true);
        RegisterComponents();
    }

    public int InDim { get; }
    public int OutDim { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // In bf16 the chain runs on bfloat16 (BatchNorm1d: LibTorch's mixed-type kernel, float32 statistics) and the
        // result is handed back as float32 for the normalisation and the loss (docs/bf16.md §1).
        var y = nn.functional.relu(bn1.forward(linear1.forward(x)));
        return MixedPrecision.Float32(linear2.forward(y)).MoveToOuterDisposeScope();
    }
}
