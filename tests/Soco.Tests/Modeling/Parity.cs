using System.Collections;
using Soco.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Modeling;

/// <summary>A flat {name: tensor} fixture written by tools/torch_model_fixtures.py.</summary>
public sealed class TorchFixture : IDisposable
{
    readonly Dictionary<string, Tensor> _t = new();

    public TorchFixture(string file) : this("model", file, "tools/torch_model_fixtures.py") { }

    /// <param name="folder">Folder under tests/fixtures.</param>
    /// <param name="script">The tools/ script that writes it (named in the failure when the file is missing).</param>
    public TorchFixture(string folder, string file, string script)
    {
        TorchRuntime.SetThreads(1);
        var path = TestPaths.Fixture(folder, file);
        Assert.True(File.Exists(path), $"missing fixture {path}: run /usr/bin/python3 {script}");
        Hashtable h = PyTorchUnpickler.UnpickleStateDict(path);
        foreach (DictionaryEntry e in h) _t[(string)e.Key] = (Tensor)e.Value!;
    }

    public Tensor this[string name] => _t.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"fixture has no '{name}'");
    public bool Has(string name) => _t.ContainsKey(name);

    /// <summary>Entries under "prefix." with the prefix removed.</summary>
    public Dictionary<string, Tensor> Prefixed(string prefix)
        => _t.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[(prefix.Length + 1)..], kv => kv.Value);

    public void Dispose()
    {
        foreach (var t in _t.Values) t.Dispose();
    }
}

/// <summary>Comparison with a relative error = max|a − e| / max|e| (scale of the whole tensor).</summary>
public static class Parity
{
    public static (double MaxAbs, double Rel) Error(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var a = actual.detach().to(float64);
        using var e = expected.detach().to(float64);
        if (e.numel() == 0) return (0, 0);
        using var d = (a - e).abs().max();
        using var m = e.abs().max();
        double maxAbs = d.item<double>(), scale = m.item<double>();
        return (maxAbs, scale > 0 ? maxAbs / scale : maxAbs);
    }

    /// <summary>Asserts relative error ≤ tol, logs it, and returns it.</summary>
    public static double Check(ITestOutputHelper log, string what, Tensor actual, Tensor expected, double tol)
    {
        var (abs, rel) = Error(actual, expected);
        log.WriteLine($"{what}: max abs {abs:E2}, rel {rel:E2}");
        Assert.True(rel <= tol, $"{what}: relative error {rel:E3} (max abs {abs:E3}) above {tol:E1}");
        return rel;
    }

    /// <summary>
    /// Checks each named parameter's gradient against <paramref name="expected"/> (same names); returns the worst
    /// relative error. A gradient's error is relative to max(its own max |g|, 1e-3 × the largest max |g| of the module),
    /// so gradients that are zero in exact arithmetic (a bias followed by BN) are judged on the module's scale instead of
    /// on their own rounding noise.
    /// </summary>
    public static double CheckGrads(ITestOutputHelper log, string what, nn.Module module, Dictionary<string, Tensor> expected, double tol)
    {
        var pairs = module.named_parameters().Where(p => expected.ContainsKey(p.name)).ToList();
        Assert.Equal(expected.Count, pairs.Count);
        double globalMax = 0;
        foreach (var (name, _) in pairs)
        {
            using var m = expected[name].abs().max();
            globalMax = Math.Max(globalMax, m.item<float>());
        }
        double worst = 0, worstAbs = 0;
        string worstName = "";
        foreach (var (name, p) in pairs)
        {
            Assert.NotNull(p.grad);
            var e = expected[name];
            Assert.Equal(e.shape, p.grad!.shape);
            using var a = p.grad!.to(float64);
            using var e64 = e.to(float64);
            using var d = (a - e64).abs().max();
            using var m = e64.abs().max();
            double abs = d.item<double>();
            double rel = abs / Math.Max(m.item<double>(), 1e-3 * globalMax);
            if (rel > worst) { worst = rel; worstAbs = abs; worstName = name; }
            Assert.True(rel <= tol, $"{what}: gradient of {name}: relative error {rel:E3} (max abs {abs:E3}) above {tol:E1}");
        }
        log.WriteLine($"{what}: {pairs.Count} parameter gradients, worst rel {worst:E2} (max abs {worstAbs:E2}, {worstName})");
        return worst;
    }

    /// <summary>Σ_i sum(outs[i] · w.i) — the scalar the fixtures differentiate.</summary>
    public static Tensor WeightedSum(TorchFixture f, IReadOnlyList<Tensor> outs, string prefix = "w")
    {
        Tensor? total = null;
        for (int i = 0; i < outs.Count; i++)
        {
            var s = (outs[i] * f[$"{prefix}.{i}"]).sum();
            total = total is null ? s : total + s;
        }
        return total!;
    }
}
