using System.Collections;
using TorchSharp.PyBridge;
using Soco.IO;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>The files a detector can start from (docs/soco-reference.md §7).</summary>
public enum ExportFormat { Detectron2C4, Detectron2Fpn, Mmdet, PyTorch }

/// <summary>Writes a SoCo model's weights in the layouts Detectron2, mmdetection and PyTorch load.</summary>
public static class ModelExport
{
    public static readonly string[] FormatNames = ["detectron2-c4", "detectron2-fpn", "mmdet", "pytorch"];

    public static ExportFormat ParseFormat(string name) => name.ToLowerInvariant() switch
    {
        "detectron2-c4" => ExportFormat.Detectron2C4,
        "detectron2-fpn" or "detectron2-head" => ExportFormat.Detectron2Fpn,
        "mmdet" or "mmdetection" => ExportFormat.Mmdet,
        "pytorch" or "torchvision" => ExportFormat.PyTorch,
        _ => throw new ArgumentException($"unknown export format '{name}'; use one of: {string.Join(", ", FormatNames)}"),
    };

    /// <summary>
    /// Writes <paramref name="state"/> (official names: encoder.*, neck.*, head.*, ...) as <paramref name="format"/>,
    /// atomically. Returns the number of tensors written.
    /// <list type="bullet">
    /// <item>Detectron2: a Python pickle <c>{"model": {name: numpy array}, "__author__": ..., "matching_heuristics": True}</c>
    /// with the official converters' names (§7.1 C4: backbone incl. res5; §7.2 FPN: backbone, FPN with norms, 4conv1fc
    /// box head), float32 arrays and 0-d int64 <c>num_batches_tracked</c>; readable by <c>pickle.load</c> with NumPy.</item>
    /// <item>mmdetection: <c>{"state_dict": ..., "meta": {}}</c> in PyTorch's zip format with mmdet's names (§7.3).</item>
    /// <item>PyTorch: the online backbone's state dict with torchvision's names (loads into
    /// <c>torchvision.models.resnet50</c> with only <c>fc</c> missing).</item>
    /// </list>
    /// </summary>
    public static int Write(IReadOnlyDictionary<string, Tensor> state, ExportFormat format, string path)
    {
        switch (format)
        {
            case ExportFormat.Detectron2C4:
            case ExportFormat.Detectron2Fpn:
            {
                bool c4 = format == ExportFormat.Detectron2C4;
                if (!c4 && !state.ContainsKey("neck.lateral_convs.0.conv.weight"))
                    throw new ArgumentException("detectron2-fpn needs an FPN model (soco_fpn / soco_fpn_star); this one has no FPN neck: use --format detectron2-c4");
                var model = new Dictionary<string, object>();
                foreach (var (k, t) in state)
                    if ((c4 ? SocoConverters.Detectron2Backbone(k) : SocoConverters.Detectron2Head(k)) is string name)
                        model[name] = ToNumpy(t);
                PythonPickle.Dump(new Dictionary<string, object>
                {
                    ["model"] = model,
                    ["__author__"] = c4 ? "PixPro" : "Yue",   // as the official converters write them
                    ["matching_heuristics"] = true,
                }, path);
                return model.Count;
            }
            case ExportFormat.Mmdet:
            {
                var sd = new Dictionary<string, Tensor>();
                foreach (var (k, t) in state)
                    if (SocoConverters.Mmdetection(k) is string name) sd[name] = t.detach().cpu().contiguous();
                var root = new Hashtable { ["state_dict"] = sd, ["meta"] = new Hashtable() };
                Pth.Write(path, root);
                return sd.Count;
            }
            default:
            {
                var sd = new Hashtable();
                foreach (var (k, t) in state)
                    if (SocoConverters.TorchvisionBackbone(k) is string name) sd[name] = t.detach().cpu().contiguous();
                Pth.Write(path, sd);
                return sd.Count;
            }
        }
    }

    static NdArray ToNumpy(Tensor t)
    {
        var c = t.detach().cpu().contiguous();
        if (c.dtype == ScalarType.Int64)
        {
            if (c.numel() != 1) throw new ArgumentException("only scalar int64 tensors (num_batches_tracked) are expected");
            return NdArray.Int64Scalar(c.item<long>());
        }
        var f = c.to(ScalarType.Float32);
        return NdArray.Float32(f.data<float>().ToArray(), f.shape);
    }
}
