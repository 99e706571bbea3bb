using System.Diagnostics;
using Soco.Proposals.SocoSearch;
using Xunit.Abstractions;

namespace Soco.Tests.Proposals;

/// <summary>
/// Timing of the port against SoCo's Python (seconds stored in the fixtures by tools/soco_ss_fixtures.py).
/// Runs only with SOCO_SS_BENCH=1 (use -c Release); otherwise it returns at once. It asserts nothing about time.
/// </summary>
public class SocoSelectiveSearchSpeedTests(ITestOutputHelper output)
{
    [Fact]
    public void Benchmark()
    {
        if (Environment.GetEnvironmentVariable("SOCO_SS_BENCH") != "1") return;
        var gen = new SocoSelectiveSearch();
        var names = SocoSsFixtures.Names;
        // warm-up (JIT)
        gen.Generate(SocoSsFixtures.Image(SocoSsFixtures.Load(names[0]).Image));
        double sumOurs = 0, sumPy = 0;
        long fallbacks0 = SkimageFelzenszwalb.ExactSortFallbacks;
        foreach (var name in names)
        {
            var doc = SocoSsFixtures.Load(name);
            var img = SocoSsFixtures.Image(doc.Image);
            double best = double.MaxValue;
            for (int rep = 0; rep < 5; rep++)
            {
                var sw = Stopwatch.StartNew();
                gen.Generate(img);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            var sw2 = Stopwatch.StartNew();
            SkimageFelzenszwalb.Segment(img, 300, 0.9, 100);
            double seg = sw2.Elapsed.TotalSeconds;
            sumOurs += best;
            sumPy += doc.Seconds;
            output.WriteLine($"{name,-14} {img.Width}x{img.Height}  ours {best * 1000,7:F1} ms (FH {seg * 1000,6:F1})" +
                             $"  python {doc.Seconds * 1000,7:F0} ms  x{doc.Seconds / best,5:F1}");
        }
        output.WriteLine($"mean: ours {sumOurs / names.Length * 1000:F1} ms, python {sumPy / names.Length * 1000:F0} ms, " +
                         $"x{sumPy / sumOurs:F1}; exact-sort fallbacks {SkimageFelzenszwalb.ExactSortFallbacks - fallbacks0}");
    }
}
