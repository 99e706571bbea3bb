using System.Globalization;
using Soco.Proposals.OpenCv;
using Soco.Proposals.SocoSearch;

namespace Soco.Proposals;

/// <summary>Switches of the SoCo mode that correct the official quirks (both off by default: reproduce the release).</summary>
public sealed record SearchSwitches(bool FixHsvHistogram = false, bool AdjacencyNeighbours = false);

/// <summary>The proposal generators by name: <c>soco</c> (default), <c>fast</c>, <c>quality</c>.</summary>
public static class ProposalModes
{
    public static readonly string[] Names = ["soco", "fast", "quality"];

    /// <summary>A new generator (one per worker thread: generators keep scratch buffers).</summary>
    public static IProposalGenerator Create(string mode, SearchSwitches? switches = null)
    {
        switches ??= new SearchSwitches();
        return mode switch
        {
            "soco" => new SocoSelectiveSearch(new SocoSelectiveSearchOptions
            {
                FixHsvHistogram = switches.FixHsvHistogram,
                AdjacencyNeighbours = switches.AdjacencyNeighbours,
            }),
            "fast" => OpenCvSelectiveSearch.Fast(),
            "quality" => OpenCvSelectiveSearch.Quality(),
            _ => throw new ArgumentException($"unknown proposal mode '{mode}'; use one of: {string.Join(", ", Names)}"),
        };
    }

    /// <summary>What a store made with this mode records about it (runs with other settings may not add to it).</summary>
    public static ProposalStoreInfo Describe(string mode, SearchSwitches? switches, int maxSide)
    {
        switches ??= new SearchSwitches();
        var p = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (mode == "soco")
        {
            var o = new SocoSelectiveSearchOptions();
            p["scale"] = o.Scale.ToString(CultureInfo.InvariantCulture);
            p["sigma"] = o.Sigma.ToString(CultureInfo.InvariantCulture);
            p["min_size"] = o.MinSize.ToString(CultureInfo.InvariantCulture);
            p["hsv_histogram"] = switches.FixHsvHistogram ? "fixed" : "official";
            p["neighbours"] = switches.AdjacencyNeighbours ? "adjacency" : "official-bbox-corner";
        }
        else if (mode is not ("fast" or "quality"))
            throw new ArgumentException($"unknown proposal mode '{mode}'; use one of: {string.Join(", ", Names)}");
        p["max_side"] = maxSide > 0 ? maxSide.ToString(CultureInfo.InvariantCulture) : "none";
        return new ProposalStoreInfo
        {
            Generator = mode,
            Parameters = p,
            RectConvention = mode == "soco" ? "soco" : "opencv",
            CreatedBy = "soco proposals generate",
        };
    }
}
