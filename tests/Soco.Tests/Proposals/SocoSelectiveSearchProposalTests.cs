using Soco.Proposals;
using Soco.Proposals.SocoSearch;
using Xunit.Abstractions;

namespace Soco.Tests.Proposals;

public class SocoSelectiveSearchProposalTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Images => SocoSsFixtures.Names.Select(n => new object[] { n });

    private static ProposalRect[] Expected(SocoSsFixtures.Doc doc) =>
        doc.Regions.Select(r => new ProposalRect(r[0], r[1], r[2], r[3])).ToArray();

    // IoU with SoCo's convention (w, h = max - min): inclusive pixel extents are w + 1, h + 1.
    private static double IoU(ProposalRect a, ProposalRect b)
    {
        int ix = Math.Min(a.X + a.W, b.X + b.W) - Math.Max(a.X, b.X) + 1;
        int iy = Math.Min(a.Y + a.H, b.Y + b.H) - Math.Max(a.Y, b.Y) + 1;
        if (ix <= 0 || iy <= 0) return 0;
        double inter = (double)ix * iy;
        double ua = (double)(a.W + 1) * (a.H + 1) + (double)(b.W + 1) * (b.H + 1) - inter;
        return inter / ua;
    }

    internal static (double Jaccard, double Recall) Compare(ProposalRect[] ours, ProposalRect[] reference)
    {
        var so = ours.ToHashSet();
        var sr = reference.ToHashSet();
        double jac = (double)so.Intersect(sr).Count() / so.Union(sr).Count();
        int hit = 0;
        foreach (var r in sr)
            if (so.Contains(r) || so.Any(o => IoU(o, r) >= 0.9)) hit++;
        return (jac, (double)hit / sr.Count);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void ProposalsMatchSocoPython(string name)
    {
        var doc = SocoSsFixtures.Load(name);
        var img = SocoSsFixtures.Image(doc.Image);
        var expected = Expected(doc);
        var ours = new SocoSelectiveSearch().Generate(img);
        var (jac, recall) = Compare(ours, expected);
        int samePos = 0;
        for (int k = 0; k < Math.Min(ours.Length, expected.Length); k++) if (ours[k] == expected[k]) samePos++;
        output.WriteLine($"{name}: ours {ours.Length}, SoCo {expected.Length}, same position {samePos}, " +
                         $"Jaccard {jac:F4}, recall@0.9 {recall:F4}");
        Assert.True(jac >= 0.95, $"Jaccard {jac}");
        Assert.True(recall >= 0.95, $"recall {recall}");
        // The port reproduces SoCo's list exactly (order included) on every fixture.
        Assert.Equal(expected, ours);
    }
}
