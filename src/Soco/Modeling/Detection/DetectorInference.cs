using System.Globalization;
using System.Text.Json;
using SkiaSharp;
using Soco.Data.Coco;
using Soco.Imaging;
using Soco.IO;
using Soco.Structures;
using static TorchSharp.torch;

namespace Soco.Modeling.Detection;

/// <summary>One detection in original-image pixels: corners as the model gives them (float32) and the COCO box
/// <c>[x, y, w, h]</c> with w = x2 − x1 computed in float32, as torchvision's COCO evaluator converts it; from a Mask
/// R-CNN, its mask in the original image (probability &gt; 0.5, torchvision's rule) as COCO's RLE.</summary>
public readonly record struct DetectedObject(long Label, float Score, float X1, float Y1, float X2, float Y2, Rle? Mask = null)
{
    public float W => X2 - X1;
    public float H => Y2 - Y1;
}

/// <summary>
/// Running a detector on decoded images and turning its output into COCO results and pictures — the library side of
/// `soco detect` and `soco evaluate --checkpoint`.
/// </summary>
public static class DetectorInference
{
    /// <summary>
    /// The images `soco detect` runs on: the file itself, or a folder's image files (by extension, hidden files left
    /// out) in ordinal name order. Each image's result id is its file name without extension, so two files with the
    /// same stem (a.jpg, a.png) are refused rather than written with one id.
    /// </summary>
    public static IReadOnlyList<string> ImageFiles(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return [fileOrFolder];
        if (!Directory.Exists(fileOrFolder)) throw new FileNotFoundException($"image not found: {fileOrFolder} (neither a file nor a folder)");
        var files = Directory.EnumerateFiles(fileOrFolder)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && ImageSources.ImageExtensions.Contains(Path.GetExtension(f)))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new FileNotFoundException($"no images in {fileOrFolder} (looked for {string.Join(", ", ImageSources.ImageExtensions)})");
        var clash = files.GroupBy(Path.GetFileNameWithoutExtension, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new ArgumentException($"{fileOrFolder}: {string.Join(" and ", clash.Select(Path.GetFileName))} have the same name stem '{clash.Key}', which is the image_id of both; rename one");
        return files;
    }

    /// <summary>3×H×W float32 RGB in [0, 1]: byte / 255 in float32, torchvision's <c>to_tensor</c> arithmetic.</summary>
    public static Tensor ToTensor(RgbImage image)
    {
        int n = image.Width * image.Height;
        var chw = new float[3 * n];
        var px = image.Pixels;
        for (int i = 0; i < n; i++)
        {
            chw[i] = px[3 * i] / 255f;
            chw[n + i] = px[3 * i + 1] / 255f;
            chw[2 * n + i] = px[3 * i + 2] / 255f;
        }
        return tensor(chw, [3, image.Height, image.Width]);
    }

    /// <summary>The detections of one image (the model in eval mode), best first, as the model orders them.</summary>
    public static DetectedObject[] Detect(FasterRcnn model, RgbImage image)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var d = model.Detect([ToTensor(image)])[0];
        // TorchSharp's data<T>().ToArray() throws on an empty tensor: an image without detections is a normal result.
        if (d.Scores.numel() == 0) return [];
        var boxes = d.Boxes.to(float32).cpu().contiguous().data<float>().ToArray();
        var scores = d.Scores.to(float32).cpu().data<float>().ToArray();
        var labels = d.Labels.to(int64).cpu().data<long>().ToArray();
        var masks = d.Masks is null ? null : BinaryMasks(d.Masks);
        var result = new DetectedObject[scores.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = new DetectedObject(labels[i], scores[i], boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3], masks?[i]);
        return result;
    }

    /// <summary>Pasted mask probabilities K×1×H×W → one RLE per detection of the pixels with probability &gt; 0.5
    /// (torchvision's references/detection/coco_eval.py threshold).</summary>
    public static Rle[] BinaryMasks(Tensor probabilities)
    {
        using var scope = NewDisposeScope();
        long k = probabilities.shape[0];
        int h = (int)probabilities.shape[^2], w = (int)probabilities.shape[^1];
        var result = new Rle[k];
        if (k == 0) return result;
        var bytes = probabilities.reshape(k, (long)h * w).GtScalar(0.5).to(uint8).cpu().contiguous().data<byte>().ToArray();
        for (int i = 0; i < k; i++) result[i] = Rle.Encode(bytes.AsSpan(i * h * w, h * w), h, w);
        return result;
    }

    /// <summary>COCO result records (category_id = the label, the mask as compressed RLE) for one image.</summary>
    public static IEnumerable<CocoDetection> ToCoco(long imageId, IEnumerable<DetectedObject> dets) =>
        dets.Select(d => new CocoDetection(imageId, d.Label, d.X1, d.Y1, d.W, d.H, d.Score)
        {
            Segmentation = d.Mask is null ? null : CocoSegmentation.FromRle(d.Mask),
        });

    /// <summary>
    /// Writes a COCO results file, atomically: <c>[{image_id, category_id, bbox: [x, y, w, h], score}, ...]</c>, and for
    /// a detection with a mask <c>segmentation: {size: [h, w], counts: "..."}</c> (compressed RLE, pycocotools'
    /// string); the image id is the given string (a file name stem) or number. Floats are the exact doubles of the float32 values
    /// (what <c>tensor.tolist()</c> gives), written shortest-round-trip, so reading the file back gives the same numbers.
    /// </summary>
    public static void WriteCocoResults(string path, IEnumerable<(object ImageId, DetectedObject Det)> records)
    {
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = false });
            w.WriteStartArray();
            foreach (var (id, d) in records)
            {
                w.WriteStartObject();
                switch (id)
                {
                    case string str: w.WriteString("image_id", str); break;
                    case long l: w.WriteNumber("image_id", l); break;
                    default: throw new ArgumentException($"image id {id} must be a string or a long");
                }
                w.WriteNumber("category_id", d.Label);
                w.WritePropertyName("bbox");
                w.WriteStartArray();
                w.WriteNumberValue((double)d.X1);
                w.WriteNumberValue((double)d.Y1);
                w.WriteNumberValue((double)d.W);
                w.WriteNumberValue((double)d.H);
                w.WriteEndArray();
                w.WriteNumber("score", (double)d.Score);
                if (d.Mask is Rle m)
                {
                    w.WritePropertyName("segmentation");
                    w.WriteStartObject();
                    w.WritePropertyName("size");
                    w.WriteStartArray();
                    w.WriteNumberValue(m.Height);
                    w.WriteNumberValue(m.Width);
                    w.WriteEndArray();
                    w.WriteString("counts", m.ToCountsString());
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    static readonly SKColor[] Palette =
    [
        new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48), new(145, 30, 180),
        new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212), new(0, 128, 128), new(220, 190, 255),
    ];

    /// <summary>Draws the detections (masks at half opacity, boxes, class names and scores; best on top) on the image
    /// and saves a PNG atomically.</summary>
    public static void SavePicture(string path, RgbImage image, IReadOnlyList<DetectedObject> dets, Func<long, string> className, string caption)
    {
        if (dets.Any(d => d.Mask is not null)) image = WithMasks(image, dets);
        // Corners are continuous coordinates; the box covers pixels x1 … x2 − 1, Drawing takes inclusive pixel edges.
        var boxes = dets.Reverse().Select(d => new DrawBox(d.X1, d.Y1, Math.Max(d.X1, d.X2 - 1), Math.Max(d.Y1, d.Y2 - 1),
            Palette[(int)(d.Label % Palette.Length)], 2, $"{className(d.Label)} {d.Score.ToString("F2", CultureInfo.InvariantCulture)}"));
        using var bmp = Drawing.Render(image, boxes, caption);
        Drawing.SavePng(bmp, path);
    }

    /// <summary>A copy of the image with each mask blended in at half opacity in its class colour, worst first so the
    /// best detection's colour is on top.</summary>
    static RgbImage WithMasks(RgbImage image, IReadOnlyList<DetectedObject> dets)
    {
        var px = (byte[])image.Pixels.Clone();
        int n = image.Width * image.Height;
        var mask = new byte[n];
        foreach (var d in dets.Reverse())
        {
            if (d.Mask is not Rle m || m.Height != image.Height || m.Width != image.Width) continue;
            m.Decode(mask);
            var c = Palette[(int)(d.Label % Palette.Length)];
            for (int j = 0; j < n; j++)
            {
                if (mask[j] == 0) continue;
                int i = 3 * j;   // both row-major
                px[i] = (byte)((px[i] + c.Red + 1) / 2);
                px[i + 1] = (byte)((px[i + 1] + c.Green + 1) / 2);
                px[i + 2] = (byte)((px[i + 2] + c.Blue + 1) / 2);
            }
        }
        return new RgbImage(image.Width, image.Height, px);
    }
}
