// Our Faster R-CNN R50-FPN (the same torchvision fasterrcnn_resnet50_fpn_v2 weights, imported) timed for bench/detect/run.sh;
// the torchvision side is reference.py, which takes the same arguments.
//   DetectBench infer <state.pth> <threads> <image>...                 eval, one image per call, 800 px short side
//   DetectBench train <state.pth> <threads> <steps> <image> <image>    batch 2, SGD
// Images are decoded before the clock starts; the first call is a warm-up and is not counted.
using System.Diagnostics;
using Soco.Data;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling.Detection;
using Soco.Runtime;
using Soco.Solver;
using static TorchSharp.torch;

string mode = args[0], path = args[1];
int threads = int.Parse(args[2]);
TorchRuntime.SetThreads(threads);
var model = TorchvisionDetectorState.Read(path, CheckpointReader.Unpickle(path), null).CreateModel();
Tensor Load(string f) => DetectorInference.ToTensor(ImageDecoder.Decode(f));

if (mode == "infer")
{
    var files = args[3..];
    var images = files.Select(Load).ToList();
    using (no_grad())
    {
        model.Detect([images[0]]);   // warm-up
        for (int i = 0; i < files.Length; i++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            var d = model.Detect([images[i]])[0];
            double dt = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"ours infer {Path.GetFileName(files[i])} {images[i].shape[2]}x{images[i].shape[1]}: {dt:F3} s, {d.Scores.shape[0]} detections");
        }
    }
}
else if (mode == "train")
{
    int steps = int.Parse(args[3]);
    var images = args[4..6].Select(Load).ToList();
    // The same fixed targets as reference.py: fractions of the image and COCO labels.
    float[][] frac = [[0.10f, 0.15f, 0.55f, 0.90f, 1], [0.40f, 0.30f, 0.95f, 0.80f, 18], [0.05f, 0.05f, 0.30f, 0.35f, 3]];
    var boxes = images.Select(im => tensor(frac.SelectMany(b => new[] { b[0] * im.shape[2], b[1] * im.shape[1], b[2] * im.shape[2], b[3] * im.shape[1] }).ToArray(), [frac.Length, 4])).ToList();
    var labels = images.Select(_ => tensor(frac.Select(b => (long)b[4]).ToArray())).ToList();
    model.train();
    using var sgd = Sgd.ForDetector(model, 0.9, 1e-4, 1e-4);
    sgd.LearningRate = 0.001;
    var times = new List<double>();
    for (int s = 0; s <= steps; s++)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        sgd.ZeroGrad();
        var losses = model.Losses(images, boxes, labels, [SampleRandom.For(0, s, 0), SampleRandom.For(0, s, 1)]);
        var loss = losses.Values.Aggregate((a, b) => a.add(b));
        loss.backward();
        sgd.Step();
        double dt = sw.Elapsed.TotalSeconds;
        if (s > 0) times.Add(dt);
        Console.WriteLine($"ours train step {s}{(s == 0 ? " (warm-up)" : "")}: {dt:F3} s, loss {loss.item<float>():F4}");
    }
    times.Sort();
    Console.WriteLine($"ours train median {(times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2):F3} s");
}
else throw new ArgumentException($"mode {mode}: infer or train");
