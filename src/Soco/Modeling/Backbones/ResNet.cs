using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Soco.Modeling;

/// <summary>Which residual block a ResNet uses and how many per stage.</summary>
public sealed record ResNetConfig
{
    /// <summary>18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck).</summary>
    public int Depth { get; init; } = 50;

    /// <summary>
    /// Stem channels and the width of the first stage (64 in every released model). Stages use
    /// BaseWidth·{1,2,4,8} inner channels; a Bottleneck stage outputs 4× that. Tests use tiny widths (4, 8).
    /// </summary>
    public int BaseWidth { get; init; } = 64;

    public int InChannels { get; init; } = 3;

    /// <summary>Stages built: 4 (C2–C5) or 3 (C2–C4: the trunk of an R-C4 detector, whose res5 stage is the RoI head's,
    /// see <see cref="ResNet.Stage"/>).</summary>
    public int Stages { get; init; } = 4;

    public bool IsBottleneck => Depth >= 50;
    public int Expansion => IsBottleneck ? 4 : 1;

    public int[] BlocksPerStage => Depth switch
    {
        18 => [2, 2, 2, 2],
        34 => [3, 4, 6, 3],
        50 => [3, 4, 6, 3],
        101 => [3, 4, 23, 3],
        152 => [3, 8, 36, 3],
        _ => throw new ArgumentException($"ResNet depth must be 18, 34, 50, 101 or 152 (got {Depth}).", nameof(Depth)),
    };

    /// <summary>Output channels of C2..C5 (256/512/1024/2048 for R50).</summary>
    public int[] StageChannels => [BaseWidth * Expansion, BaseWidth * 2 * Expansion, BaseWidth * 4 * Expansion, BaseWidth * 8 * Expansion];

    public static ResNetConfig R18 => new() { Depth = 18 };
    public static ResNetConfig R34 => new() { Depth = 34 };
    public static ResNetConfig R50 => new() { Depth = 50 };
    public static ResNetConfig R101 => new() { Depth = 101 };
}

/// <summary>torchvision BasicBlock: 3×3 (stride) → BN → ReLU → 3×3 → BN, + shortcut, ReLU.</summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    // Declaration order = registration order = PyTorch's parameter order (optimizer state files depend on it).
    readonly MixedConv2d conv1;
    readonly BatchNorm bn1;
    readonly MixedConv2d conv2;
    readonly BatchNorm bn2;
    readonly Sequential? downsample;

    public BasicBlock(long inplanes, long planes, long stride) : base(nameof(BasicBlock))
    {
        conv1 = new MixedConv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = Norms.BatchNorm2d(planes);
        conv2 = new MixedConv2d(planes, planes, 3, padding: 1, bias: false);
        bn2 = Norms.BatchNorm2d(planes);
        if (stride != 1 || inplanes != planes)
            downsample = nn.Sequential(new MixedConv2d(inplanes, planes, 1, stride: stride, bias: false), Norms.BatchNorm2d(planes));
        RegisterComponents();
    }

    /// <summary>The BN whose γ is zeroed at init (zero-init residual).</summary>
    internal BatchNorm LastNorm => bn2;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.relu(bn1.forward(conv1.forward(x)));
        y = bn2.forward(conv2.forward(y));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return nn.functional.relu(MixedPrecision.ResidualSum(y, shortcut)).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision Bottleneck ("v1.5": stride on the 3×3 conv), expansion 4.</summary>
public sealed class Bottleneck : Module<Tensor, Tensor>
{
    readonly MixedConv2d conv1;
    readonly BatchNorm bn1;
    readonly MixedConv2d conv2;
    readonly BatchNorm bn2;
    readonly MixedConv2d conv3;
    readonly BatchNorm bn3;
    readonly Sequential? downsample;

    public Bottleneck(long inplanes, long planes, long stride) : base(nameof(Bottleneck))
    {
        conv1 = new MixedConv2d(inplanes, planes, 1, bias: false);
        bn1 = Norms.BatchNorm2d(planes);
        conv2 = new MixedConv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = Norms.BatchNorm2d(planes);
        conv3 = new MixedConv2d(planes, planes * 4, 1, bias: false);
        bn3 = Norms.BatchNorm2d(planes * 4);
        if (stride != 1 || inplanes != planes * 4)
            downsample = nn.Sequential(new MixedConv2d(inplanes, planes * 4, 1, stride: stride, bias: false), Norms.BatchNorm2d(planes * 4));
        RegisterComponents();
    }

    internal BatchNorm LastNorm => bn3;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.relu(bn1.forward(conv1.forward(x)));
        y = nn.functional.relu(bn2.forward(conv2.forward(y)));
        y = bn3.forward(conv3.forward(y));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return nn.functional.relu(MixedPrecision.ResidualSum(y, shortcut)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// ResNet backbone returning C2..C5 (docs/soco-reference.md §5.1). Parameter names equal torchvision's (<c>conv1, bn1,
/// layer{1..4}.{b}.conv{1,2,3}, .bn{1,2,3}, .downsample.{0,1}</c>) without <c>fc</c>, so state dicts move both ways
/// (drop torchvision's <c>fc.*</c> keys, or load non-strict).
/// Init (official <c>contrast/resnet.py</c>): conv ~ N(0, √(2/(k·k·out))), BN γ=1 β=0, then every block's last BN γ = 0.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor[]>
{
    readonly MixedConv2d conv1;
    readonly BatchNorm bn1;
    readonly Sequential layer1, layer2, layer3;
    readonly Sequential? layer4;

    public ResNet(ResNetConfig? config = null) : base(nameof(ResNet))
    {
        Config = config ?? ResNetConfig.R50;
        var blocks = Config.BlocksPerStage;
        var w = Config.BaseWidth;
        if (w < 1) throw new ArgumentException("BaseWidth must be ≥ 1.", nameof(config));
        if (Config.Stages is not (3 or 4)) throw new ArgumentException($"a ResNet has 3 (C2–C4) or 4 (C2–C5) stages, not {Config.Stages}.", nameof(config));
        conv1 = new MixedConv2d(Config.InChannels, w, 7, stride: 2, padding: 3, bias: false);
        bn1 = Norms.BatchNorm2d(w);
        layer1 = MakeStage(Config, 0);
        layer2 = MakeStage(Config, 1);
        layer3 = MakeStage(Config, 2);
        if (Config.Stages == 4) layer4 = MakeStage(Config, 3);
        RegisterComponents();
        ResetParameters();
    }

    public ResNetConfig Config { get; }
    public int[] OutChannels => Config.StageChannels;

    public Sequential Layer1 => layer1;
    public Sequential Layer2 => layer2;
    public Sequential Layer3 => layer3;
    public Sequential Layer4 => layer4 ?? throw new InvalidOperationException("this ResNet was built with 3 stages (C2–C4): it has no layer4.");

    /// <summary>Stage <paramref name="index"/> (0 = layer1 … 3 = layer4) of a ResNet of this config, blocks in
    /// torchvision's layout (stride on the first block's 3×3), not initialised.</summary>
    static Sequential MakeStage(ResNetConfig config, int index)
    {
        int count = config.BlocksPerStage[index];
        long planes = (long)config.BaseWidth << index;
        long inplanes = index == 0 ? config.BaseWidth : planes / 2 * config.Expansion;
        long stride = index == 0 ? 1 : 2;
        var mods = new Module<Tensor, Tensor>[count];
        for (int b = 0; b < count; b++)
        {
            mods[b] = config.IsBottleneck
                ? new Bottleneck(inplanes, planes, b == 0 ? stride : 1)
                : new BasicBlock(inplanes, planes, b == 0 ? stride : 1);
            inplanes = planes * config.Expansion;
        }
        return nn.Sequential(mods);
    }

    /// <summary>A stand-alone stage (e.g. res5 = index 3, the RoI head of an R-C4 detector), initialised as
    /// <see cref="ResetParameters"/> initialises the whole network; names inside are <c>{block}.conv1…</c> as in
    /// <c>layer{index+1}</c>.</summary>
    public static Sequential Stage(ResNetConfig config, int index)
    {
        if (index is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(index), $"ResNet stages are 0..3, not {index}.");
        var stage = MakeStage(config, index);
        InitWeights(stage);
        return stage;
    }

    /// <summary>He fan-out normal for convs, BN γ=1 β=0, zero γ on each block's last BN (docs/soco-reference.md §5.1).</summary>
    public void ResetParameters() => InitWeights(this);

    static void InitWeights(Module root)
    {
        using var _ = no_grad();
        foreach (var m in root.modules())
        {
            if (m is MixedConv2d c)
            {
                var shape = c.Weight.shape; // out, in, kh, kw
                double n = shape[2] * shape[3] * shape[0];
                nn.init.normal_(c.Weight, 0, Math.Sqrt(2.0 / n));
            }
            else if (m is BatchNorm bn)
            {
                bn.weight!.Fill(1);
                bn.bias!.zero_();
            }
        }
        foreach (var m in root.modules())
        {
            if (m is Bottleneck bt) bt.LastNorm.weight!.zero_();
            else if (m is BasicBlock bb) bb.LastNorm.weight!.zero_();
        }
    }

    /// <summary>conv1 → bn1 → ReLU → max-pool 3×3/2 (stride-4 map before layer1), in float32.</summary>
    public Tensor ForwardStem(Tensor x)
    {
        using var scope = NewDisposeScope();
        return MixedPrecision.Float32(Stem(x)).MoveToOuterDisposeScope();
    }

    /// <summary>The stem in the convolutions' working precision: bfloat16 in bf16, the start of the residual stream,
    /// which stays bfloat16 through the blocks as under autocast (docs/bf16.md §1).</summary>
    Tensor Stem(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.relu(bn1.forward(conv1.forward(x)));
        return nn.functional.max_pool2d(y, 3, 2, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Returns [C2, C3, C4, C5] (strides 4, 8, 16, 32); [C2, C3, C4] for a 3-stage network; float32.</summary>
    public override Tensor[] forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var outs = ForwardMixed(x).Select(MixedPrecision.Float32).ToArray();
        foreach (var t in outs) t.MoveToOuterDisposeScope();
        return outs;
    }

    /// <summary><see cref="forward"/>'s maps in the working precision (bfloat16 in bf16: the residual stream as the
    /// blocks leave it), for a caller that feeds them to bf16 convolutions (the FPN's laterals) and so needs no
    /// float32 copy.</summary>
    public Tensor[] ForwardMixed(Tensor x)
    {
        using var scope = NewDisposeScope();
        var c2 = layer1.forward(Stem(x));
        var c3 = layer2.forward(c2);
        var c4 = layer3.forward(c3);
        Tensor[] outs = layer4 is null ? [c2, c3, c4] : [c2, c3, c4, layer4.forward(c4)];
        foreach (var t in outs) t.MoveToOuterDisposeScope();
        return outs;
    }

    /// <summary>Stem → layer1..layer3: the stride-16 C4 map (SoCo_C4 pools here, docs/soco-reference.md §5.2), float32.</summary>
    public Tensor ForwardToC4(Tensor x)
    {
        using var scope = NewDisposeScope();
        return MixedPrecision.Float32(layer3.forward(layer2.forward(layer1.forward(Stem(x))))).MoveToOuterDisposeScope();
    }
}
