using Soco.IO;

namespace Soco.Proposals;

/// <summary>What a filter run did: images in, boxes in and out, images the strategy left empty and what post did.</summary>
public sealed record FilterSummary(int Images, long BoxesIn, long BoxesOut, int EmptyBeforePost, int StillEmpty, int Failures);

/// <summary>Filters a store into a new store (the official <c>filter_ss_proposals_json*.py</c> steps).</summary>
public static class ProposalFiltering
{
    /// <summary>
    /// Writes the filtered store to <paramref name="outDirectory"/> (built in a temporary folder and renamed into place,
    /// so a killed run leaves no half store). Failed images are not carried over. Beside it,
    /// <c>no_props_images.txt</c> lists images left with no proposal (they fall back to the whole image in training).
    /// </summary>
    public static FilterSummary Run(ProposalStore source, string outDirectory, ProposalFilter filter, bool overwrite = false)
    {
        string target = Path.GetFullPath(outDirectory);
        if (Path.GetFullPath(source.Directory).TrimEnd('/') == target.TrimEnd('/'))
            throw new ArgumentException("--out must differ from --store: a filter writes a new store");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !overwrite)
            throw new ArgumentException($"{target} already exists and is not empty; pass --force to replace it");
        var parameters = new SortedDictionary<string, string>(source.Info.Parameters, StringComparer.Ordinal) { ["filter"] = filter.Name };
        var info = source.Info with { Parameters = parameters, CreatedBy = "soco proposals filter" };
        int images, emptyBefore, failures;
        long boxesIn, boxesOut;
        var stillEmpty = new List<string>();
        var parts = source.Parts();
        // The pass checks for duplicate keys as it goes (their keys sorted in bounded memory) and is redone, skipping the
        // records that are not their key's, only when there are some: one pass over the store in the usual case.
        HashSet<long>? losers = null;
        while (true)
        {
            (images, emptyBefore, failures, boxesIn, boxesOut) = (0, 0, 0, 0, 0);
            stillEmpty.Clear();
            string building = target.TrimEnd('/') + $".building-{Guid.NewGuid():N}";
            try
            {
                var store = ProposalStore.OpenOrCreate(building, info);
                HashSet<long>? found = null;
                using (var check = losers is null ? new ProposalStore.DuplicateCheck() : null)
                {
                    using (var writer = store.OpenWriter("filtered"))
                    {
                        // One reader and one output array for the whole pass: no object per record or per box, so that
                        // memory does not grow with the store (docs/scale.md, "Filter and export at scale").
                        var kept = new ProposalRect[256];
                        foreach (var r in ProposalStore.Stream(parts, withRects: true, losers, check))
                        {
                            if (r.IsFailure) { failures++; continue; }
                            images++;
                            var rects = r.Rects;
                            boxesIn += rects.Length;
                            if (kept.Length < rects.Length) kept = new ProposalRect[Math.Max(rects.Length, 2 * kept.Length)];
                            int n = filter.Apply(rects, r.Width, r.Height, kept, out bool strategyLeftNone);
                            if (strategyLeftNone) emptyBefore++;
                            if (n == 0) stillEmpty.Add(r.KeyString);
                            boxesOut += n;
                            writer.Add(r, kept.AsSpan(0, n));
                            if (writer.Buffered >= 4096) writer.Flush();
                        }
                    }
                    found = check?.Losers();
                }
                if (found is { Count: > 0 })
                {
                    losers = found; // this building store is removed below; the pass is redone without them
                    continue;
                }
                stillEmpty.Sort(StringComparer.Ordinal);
                AtomicFile.WriteAllText(Path.Combine(building, "no_props_images.txt"), string.Concat(stillEmpty.Select(k => k + "\n")));
                if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
                Directory.Move(building, target);
                break;
            }
            finally
            {
                if (Directory.Exists(building)) Directory.Delete(building, recursive: true);
            }
        }
        return new FilterSummary(images, boxesIn, boxesOut, emptyBefore, stillEmpty.Count, failures);
    }
}
