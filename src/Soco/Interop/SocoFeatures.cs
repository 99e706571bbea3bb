using System.Text.Json;
using System.Collections;
using TorchSharp;
using Soco.Imaging;
using Soco.Modeling;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>
/// Inspection entry points (the <c>soco features</c> command): run a model's online network on one image and
/// return its feature maps and pooled object embeddings by name; write such a dictionary as a PyTorch-loadable .pth.
/// </summary>
public static class SocoFeatures
{
    /// <summary>
    /// Online network of <paramref name="model"/> on one normalised image (3×H×W or 1×3×H×W) and boxes (L×4 or L×5,
    /// normalised <c>[x1, y1, x2, y2(, id)]</c> as in docs/soco-reference.md §4.7; may be null or empty). Keys:
    /// <list type="bullet">
    /// <item><c>c2..c5</c>: backbone maps (1×C×h×w); for FPN models also <c>p2..p5</c>.</item>
    /// <item>FPN: <c>head.p{l}</c> (L×1024 box-head output) and <c>projection.p{l}</c> (L×256 projector output, before
    /// normalisation) for every level, as SoCo pools every box on every level.</item>
    /// <item>C4: <c>head</c> (L×2048, layer4 on the 14×14 RoIs, averaged) and <c>projection</c> (L×256).</item>
    /// <item>BYOL: no boxes; <c>pooled</c> (1×C, C5 averaged), <c>projection</c> (1×256, the projector on it) and
    /// <c>embedding</c> (1×D, the online prediction q, normalised, as its loss uses it).</item>
    /// </list>
    /// By default BN uses its running statistics (<paramref name="batchStatistics"/> false, inference); the model's
    /// training mode is restored afterwards. Tensors are detached, on the CPU, float32.
    /// </summary>
    public static Dictionary<string, Tensor> Extract(SocoModel model, Tensor image, Tensor? boxes = null, bool batchStatistics = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (image.dim() == 3) image = image.unsqueeze(0);
        if (image.dim() != 4 || image.shape[0] != 1 || image.shape[1] != 3)
            throw new ArgumentException($"expected one normalised 3×H×W image, got [{string.Join(", ", image.shape)}].", nameof(image));
        Tensor? b = null;
        if (boxes is not null && boxes.numel() > 0)
        {
            if (boxes.dim() != 2 || boxes.shape[1] < 4) throw new ArgumentException($"boxes must be L×4 or L×5, got [{string.Join(", ", boxes.shape)}].", nameof(boxes));
            b = boxes.narrow(1, 0, 4).unsqueeze(0).to(float32);
        }
        var device = model.parameters().First().device;
        bool wasTraining = model.training;
        var result = new Dictionary<string, Tensor>();
        try
        {
            if (batchStatistics) model.train(); else model.eval();
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var x = image.to(float32).to(device);
            void Put(string key, Tensor t) => result[key] = t.detach().to(float32).cpu().contiguous().MoveToOuterDisposeScope();
            switch (model)
            {
                case SocoFpn fpn:
                {
                    var c = fpn.Encoder.forward(x);
                    for (int i = 0; i < c.Length; i++) Put($"c{i + 2}", c[i]);
                    var p = fpn.Neck.forward(c);
                    for (int i = 0; i < p.Length; i++) Put($"p{i + 2}", p[i]);
                    if (b is not null)
                        for (int i = 0; i < p.Length; i++)
                        {
                            var (head, proj) = fpn.ObjectEmbeddings(p[i], b.to(device));
                            Put($"head.p{i + 2}", head);
                            Put($"projection.p{i + 2}", proj);
                        }
                    break;
                }
                case SocoC4 c4:
                {
                    var c = c4.Encoder.forward(x);
                    for (int i = 0; i < c.Length; i++) Put($"c{i + 2}", c[i]);
                    if (b is not null)
                    {
                        var head = c4.BoxFeatures(x, b.to(device));
                        Put("head", head);
                        Put("projection", c4.Projector.forward(head));
                    }
                    break;
                }
                case ByolModel byol:
                {
                    // BYOL embeds whole images: no object embeddings to give for boxes.
                    if (b is not null) throw new ArgumentException("a BYOL model embeds whole images; boxes do not apply to it.", nameof(boxes));
                    var c = byol.Encoder.forward(x);
                    for (int i = 0; i < c.Length; i++) Put($"c{i + 2}", c[i]);
                    var pooled = c[^1].mean([2, 3]);
                    Put("pooled", pooled);
                    // One encoder and projector pass: the embedding is the prediction of this projection.
                    var projection = byol.Online.Projector.forward(pooled);
                    Put("projection", projection);
                    Put("embedding", byol.OnlinePrediction(projection));
                    break;
                }
                default:
                    throw new ArgumentException($"unsupported model type {model.GetType().Name}.", nameof(model));
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return result;
    }

    /// <summary>Whole image resized to size×size (PIL bilinear, as view 1) and normalised with ImageNet statistics.</summary>
    public static Tensor ImageTensor(RgbImage img, int size)
    {
        var resized = PilResize.Bilinear(img, size, size);
        var chw = new float[3 * size * size];
        ColorOps.ToNormalizedTensor(resized, chw);
        return tensor(chw, [1, 3, size, size]);
    }

    /// <summary>Pixel boxes [x1, y1, x2, y2] (inclusive) → normalised by the image size, as docs/soco-reference.md §4.7 normalises view boxes.</summary>
    public static Tensor ReadBoxes(string path, int w, int h)
    {
        double[][]? boxes;
        try
        {
            boxes = JsonSerializer.Deserialize<double[][]>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new FormatException($"{path}: expected a JSON list of [x1, y1, x2, y2] boxes ({e.Message})");
        }
        if (boxes is null || boxes.Length == 0) throw new FormatException($"{path}: no boxes");
        var flat = new float[boxes.Length * 4];
        for (int i = 0; i < boxes.Length; i++)
        {
            var b = boxes[i];
            if (b.Length != 4 || b.Any(v => !double.IsFinite(v)) || b[2] < b[0] || b[3] < b[1])
                throw new FormatException($"{path}: box {i} [{string.Join(", ", b)}] is not [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2");
            flat[i * 4] = (float)(b[0] / w);
            flat[i * 4 + 1] = (float)(b[1] / h);
            flat[i * 4 + 2] = (float)(b[2] / w);
            flat[i * 4 + 3] = (float)(b[3] / h);
        }
        return tensor(flat, [boxes.Length, 4]);
    }
}
