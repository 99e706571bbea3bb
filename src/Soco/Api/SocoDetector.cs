using System.Runtime.CompilerServices;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling.Detection;
using Soco.Runtime;

namespace Soco.Api;

/// <summary>How a detector keeps its detections (<see cref="SocoDetector.Load"/>).</summary>
public sealed record DetectorSettings
{
    /// <summary>Keep detections scoring above this, in [0, 1); null: the model file's own (torchvision's 0.05).</summary>
    public double? ScoreThreshold { get; init; }
    /// <summary>At most this many detections per image; null: the model file's own (torchvision's 100).</summary>
    public int? MaxDetections { get; init; }
}

/// <summary>A detection with its class name; the box is (x1, y1, x2, y2) in the image's pixels.</summary>
public sealed record Detection(string ClassName, long Label, float Score, float X1, float Y1, float X2, float Y2);

/// <summary>The detections of one image, best first; <see cref="Error"/> says why an image could not be read (then none).</summary>
public sealed record ImageDetections(string Path, int Width, int Height, IReadOnlyList<Detection> Detections, string? Error = null);

/// <summary>
/// A Faster R-CNN detector from a model file (<c>soco finetune</c>'s <c>model_final.pth</c>, or a torchvision model
/// read by <c>soco import</c>), run on images as <c>soco detect</c> runs it. Not thread-safe: one image at a time.
/// </summary>
public sealed class SocoDetector : IDisposable
{
    readonly DetectorModel _spec;
    readonly FasterRcnn _model;

    SocoDetector(DetectorModel spec, FasterRcnn model)
    {
        _spec = spec;
        _model = model;
    }

    /// <summary>Loads the model file; throws with the file and the problem when it is not a detector model.</summary>
    public static SocoDetector Load(string modelFile, DetectorSettings? settings = null)
    {
        settings ??= new DetectorSettings();
        if (settings.ScoreThreshold is double t && !(t >= 0 && t < 1)) throw new ArgumentException($"score threshold {t}: must be in [0, 1)");
        if (settings.MaxDetections is int m && m < 1) throw new ArgumentException($"max detections {m}: must be at least 1");
        TorchRuntime.EnsureLoaded();
        var spec = DetectorModelFile.Load(modelFile);
        var own = spec.Config.RoiHeads;
        var model = spec.CreateModel(own with
        {
            ScoreThreshold = settings.ScoreThreshold ?? own.ScoreThreshold, DetectionsPerImage = settings.MaxDetections ?? own.DetectionsPerImage,
        });
        return new SocoDetector(spec, model);
    }

    /// <summary>Class names by label (0 is the background).</summary>
    public IReadOnlyList<string> ClassNames => _spec.ClassNames;

    /// <summary>Detects objects in one image file (JPEG, PNG, GIF, BMP, WebP).</summary>
    public ImageDetections Detect(string imagePath)
    {
        var image = ImageDecoder.Decode(imagePath);
        var found = DetectorInference.Detect(_model, image);
        return new ImageDetections(imagePath, image.Width, image.Height,
            found.Select(d => new Detection(_spec.ClassName(d.Label), d.Label, d.Score, d.X1, d.Y1, d.X2, d.Y2)).ToList());
    }

    /// <summary>
    /// Detects objects in an image file or in every image of a folder (by name), one result per image as it is done. An
    /// unreadable image gives a result with <see cref="ImageDetections.Error"/> and the rest goes on.
    /// </summary>
    public async IAsyncEnumerable<ImageDetections> DetectAllAsync(string fileOrFolder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var file in DetectorInference.ImageFiles(fileOrFolder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return await Task.Run(() =>
            {
                try
                {
                    return Detect(file);
                }
                catch (ImageDecodeException e)
                {
                    return new ImageDetections(file, 0, 0, [], e.Message);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Draws the detections (boxes, class names, scores) on the image and saves a PNG.</summary>
    public void SavePicture(ImageDetections result, string pngPath)
    {
        var image = ImageDecoder.Decode(result.Path);
        var dets = result.Detections.Select(d => new DetectedObject(d.Label, d.Score, d.X1, d.Y1, d.X2, d.Y2)).ToList();
        DetectorInference.SavePicture(pngPath, image, dets, _spec.ClassName, $"{Path.GetFileName(result.Path)}: {dets.Count} detections");
    }

    /// <summary>The model itself, for <see cref="SocoEvaluation.EvaluateAsync"/>.</summary>
    internal FasterRcnn Model => _model;

    public void Dispose() => _model.Dispose();
}
