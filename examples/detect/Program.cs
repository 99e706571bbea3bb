// Detect objects in my photos with a fine-tuned model:
//   dotnet run -- <model.pth> <photo or folder> [output folder]
// The model is `soco finetune`'s model_final.pth (or a torchvision detector read by `soco import`). Prints each photo's
// detections as they come and draws them into <output folder>/<photo>.png.
using Soco.Api;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: DetectPhotos <model.pth> <photo or folder> [output folder]");
    return 2;
}
string output = args.Length > 2 ? args[2] : "detections";
Directory.CreateDirectory(output);

using var detector = SocoDetector.Load(args[0], new DetectorSettings { ScoreThreshold = 0.3 });
await foreach (var photo in detector.DetectAllAsync(args[1]))
{
    if (photo.Error is not null)
    {
        Console.WriteLine($"{photo.Path}: skipped ({photo.Error})");
        continue;
    }
    string best = photo.Detections.Count > 0 ? $", best {photo.Detections[0].ClassName} {photo.Detections[0].Score:F2}" : "";
    Console.WriteLine($"{Path.GetFileName(photo.Path)} ({photo.Width}x{photo.Height}): {photo.Detections.Count} objects{best}");
    foreach (var d in photo.Detections.Take(5))
        Console.WriteLine($"  {d.ClassName,-12} {d.Score:F2}  [{d.X1:F0}, {d.Y1:F0}, {d.X2:F0}, {d.Y2:F0}]");
    detector.SavePicture(photo, Path.Combine(output, Path.GetFileNameWithoutExtension(photo.Path) + ".png"));
}
return 0;
