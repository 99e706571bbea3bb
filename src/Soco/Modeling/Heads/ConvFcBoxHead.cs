using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>
/// SoCo's R-CNN box head (<c>FastRCNNConvFCHead</c>, docs/soco-reference.md §5.5): 4 × [3×3 conv (no bias) → BN → ReLU], flatten
/// (channel-major), FC → ReLU. Names <c>conv1..conv4, bn1..bn4, fc1</c>. PyTorch default init (TorchSharp's
/// constructors use the same Kaiming-uniform(a=√5) rule). Released sizes: 256 channels, 7×7 RoIs, 1024-d output.
/// </summary>
public sealed class ConvFcBoxHead : Module<Tensor, Tensor>
{
    // Declaration order = registration order = PyTorch's parameter order.
    readonly MixedConv2d conv1;
    readonly BatchNorm bn1;
    readonly MixedConv2d conv2;
    readonly BatchNorm bn2;
    readonly MixedConv2d conv3;
    readonly BatchNorm bn3;
    readonly MixedConv2d conv4;
    readonly BatchNorm bn4;
    readonly MixedLinear fc1;

    public ConvFcBoxHead(int inChannels = 256, int convDim = 256, int resolution = 7, int fcDim = 1024) : base(nameof(ConvFcBoxHead))
    {
        InChannels = inChannels;
        Resolution = resolution;
        OutDim = fcDim;
        conv1 = new MixedConv2d(inChannels, convDim, 3, padding: 1, bias: false);
        bn1 = Norms.BatchNorm2d(convDim);
        conv2 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn2 = Norms.BatchNorm2d(convDim);
        conv3 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn3 = Norms.BatchNorm2d(convDim);
        conv4 = new MixedConv2d(convDim, convDim, 3, padding: 1, bias: false);
        bn4 = Norms.BatchNorm2d(convDim);
        fc1 = new MixedLinear((long)convDim * resolution * resolution, fcDim, hasBias: true);
        RegisterComponents();
    }

    public int InChannels { get; }
    public int Resolution { get; }
    public int OutDim { get; }

    /// <summary>K×C×S×S pooled RoIs → K×fcDim.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = x;
        foreach (var (conv, bn) in ConvBlocks) y = nn.functional.relu(bn.forward(conv.forward(y)));
        return Fc(y).MoveToOuterDisposeScope();
    }

    /// <summary>The four conv → BN → ReLU blocks, in order (<see cref="forward"/> and <see cref="ForwardChunks"/>).</summary>
    (MixedConv2d Conv, BatchNorm Bn)[] ConvBlocks => [(conv1, bn1), (conv2, bn2), (conv3, bn3), (conv4, bn4)];

    /// <summary>Flatten (channel-major) → FC → ReLU, in the FC's precision (bfloat16 in bf16, as under autocast); the
    /// head hands float32 to its caller.</summary>
    Tensor Fc(Tensor y) => MixedPrecision.Float32(nn.functional.relu(fc1.forward(y.flatten(1))));

    /// <summary>Whether <see cref="ForwardChunks"/> runs each convolution once over all chunks: when the convolutions
    /// are not on the plain float32 path (bf16 or channels-last). In plain float32 each chunk keeps its own calls, so
    /// the weight gradients are summed in the same order as the reference (the golden losses stay bit-identical).</summary>
    public bool BatchesChunks => conv1.Precision != ConvPrecision.Fp32 || conv1.ChannelsLast;

    /// <summary>The head over several RoI batches ("chunks", e.g. SoCo_FPN's one per box list and pyramid level), each
    /// its own BatchNorm batch (statistics and running-stat updates per chunk, in chunk order) — the same function as
    /// <see cref="forward"/> on each chunk. When <see cref="BatchesChunks"/>, each convolution and the FC run once over
    /// the concatenated chunks: a few large convolutions instead of one small one per chunk and layer, so oneDNN
    /// reorders each weight once per layer and its backward-weights kernel sees one large batch (the per-chunk calls
    /// were most of a bf16 step's oneDNN time, docs/bf16.md §2).</summary>
    public Tensor[] ForwardChunks(IReadOnlyList<Tensor> chunks)
    {
        if (chunks.Count == 0) return [];
        if (chunks.Count == 1 || !BatchesChunks) return chunks.Select(c => forward(c)).ToArray();
        using var scope = NewDisposeScope();
        var sizes = chunks.Select(c => c.shape[0]).ToArray();
        var y = cat(chunks.ToArray(), 0);
        foreach (var (conv, bn) in ConvBlocks)
        {
            var parts = conv.forward(y).split(sizes, 0);
            y = nn.functional.relu(cat(parts.Select(p => bn.forward(p)).ToArray(), 0));
        }
        var outs = Fc(y).split(sizes, 0);
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs;
    }
}
