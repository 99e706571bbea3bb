using System.CommandLine;
using System.Globalization;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling.Detection;
using Soco.Runtime;

namespace Soco.Cli.Commands;

/// <summary>`soco detect`: a detector model file run on an image or a folder, written as COCO results and/or pictures.</summary>
public static class DetectCommand
{
    public static Command Build()
    {
        var ckpt = new Option<string>("--checkpoint") { Description = "Detector model file (soco import --from <torchvision state_dict>)", Required = true };
        var image = new Option<string>("--image") { Description = "An image file, or a folder of images", Required = true };
        var output = new Option<string>("--out") { Description = "results.json (COCO results), picture.png (one image drawn), or a folder (results.json and one PNG per image)", Required = true };
        var score = new Option<double>("--score-threshold") { Description = "Keep detections scoring above this", DefaultValueFactory = _ => 0.05 };
        var maxDets = new Option<int>("--max-detections") { Description = "At most this many detections per image", DefaultValueFactory = _ => 100 };
        var cmd = new Command("detect", "Run a detector on images: COCO results JSON (image_id = file name without extension; a Mask R-CNN adds each mask as compressed RLE) and/or PNGs with masks, boxes, class names and scores")
            { ckpt, image, output, score, maxDets };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            double thr = p.GetValue(score);
            int max = p.GetValue(maxDets);
            if (!(thr >= 0 && thr < 1)) throw new ArgumentException($"--score-threshold {thr}: must be in [0, 1)");
            if (max < 1) throw new ArgumentException($"--max-detections {max}: must be at least 1");
            string input = p.GetValue(image)!, outPath = p.GetValue(output)!;
            var files = DetectorInference.ImageFiles(input);
            string ext = Path.GetExtension(outPath).ToLowerInvariant();
            bool json = ext == ".json", png = ext == ".png", folder = !json && !png;
            if (png && files.Count != 1) throw new ArgumentException($"--out {outPath}: one picture needs one --image file; {input} is a folder of {files.Count} images (give a folder as --out)");
            if (folder) Directory.CreateDirectory(outPath);

            TorchRuntime.EnsureLoaded();
            var spec = DetectorModelFile.Load(p.GetValue(ckpt)!);
            using var model = spec.CreateModel(spec.Config.RoiHeads with { ScoreThreshold = thr, DetectionsPerImage = max });
            Out.Info($"detector: {spec.Source} ({spec.Origin}), {spec.Config.NumClasses - 1} classes, short side {spec.Config.MinSizes[^1]}, max {spec.Config.MaxSize}");

            var records = new List<(object, DetectedObject)>();
            int skipped = 0, done = 0;
            foreach (var file in files)
            {
                RgbImage img;
                try
                {
                    img = ImageDecoder.Decode(file);
                }
                catch (ImageDecodeException e) when (files.Count > 1)
                {
                    Out.Warn($"skipped: {e.Message}");
                    skipped++;
                    continue;
                }
                var dets = DetectorInference.Detect(model, img);
                string stem = Path.GetFileNameWithoutExtension(file);
                records.AddRange(dets.Select(d => ((object)stem, d)));
                string best = dets.Length == 0 ? "" : $"; best {spec.ClassName(dets[0].Label)} {dets[0].Score.ToString("F3", CultureInfo.InvariantCulture)}";
                Out.Info($"{file} ({img.Width}×{img.Height}): {dets.Length} detections{best}");
                if (png || folder)
                {
                    string pic = png ? outPath : Path.Combine(outPath, stem + ".png");
                    DetectorInference.SavePicture(pic, img, dets, spec.ClassName,
                        $"{Path.GetFileName(file)}: {dets.Length} detections (score > {thr.ToString(CultureInfo.InvariantCulture)})");
                }
                done++;
            }
            if (done == 0) throw new InvalidDataException($"{input}: none of the {files.Count} images could be read");
            if (json || folder)
            {
                string resultsPath = json ? outPath : Path.Combine(outPath, "results.json");
                DetectorInference.WriteCocoResults(resultsPath, records);
                Out.Info($"wrote {records.Count} detections of {done} images to {resultsPath}");
            }
            if (png) Out.Info($"wrote {outPath}");
            if (skipped > 0) Out.Warn($"{skipped} of {files.Count} images skipped (named above)");
            return 0;
        }));
        return cmd;
    }
}
