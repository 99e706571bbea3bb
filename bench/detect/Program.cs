// Our Faster R-CNN R50-FPN (the same torchvision fasterrcnn_resnet50_fpn_v2 weights, imported) timed for bench/detect/run.sh;
// the torchvision side is reference.py, which takes the same arguments. The state dict decides the model: a
// maskrcnn_resnet50_fpn_v2 one (run.sh --mask) gives our Mask R-CNN, which then trains on instance masks too.
//   DetectBench infer <state.pth> <threads> <image>...                 eval, one image per call, 800 px short side
//   DetectBench train <state.pth> <threads> <steps> <image> <image>    batch 2, SGD
//   DetectBench profile <state.pth> <threads> <image>...               inference stage by stage (the RPN head runs twice)
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
var model = TorchvisionDetectorState.Read(path, Pth.Unpickle(path), null).CreateModel();
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
    // A Mask R-CNN's instance masks: the pixels whose centres lie inside each box (the same rule as reference.py).
    var masks = !model.Config.MaskOn ? null : images.Select((im, i) =>
    {
        long h = im.shape[1], w = im.shape[2];
        var b = boxes[i].data<float>().ToArray();
        var m = new byte[frac.Length * h * w];
        for (int k = 0; k < frac.Length; k++)
            for (long y = 0; y < h; y++)
                for (long x = 0; x < w; x++)
                    if (x + 0.5f >= b[4 * k] && x + 0.5f < b[4 * k + 2] && y + 0.5f >= b[4 * k + 1] && y + 0.5f < b[4 * k + 3]) m[k * h * w + y * w + x] = 1;
        return tensor(m, [frac.Length, h, w]);
    }).ToList();
    model.train();
    using var sgd = Sgd.ForDetector(model, 0.9, 1e-4, 1e-4);
    sgd.LearningRate = 0.001;
    var times = new List<double>();
    for (int s = 0; s <= steps; s++)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        sgd.ZeroGrad();
        var losses = model.Losses(images, boxes, labels, [SampleRandom.For(0, s, 0), SampleRandom.For(0, s, 1)], masks);
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
else if (mode == "profile")
{
    // Where one inference goes, stage by stage (the same calls FasterRcnn.DetectBatch makes, timed one by one).
    var files = args[3..];
    using var noGrad = no_grad();
    var images = files.Select(Load).ToList();
    model.Detect([images[0]]);   // warm-up
    foreach (var (f, im) in files.Zip(images))
    {
        using var scope = NewDisposeScope();
        var t = new List<(string, double)>();
        var sw = Stopwatch.StartNew();
        void Lap(string what) { t.Add((what, sw.Elapsed.TotalSeconds)); sw.Restart(); }
        var (batch, _) = model.Transform.Apply([im]); Lap("transform (resize, normalise, pad)");
        var c = model.Backbone.forward(batch.Tensor); Lap("ResNet-50 C2-C5");
        var p = model.Fpn!.forward(c); Lap("FPN P2-P6");
        var (logits, deltas) = model.Rpn.Head.forward(p); Lap("RPN head convs");
        var proposals = model.Rpn.Forward(batch, p).Boxes; double rpnAll = sw.Elapsed.TotalSeconds; sw.Restart();
        t.Add(("RPN anchors + decode + top-k + NMS (RPN again minus its head)", Math.Max(0, rpnAll - t[^1].Item2)));
        var feats = p.Take(4).ToList();
        var pooled = model.RoiHeads.Pooler.Forward(feats, proposals, batch.ImageSizes); Lap("multi-scale RoIAlign (1000 RoIs, 7x7)");
        var hf = model.RoiHeads.BoxHead.forward(pooled); Lap("4conv-1fc box head");
        var (cl, bd) = model.RoiHeads.Predictor.forward(hf); Lap("box predictor");
        var dets = model.RoiHeads.Postprocess(cl, bd, proposals, batch.ImageSizes); Lap("postprocess (decode, per-class NMS)");
        double total = t.Sum(x => x.Item2);
        Console.WriteLine($"profile {Path.GetFileName(f)}: {total:F3} s");
        foreach (var (what, sec) in t) Console.WriteLine($"  {what,-62} {sec,8:F3} s {100 * sec / total,5:F1} %");
    }
}
else throw new ArgumentException($"mode {mode}: infer, train or profile");
