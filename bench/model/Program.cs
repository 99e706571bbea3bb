// One SoCo_FPN training step (3 views, online + target, R50): ours. The PyTorch side is reference.py.
//   dotnet run -c Release --project bench/model -- [batch=8] [threads=2] [steps=3] [official|assigned] [fp32|bf16] [contiguous|channels_last]
using System.Diagnostics;
using Soco.Modeling;
using Soco.Runtime;
using TorchSharp;
using static TorchSharp.torch;

int batch = args.Length > 0 ? int.Parse(args[0]) : 8;
int threads = args.Length > 1 ? int.Parse(args[1]) : 2;
int steps = args.Length > 2 ? int.Parse(args[2]) : 3;
var pooling = args.Length > 3 && args[3] == "assigned" ? LevelPooling.AssignedLevels : LevelPooling.EveryLevel;
var precision = args.Length > 4 && args[4] == "bf16" ? ConvPrecision.Bf16 : ConvPrecision.Fp32;
bool channelsLast = args.Length > 5 && args[5] == "channels_last";
string label = $"{(precision == ConvPrecision.Bf16 ? "bf16" : "fp32")}{(channelsLast ? "+channels_last" : "")}";
TorchRuntime.SetThreads(threads);
manual_seed(0);
const int L = 4;

var model = new SocoFpn(new SocoConfig { TotalSteps = 1000, Pooling = pooling, Precision = precision, ChannelsLast = channelsLast });
model.train();
var opt = optim.SGD(model.OnlineParameters().Select(p => p.Parameter), 0.01, momentum: 0.9);

Tensor Boxes()
{
    var xy = rand(batch, L, 2) * 0.6;
    var wh = rand(batch, L, 2) * 0.35 + 0.05;
    var ids = arange(1, L + 1, dtype: float32).view(1, L, 1).expand(batch, L, 1);
    return cat([xy, xy + wh, ids], 2);
}
Tensor Corr()
{
    // each box at one random level in each view (docs/soco-reference.md §4.8)
    var c = zeros(batch, 4 * L, 4 * L);
    var rng = new Random(1);
    for (int n = 0; n < batch; n++)
        for (int i = 0; i < L; i++)
            c[n, rng.Next(4) * L + i, rng.Next(4) * L + i] = 1;
    return c;
}
var b = new SocoBatch(randn(batch, 3, 224, 224), [randn(batch, 3, 224, 224), randn(batch, 3, 112, 112)], [Boxes(), Boxes()], [Boxes(), Boxes()], [Corr(), Corr()]);

var times = new List<double>();
var cpuTimes = new List<double>();
var proc = Process.GetCurrentProcess();
// Minor page faults so far (/proc/self/stat field 10): each is a freshly mapped page the kernel zeroes, the cost of
// memory the allocator gave back to the system and takes again (docs/bf16.md §4).
static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);
for (int s = 0; s < steps + 1; s++)
{
    using var scope = NewDisposeScope();
    proc.Refresh();
    var cpu0 = proc.TotalProcessorTime;
    long faults0 = MinorFaults();
    var sw = Stopwatch.StartNew();
    opt.zero_grad();
    var loss = model.forward(b);
    double fwd = sw.Elapsed.TotalSeconds;
    loss.backward();
    double bwd = sw.Elapsed.TotalSeconds - fwd;
    opt.step();
    sw.Stop();
    proc.Refresh();
    double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
    long faults = MinorFaults() - faults0;
    if (s > 0) { times.Add(sw.Elapsed.TotalSeconds); cpuTimes.Add(cpu); } // first step is warm-up
    Console.WriteLine($"step {s}: {sw.Elapsed.TotalSeconds:F2} s, CPU {cpu:F2} s (forward incl. EMA + target {fwd:F2}, backward {bwd:F2}), loss {loss.item<float>():F4}, minor faults {faults}, " +
        $"RSS {Environment.WorkingSet / (1 << 20)} MB, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
}
Console.WriteLine($"EMA counter after the run: {model.EmaStep}");
times.Sort();
cpuTimes.Sort();
double median = times[times.Count / 2];
// CPU seconds (all threads) per step: under a shared machine's load the process waits for a core, which the wall
// clock counts and the CPU time does not.
Console.WriteLine($"ours ({pooling}, {label}): median step {median:F2} s, CPU {cpuTimes[cpuTimes.Count / 2]:F2} s (batch {batch}, {threads} threads)");

// RoIAlign share: the same pooling calls as one step (8 box lists × 4 levels; the 4 online ones backpropagated),
// on maps of the step's shapes, timed alone.
if (pooling == LevelPooling.EveryLevel && Environment.GetEnvironmentVariable("BENCH_ROIALIGN") != "0")
{
    Tensor[] Maps(int side) => [randn(batch, 256, side / 4, side / 4), randn(batch, 256, side / 8, side / 8), randn(batch, 256, side / 16, side / 16), randn(batch, 256, (side + 31) / 32, (side + 31) / 32)];
    var rt = new List<double>();
    for (int s = 0; s < 3; s++)
    {
        using var scope = NewDisposeScope();
        var maps224 = Maps(224).Select(t => t.requires_grad_(true)).ToArray();
        var maps112 = Maps(112).Select(t => t.requires_grad_(true)).ToArray();
        var sw = Stopwatch.StartNew();
        Tensor total = zeros(1);
        foreach (var (maps, boxes, online) in new[] { (maps224, b.View1Boxes[0], true), (maps224, b.View1Boxes[1], true), (maps224, b.OtherBoxes[0], true), (maps112, b.OtherBoxes[1], true),
                                                     (maps224, b.View1Boxes[0], false), (maps224, b.View1Boxes[1], false), (maps224, b.OtherBoxes[0], false), (maps112, b.OtherBoxes[1], false) })
        {
            if (online) foreach (var p in RoiPooling.PoolEveryLevel(maps, boxes)) total = total + p.sum();
            else using (no_grad()) RoiPooling.PoolEveryLevel(maps, boxes);
        }
        total.backward();
        sw.Stop();
        if (s > 0) rt.Add(sw.Elapsed.TotalSeconds);
    }
    double roi = rt.Min();
    Console.WriteLine($"RoIAlign (forward + backward of the step's 32 level-poolings): {roi:F3} s = {100 * roi / median:F1} % of the step");
}
