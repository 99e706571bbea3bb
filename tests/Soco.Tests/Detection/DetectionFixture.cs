using System.Collections;
using Soco.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>A flat {name: tensor} fixture written by tools/torch_detection_fixtures.py (torchvision 0.14).</summary>
public sealed class DetectionFixture : IDisposable
{
    readonly Dictionary<string, Tensor> _t = new();

    public DetectionFixture(string file)
    {
        TorchRuntime.SetThreads(1);
        var path = TestPaths.Fixture("detection", file);
        Assert.True(File.Exists(path), $"missing fixture {path}: run /usr/bin/python3 tools/torch_detection_fixtures.py");
        Hashtable h = PyTorchUnpickler.UnpickleStateDict(path);
        foreach (DictionaryEntry e in h) _t[(string)e.Key] = (Tensor)e.Value!;
    }

    public Tensor this[string name] => _t.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"fixture has no '{name}'");
    public bool Has(string name) => _t.ContainsKey(name);
    public IEnumerable<string> Keys => _t.Keys;

    /// <summary>Entries under "prefix." with the prefix removed.</summary>
    public Dictionary<string, Tensor> Prefixed(string prefix)
        => _t.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[(prefix.Length + 1)..], kv => kv.Value);

    public void Dispose()
    {
        foreach (var t in _t.Values) t.Dispose();
    }
}

/// <summary>Assertions for detector parity.</summary>
public static class Expect
{
    /// <summary>Same shape and the same integers, element for element.</summary>
    public static void SameIndices(Tensor expected, Tensor actual, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{what}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        var e = expected.to(int64).cpu().data<long>().ToArray();
        var a = actual.to(int64).cpu().data<long>().ToArray();
        for (int i = 0; i < e.Length; i++)
            Assert.True(e[i] == a[i], $"{what}: element {i} is {a[i]}, expected {e[i]}");
    }

    /// <summary>Same shape and max |a − e| ≤ tol (NaN must match NaN).</summary>
    public static double Close(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{what}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        var e = expected.detach().to(float64).cpu().contiguous().data<double>().ToArray();
        var a = actual.detach().to(float64).cpu().contiguous().data<double>().ToArray();
        double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i])) { Assert.True(double.IsNaN(a[i]), $"{what}: element {i} is {a[i]}, expected NaN"); continue; }
            double d = Math.Abs(a[i] - e[i]);
            Assert.True(d <= tol, $"{what}: element {i} is {a[i]:R}, expected {e[i]:R} (|diff| {d:E2} > {tol:E1})");
            worst = Math.Max(worst, d);
        }
        return worst;
    }
}
