using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Soco.Modeling;
using Soco.Runtime;
using Soco.Solver;
using Soco.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Cli.Commands;

/// <summary>
/// `soco bench` (hidden): the device checks of bench/gpu/run — which LibTorch is loaded (`runtime`), the SoCo_FPN
/// loss, gradients, EMA and LARS step on a device against the CPU (`parity`), and the SoCo_FPN training step's speed on
/// fixed synthetic views (`step`). Each prints one result line and, with --json, writes its numbers to a file.
/// </summary>
public static class BenchCommand
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Build()
    {
        var cmd = new Command("bench", "Device checks and step benchmarks (bench/gpu/run)") { Hidden = true };
        cmd.Add(Runtime());
        cmd.Add(Parity());
        cmd.Add(Step());
        cmd.Add(TransferBench.Build());
        cmd.Add(ScaleBench.Build());
        return cmd;
    }

    static Option<string> DeviceOption() => new("--device") { Description = "cpu | cuda | cuda:N", DefaultValueFactory = _ => "cpu" };
    static Option<string?> JsonOption() => new("--json") { Description = "Write the results to this JSON file" };

    static Command Runtime()
    {
        var device = DeviceOption();
        var json = JsonOption();
        var cmd = new Command("runtime", "Which LibTorch is loaded, and whether the device can be used") { device, json };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            var ext = TorchRuntime.External;
            var r = new Dictionary<string, object?>
            {
                ["libtorch"] = ext?.Folder ?? "bundled (TorchSharp's libtorch-cpu package)",
                ["libtorch_version"] = ext is null ? TorchRuntime.SupportedLibTorch + " (bundled)" : ext.Version,
                ["libtorch_version_source"] = ext?.VersionSource,
                ["libtorch_cuda"] = ext?.CudaVersion,
                ["glue"] = ext?.Glue,
                ["loaded"] = ext?.Loaded,
                ["version_warning"] = ext?.VersionMismatch,
            };
            // What the process really mapped (not what was asked for): one path per LibTorch library.
            r["mapped"] = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && System.Text.RegularExpressions.Regex.IsMatch(Path.GetFileName(f[5]), @"^lib(torch|c10|LibTorchSharp)[^/]*\.so"))
                .Select(f => f[5]).Distinct().Order(StringComparer.Ordinal).ToList();
            bool cuda = SafeCudaAvailable();
            r["cuda_available"] = cuda;
            r["cuda_device_count"] = cuda ? torch.cuda.device_count() : 0;
            foreach (var (k, v) in r) Out.Text.WriteLine($"{k}: {Format(v)}");
            string name = p.GetValue(device)!;
            var dev = TorchRuntime.ResolveDevice(name); // a clear error (exit 2) when the device cannot be had
            using (var a = torch.ones(256, 256, device: dev))
            using (var b = a.matmul(a))
            using (var s = b.sum())
            {
                double v = s.item<float>();
                r["device_matmul_ok"] = v == 256.0 * 256 * 256;
                Out.Text.WriteLine($"device {name}: a 256×256 ones matrix product sums to {v.ToString("R", Inv)} (expected {256 * 256 * 256})");
            }
            r["device"] = name;
            WriteJson(p.GetValue(json), r);
            return (bool)r["device_matmul_ok"]! ? 0 : 1;
        }));
        return cmd;
    }

    static bool SafeCudaAvailable()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; }
    }

    static Command Parity()
    {
        var device = DeviceOption();
        var json = JsonOption();
        var batch = new Option<int>("--batch") { Description = "Images per batch", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for the CPU side", DefaultValueFactory = _ => Environment.ProcessorCount };
        var tol = new Option<double>("--tolerance") { Description = "Largest relative error (‖Δ‖/‖x‖ per tensor) accepted for gradients and updated weights", DefaultValueFactory = _ => 2e-3 };
        var width = new Option<int>("--width") { Description = "ResNet-50 base width (64 = released)", DefaultValueFactory = _ => 64 };
        var dump = new Option<string?>("--dump")
        {
            Description = "Write the initial weights, the fixed inputs and the device's gradients and weights after the step to this .pth " +
                          "(bench/gpu/reference.py --mode parity runs PyTorch on them and gives the verdict; the exit code then only says the run worked)",
        };
        var cmd = new Command("parity", "SoCo_FPN loss, gradients, EMA and one LARS step on --device against the CPU (same weights, same fixed inputs, TF32 off)")
            { device, json, batch, threads, tol, width, dump };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.SetThreads(p.GetValue(threads));
            var dev = TorchRuntime.ResolveDevice(p.GetValue(device)!);
            if (dev.type == DeviceType.CUDA)
            {
                // fp32 parity: cuDNN convolutions would otherwise run in TF32 (10-bit mantissa), PyTorch's default.
                torch.backends.cudnn.allow_tf32 = false;
                torch.backends.cuda.matmul.allow_tf32 = false;
            }
            int n = p.GetValue(batch);
            var cfg = new SocoConfig { TotalSteps = 1000, Backbone = ResNetConfig.R50 with { BaseWidth = p.GetValue(width) } };
            manual_seed(0);
            using var model = new SocoFpn(cfg);
            model.train();
            var snapshot = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            var cpuBatch = SyntheticBatch(n, 4, 1);

            var clock = Stopwatch.StartNew();
            var cpu = RunOnce(model, cpuBatch, CPU);
            double cpuSeconds = clock.Elapsed.TotalSeconds;
            model.load_state_dict(snapshot);
            model.to(dev);
            clock.Restart();
            var other = RunOnce(model, cpuBatch, dev);
            double devSeconds = clock.Elapsed.TotalSeconds;

            double lossDiff = Math.Abs(cpu.Loss - other.Loss);
            // Every tensor's numbers, so that reference.py can hold each against PyTorch's own CUDA-vs-CPU difference.
            var rows = new List<Dictionary<string, object>>();
            void Row(string kind, string name, Tensor a, Tensor b)
            {
                var (rel, abs) = Compare(a, b);
                using var scope = NewDisposeScope();
                rows.Add(new() { ["kind"] = kind, ["name"] = name, ["rel"] = rel, ["max_abs"] = abs,
                    ["diff_norm"] = (a.to(float64) - b.to(float64)).norm().item<double>(), ["ref_norm"] = a.to(float64).norm().item<double>() });
            }
            foreach (var (name, g) in cpu.Grads) Row("grad", name, g, other.Grads[name]);
            foreach (var (name, w) in cpu.Weights) Row(cpu.Grads.ContainsKey(name) ? "step" : "ema", name, w, other.Weights[name]);
            double worstGrad = 0, worstWeight = 0, worstTarget = 0, maxAbsGrad = 0;
            string worstGradName = "", worstWeightName = "", worstTargetName = "";
            foreach (var (name, g) in cpu.Grads)
            {
                var (rel, abs) = Compare(g, other.Grads[name]);
                if (rel > worstGrad) (worstGrad, worstGradName) = (rel, name);
                maxAbsGrad = Math.Max(maxAbsGrad, abs);
            }
            foreach (var (name, w) in cpu.Weights)
            {
                var (rel, _) = Compare(w, other.Weights[name]);
                bool target = !cpu.Grads.ContainsKey(name);
                if (target) { if (rel > worstTarget) (worstTarget, worstTargetName) = (rel, name); }
                else if (rel > worstWeight) (worstWeight, worstWeightName) = (rel, name);
            }
            double t = p.GetValue(tol);
            bool ok = lossDiff <= 1e-4 * Math.Max(1, Math.Abs(cpu.Loss)) && worstGrad <= t && worstWeight <= t && worstTarget <= t && double.IsFinite(other.Loss);
            var r = new Dictionary<string, object>
            {
                ["device"] = dev.ToString(), ["batch"] = n, ["loss_cpu"] = cpu.Loss, ["loss_device"] = other.Loss, ["loss_abs_diff"] = lossDiff,
                ["grad_tensors"] = cpu.Grads.Count, ["grad_worst_rel"] = worstGrad, ["grad_worst_name"] = worstGradName, ["grad_max_abs_diff"] = maxAbsGrad,
                ["lars_step_worst_rel"] = worstWeight, ["lars_step_worst_name"] = worstWeightName,
                ["ema_target_worst_rel"] = worstTarget, ["ema_target_worst_name"] = worstTargetName,
                ["tolerance_rel"] = t, ["pass"] = ok, ["cpu_seconds"] = cpuSeconds, ["device_seconds"] = devSeconds,
                ["tensors"] = rows,
            };
            Out.Text.WriteLine(string.Create(Inv,
                $"parity {dev} vs cpu, batch {n}: loss {cpu.Loss:R} vs {other.Loss:R} (|Δ| {lossDiff:E2}); gradients of {cpu.Grads.Count} tensors: worst ‖Δ‖/‖g‖ {worstGrad:E2} ({worstGradName}), max |Δ| {maxAbsGrad:E2}; " +
                $"after one LARS step: worst {worstWeight:E2}; EMA targets: worst {worstTarget:E2}; tolerance {t:E1} → {(ok ? "PASS" : "FAIL")}"));
            WriteJson(p.GetValue(json), r);
            if (p.GetValue(dump) is string dumpPath)
            {
                // Same names as PyTorch's reference model (tools/torch_model_fixtures.py SocoFPN), so it loads them strictly.
                var d = new Dictionary<string, Tensor>();
                foreach (var (k, v) in snapshot) d["state." + k] = v;
                var ins = new[] { ("v1", cpuBatch.View1), ("v2", cpuBatch.OtherViews[0]), ("v3", cpuBatch.OtherViews[1]),
                    ("b1_12", cpuBatch.View1Boxes[0]), ("b1_13", cpuBatch.View1Boxes[1]), ("b2", cpuBatch.OtherBoxes[0]), ("b3", cpuBatch.OtherBoxes[1]),
                    ("c12", cpuBatch.Correspondences[0]), ("c13", cpuBatch.Correspondences[1]) };
                foreach (var (k, v) in ins) d["in." + k] = v;
                foreach (var (k, v) in other.Grads) d["dev.grad." + k] = v;
                foreach (var (k, v) in other.Weights) d["dev.after." + k] = v;
                d["dev.loss"] = tensor(other.Loss, float64);
                d["cpu.loss"] = tensor(cpu.Loss, float64);
                d["cfg.lr"] = tensor(ParityLearningRate, float64);
                d["cfg.weight_decay"] = tensor(ParityWeightDecay, float64);
                d["cfg.total_steps"] = tensor(cfg.TotalSteps);
                d["cfg.base_momentum"] = tensor(cfg.BaseMomentum, float64);
                Pth.Save(d, dumpPath);
                Out.Text.WriteLine($"wrote {d.Count} tensors to {dumpPath} (the verdict: bench/gpu/reference.py --mode parity)");
                return double.IsFinite(other.Loss) ? 0 : 1;
            }
            return ok ? 0 : 1;
        }));
        return cmd;
    }

    const double ParityLearningRate = 0.5, ParityWeightDecay = 1e-5;

    sealed record Pass(double Loss, Dictionary<string, Tensor> Grads, Dictionary<string, Tensor> Weights);

    /// <summary>One training step (forward with EMA, backward, LARS) on <paramref name="device"/>; returns the loss, the
    /// online gradients and every parameter after the step, all copied to the CPU.</summary>
    static Pass RunOnce(SocoFpn model, Modeling.SocoBatch cpuBatch, Device device)
    {
        using var lars = Lars.ForSoco(model.OnlineParameters(), ParityWeightDecay);
        lars.LearningRate = ParityLearningRate;
        using var pause = new FinalizerPause();
        using var scope = NewDisposeScope();
        var b = ToDevice(cpuBatch, device);
        lars.ZeroGrad();
        var loss = model.forward(b);
        loss.backward();
        var grads = model.OnlineParameters().ToDictionary(x => x.Name, x => x.Parameter.grad!.detach().cpu().clone().DetachFromDisposeScope());
        lars.Step();
        var weights = model.named_parameters().ToDictionary(x => x.name, x => x.parameter.detach().cpu().clone().DetachFromDisposeScope());
        return new Pass(loss.item<float>(), grads, weights);
    }

    /// <summary>‖a − b‖ / max(‖a‖, tiny) and max |a − b|, in float64.</summary>
    static (double Rel, double Abs) Compare(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var x = a.to(float64);
        var d = x - b.to(float64);
        double norm = x.norm().item<double>();
        double dn = d.norm().item<double>();
        return (dn / Math.Max(norm, 1e-30), d.abs().max().item<double>());
    }

    static Command Step()
    {
        var device = DeviceOption();
        var json = JsonOption();
        var batch = new Option<int>("--batch") { Description = "Images per step (per GPU; the release: 128)", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "Timed steps", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps first", DefaultValueFactory = _ => 3 };
        var precision = new Option<string>("--precision") { Description = "fp32 | bf16", DefaultValueFactory = _ => "fp32" };
        var pooling = new Option<string>("--pooling") { Description = "every_level (official) | assigned_levels", DefaultValueFactory = _ => "every_level" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var breakdown = new Option<bool>("--breakdown")
        {
            Description = "Time each phase of the timed steps (forward online, EMA, forward target, loss, backward, optimiser; the device " +
                          "synchronised at each boundary) and RoIAlign alone on the step's pyramid shapes",
        };
        var cmd = new Command("step", "SoCo_FPN R50 training step (forward with EMA + target, backward, LARS) on fixed synthetic views: images/s")
            { device, json, batch, steps, warmup, precision, pooling, threads, breakdown };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.SetThreads(p.GetValue(threads));
            var dev = TorchRuntime.ResolveDevice(p.GetValue(device)!);
            var prec = p.GetValue(precision) switch
            {
                "fp32" => ConvPrecision.Fp32,
                "bf16" => ConvPrecision.Bf16,
                var s => throw new ArgumentException($"--precision must be fp32 or bf16 (got '{s}')"),
            };
            var pool = p.GetValue(pooling) switch
            {
                "every_level" => LevelPooling.EveryLevel,
                "assigned_levels" => LevelPooling.AssignedLevels,
                var s => throw new ArgumentException($"--pooling must be every_level or assigned_levels (got '{s}')"),
            };
            int n = p.GetValue(batch), timed = Math.Max(1, p.GetValue(steps)), warm = Math.Max(0, p.GetValue(warmup));
            // Under mpirun/srun: --batch is the global batch, each rank runs its share with SyncBN and the gradients are
            // averaged (bench/distributed; docs/distributed.md).
            var group = Soco.Distributed.ProcessGroup.World;
            if (n % group.WorldSize != 0) throw new ArgumentException($"--batch {n} does not split over {group.WorldSize} processes");
            int global = n;
            n /= group.WorldSize;
            manual_seed(0);
            SocoFpn model;
            using (Norms.Use(group.IsDistributed ? NormKind.SyncBN : NormKind.BN, group))
                model = new SocoFpn(new SocoConfig { TotalSteps = 1000, Precision = prec, Pooling = pool });
            using var modelOwner = model;
            model.to(dev);
            Soco.Distributed.DataParallel.BroadcastModule(group, model);
            var dataParallel = new Soco.Distributed.DataParallel(group, model.OnlineParameters().Select(x => x.Parameter));
            double allReduceSeconds = 0, collectiveSeconds = 0;
            model.train();
            using var lars = Lars.ForSoco(model.OnlineParameters(), 1e-5);
            lars.LearningRate = 0.1;
            using var batchScope = NewDisposeScope();
            var b = ToDevice(SyntheticBatch(n, 4, 1), dev);
            var times = new List<double>();
            double lastLoss = double.NaN;
            bool split = p.GetValue(breakdown);
            var phases = new Dictionary<string, double>();
            var lap = new Stopwatch();
            void Sync() { if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev); }
            void Mark(string phase)
            {
                Sync();
                phases[phase] = phases.GetValueOrDefault(phase) + lap.Elapsed.TotalSeconds;
                lap.Restart();
            }
            for (int s = 0; s < warm + timed; s++)
            {
                var clock = Stopwatch.StartNew();
                double collectivesBefore = group.CollectiveSeconds;
                bool timedSplit = split && s >= warm;
                using (var pause = new FinalizerPause())
                using (var scope = NewDisposeScope())
                {
                    lars.ZeroGrad();
                    if (timedSplit) { Sync(); lap.Restart(); model.PhaseEnded = Mark; }
                    var loss = model.forward(b);
                    model.PhaseEnded = null;
                    loss.backward();
                    if (timedSplit) Mark("backward");
                    if (group.IsDistributed)
                    {
                        var ar = Stopwatch.StartNew();
                        dataParallel.AverageGradients();
                        if (s >= warm) allReduceSeconds += ar.Elapsed.TotalSeconds;
                        if (timedSplit) Mark("allreduce");
                    }
                    lars.Step();
                    if (timedSplit) Mark("optimizer");
                    if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev);
                    if (s == warm + timed - 1) lastLoss = loss.item<float>();
                }
                double sec = clock.Elapsed.TotalSeconds;
                if (s >= warm) collectiveSeconds += group.CollectiveSeconds - collectivesBefore;
                // A data-parallel step ends when its slowest rank does.
                sec = group.AllReduce(sec, Soco.Distributed.ReduceOp.Max);
                if (s >= warm) times.Add(sec);
                if (group.IsMain) Out.Text.WriteLine(string.Create(Inv, $"step {s}{(s < warm ? " (warm-up)" : "")}: {sec:F4} s = {global / sec:F1} images/s"));
            }
            times.Sort();
            double median = times[times.Count / 2];
            var r = new Dictionary<string, object>
            {
                ["device"] = dev.ToString(), ["batch"] = n, ["precision"] = p.GetValue(precision)!, ["pooling"] = p.GetValue(pooling)!,
                ["steps"] = timed, ["median_step_seconds"] = median, ["min_step_seconds"] = times[0], ["images_per_second"] = global / median,
                ["processes"] = group.WorldSize, ["threads"] = p.GetValue(threads),
                ["allreduce_seconds_per_step"] = group.AllReduce(allReduceSeconds / timed, Soco.Distributed.ReduceOp.Max),
                ["collective_seconds_per_step"] = group.AllReduce(collectiveSeconds / timed, Soco.Distributed.ReduceOp.Max),
                ["gradient_mb"] = dataParallel.Parameters.Sum(x => x.numel() * x.element_size()) / 1e6,
                ["last_loss"] = lastLoss, ["rss_mb"] = Environment.WorkingSet >> 20,
            };
            if (split)
            {
                var ms = phases.ToDictionary(kv => kv.Key, kv => 1000 * kv.Value / timed);
                r["phase_ms"] = ms;
                r["roi_align_ms"] = RoiAlignTiming(n, dev, 5);
                double total = ms.Values.Sum();
                Out.Text.WriteLine($"phase (mean of {timed} steps, synchronised) | ms | share");
                foreach (var (k, v) in ms) Out.Text.WriteLine(string.Create(Inv, $"  {k,-16} | {v,8:F1} | {100 * v / total,5:F1} %"));
                Out.Text.WriteLine(string.Create(Inv, $"  {"sum",-16} | {total,8:F1} |"));
                foreach (var (k, v) in (Dictionary<string, double>)r["roi_align_ms"]) Out.Text.WriteLine(string.Create(Inv, $"  roi_align {k,-22} | {v,8:F2} ms"));
            }
            if (!group.IsMain) return double.IsFinite(lastLoss) ? 0 : 1;
            string comm = group.IsDistributed
                ? string.Create(Inv, $"; gradient all-reduce {(double)r["allreduce_seconds_per_step"]:F4} s/step ({100 * (double)r["allreduce_seconds_per_step"] / median:F1} % of the step, {(double)r["gradient_mb"]:F1} MB); all collectives (SyncBN included) {(double)r["collective_seconds_per_step"]:F4} s/step ({100 * (double)r["collective_seconds_per_step"] / median:F1} %)")
                : "";
            Out.Text.WriteLine(string.Create(Inv,
                $"SoCo_FPN R50 step on {dev}, batch {global} ({group.WorldSize} process(es) × {p.GetValue(threads)} thread(s)), {p.GetValue(precision)}, {p.GetValue(pooling)}: median {median:F4} s (min {times[0]:F4}) over {timed} steps = {global / median:F1} images/s; last loss {lastLoss:F4}") + comm);
            WriteJson(p.GetValue(json), r);
            return double.IsFinite(lastLoss) ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>RoIAlign alone (7×7, aligned, adaptive grid, as the model calls it) on one 224 view's P2..P5 shapes (N×256×56..7)
    /// with N×4 boxes: forward of the four levels, and forward + backward (what one online box list costs); mean ms over
    /// <paramref name="reps"/> after one warm-up. The step makes 16 such level calls online and 16 in the target.</summary>
    static Dictionary<string, double> RoiAlignTiming(int n, Device dev, int reps)
    {
        using var pause = new FinalizerPause();
        using var scope = NewDisposeScope();
        var boxes = SyntheticBatch(n, 4, 3).View1Boxes[0].to(dev);
        float[] host;
        using (var c = boxes.cpu().contiguous()) host = c.data<float>().ToArray();
        var feats = new[] { 56, 28, 14, 7 }.Select(sz => randn(n, 256, sz, sz, device: dev).requires_grad_(true)).ToArray();
        void Sync() { if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev); }
        double Time(bool backward)
        {
            double total = 0;
            for (int i = 0; i <= reps; i++)
            {
                using var inner = NewDisposeScope();
                Sync();
                var clock = Stopwatch.StartNew();
                Tensor? sum = null;
                foreach (var f in feats)
                {
                    var y = RoiPooling.PoolOneLevel(f, boxes, 7, true, -1, host);
                    var t = y.sum();
                    sum = sum is null ? t : sum.Plus(t);
                }
                if (backward) sum!.backward();
                Sync();
                if (i > 0) total += clock.Elapsed.TotalSeconds;
                foreach (var f in feats) f.grad?.zero_();
            }
            return 1000 * total / reps;
        }
        return new Dictionary<string, double> { ["forward_4_levels"] = Time(false), ["forward_backward_4_levels"] = Time(true) };
    }

    /// <summary>Fixed synthetic inputs of the released SoCo_FPN shapes (views 224/224/112, L boxes per list, a
    /// correspondence with each box at one random level per view), drawn from seeded generators on the CPU.</summary>
    internal static Modeling.SocoBatch SyntheticBatch(int n, int l, int seed)
    {
        manual_seed(seed);
        var rng = new Random(seed);
        Tensor Boxes()
        {
            var d = new float[n * l * 5];
            for (int i = 0; i < n * l; i++)
            {
                float x = (float)rng.NextDouble() * 0.6f, y = (float)rng.NextDouble() * 0.6f;
                float w = (float)rng.NextDouble() * 0.35f + 0.05f, h = (float)rng.NextDouble() * 0.35f + 0.05f;
                d[i * 5] = x; d[i * 5 + 1] = y; d[i * 5 + 2] = x + w; d[i * 5 + 3] = y + h; d[i * 5 + 4] = i % l + 1;
            }
            return tensor(d, [n, l, 5]);
        }
        Tensor Corr()
        {
            int m = 4 * l;
            var d = new float[n * m * m];
            for (int b = 0; b < n; b++)
                for (int i = 0; i < l; i++)
                    d[(b * m + rng.Next(4) * l + i) * m + rng.Next(4) * l + i] = 1;
            return tensor(d, [n, m, m]);
        }
        return new Modeling.SocoBatch(randn(n, 3, 224, 224), [randn(n, 3, 224, 224), randn(n, 3, 112, 112)], [Boxes(), Boxes()], [Boxes(), Boxes()], [Corr(), Corr()]);
    }

    static Modeling.SocoBatch ToDevice(Modeling.SocoBatch b, Device d) => new(b.View1.to(d), b.OtherViews.Select(t => t.to(d)).ToList(),
        b.View1Boxes.Select(t => t.to(d)).ToList(), b.OtherBoxes.Select(t => t.to(d)).ToList(), b.Correspondences.Select(t => t.to(d)).ToList());

    static string Format(object? v) => v switch
    {
        null => "-",
        IEnumerable<string> list => string.Join(", ", list),
        IFormattable f => f.ToString(null, Inv),
        _ => v.ToString() ?? "",
    };

    internal static void WriteJson(string? path, object value)
    {
        if (path is null) return;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        Soco.IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
    }
}
