using Soco.Interop;
using Soco.Runtime;

namespace Soco.Api;

/// <summary>Writing a pretrained model for the detectors that fine-tune from it (<c>soco export</c>).</summary>
public static class SocoExport
{
    /// <summary>
    /// Reads <paramref name="checkpoint"/> (a pretraining run folder: its newest checkpoint; one of our checkpoints or
    /// model files; or an official SoCo <c>ckpt_epoch_*.pth</c>) and writes it as <paramref name="format"/> to
    /// <paramref name="path"/>, atomically: Detectron2 <c>.pkl</c> (FPN with box head, or C4), mmdetection or PyTorch
    /// <c>.pth</c>. Returns the number of tensors written.
    /// </summary>
    public static int Write(string checkpoint, ExportFormat format, string path)
    {
        TorchRuntime.EnsureLoaded();
        var model = CheckpointReader.Read(checkpoint);
        return ModelExport.Write(model.State, format, path);
    }

    /// <summary>The Detectron2 file for <c>configs/detectron2/SoCo_FPN_1x.yaml</c> (<paramref name="c4"/>: <c>SoCo_C4_1x.yaml</c>).</summary>
    public static int ToDetectron2(string checkpoint, string path, bool c4 = false) =>
        Write(checkpoint, c4 ? ExportFormat.Detectron2C4 : ExportFormat.Detectron2Fpn, path);
}
