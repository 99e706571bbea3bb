using System.CommandLine;
using Soco.Proposals;
using Spectre.Console;

namespace Soco.Cli.Commands;

/// <summary>`soco proposals ...`: generate, filter, export, import, show, info.</summary>
public static partial class ProposalsCommands
{
    public static Command Build()
    {
        var cmd = new Command("proposals", "Selective-search object proposals: generate, filter, export, import, show, info");
        cmd.Add(Generate());
        cmd.Add(Filter());
        cmd.Add(Export());
        cmd.Add(Import());
        cmd.Add(Show());
        cmd.Add(Info());
        cmd.Add(Recall());
        cmd.Add(Bench());
        return cmd;
    }

    static Command Filter()
    {
        var store = new Option<string>("--store") { Description = "Proposal store to filter", Required = true };
        var output = new Option<string>("--out") { Description = "Folder of the new, filtered store", Required = true };
        var strategy = new Option<string>("--strategy")
        {
            Description = "none | ratioR | sizeXX | ratioRsizeAABB, optionally + 'post' (SoCo's released: ratio3size0308post)",
            DefaultValueFactory = _ => "ratio3size0308post",
        };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists" };
        var cmd = new Command("filter", "Filter proposals with SoCo's strategies (including the 'post' refill step)") { store, output, strategy, force };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var filter = ProposalFilter.Parse(p.GetValue(strategy)!);
            var s = RunFilter(ProposalStore.Open(p.GetValue(store)!), p.GetValue(output)!, filter, p.GetValue(force));
            return 0;
        }));
        return cmd;
    }

    internal static FilterSummary RunFilter(ProposalStore source, string output, ProposalFilter filter, bool force)
    {
        var s = ProposalFiltering.Run(source, output, filter, force);
        Out.Info($"filtered {s.Images} images with {filter.Name}: {s.BoxesIn} → {s.BoxesOut} proposals " +
                 $"({(s.Images > 0 ? (double)s.BoxesOut / s.Images : 0):F1} per image); " +
                 $"{s.EmptyBeforePost} left empty by the strategy" + (filter.Post ? $", {s.StillEmpty} still empty after post" : "") +
                 (s.Failures > 0 ? $"; {s.Failures} failed images not carried over" : ""));
        Out.Info($"store: {output}  (images with no proposal: {Path.Combine(output, "no_props_images.txt")})");
        return s;
    }

    static Command Export()
    {
        var store = new Option<string>("--store") { Description = "Proposal store", Required = true };
        var output = new Option<string>("--out") { Description = "JSON file in SoCo's layout {key: [[x, y, w, h], ...]}", Required = true };
        var cmd = new Command("export", "Write a store as SoCo's proposal JSON (interchangeable with the official files)") { store, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var s = ProposalStore.Open(p.GetValue(store)!);
            int n = ProposalJson.Export(s, p.GetValue(output)!);
            Out.Info($"wrote {n} images to {p.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }

    static Command Import()
    {
        var from = new Option<string>("--from") { Description = "SoCo proposal JSON, e.g. train_ratio3size0308post.json", Required = true };
        var output = new Option<string>("--out") { Description = "Folder of the new store", Required = true };
        var merge = new Option<bool>("--merge-duplicates") { Description = "An image key that occurs more than once keeps the boxes of every occurrence (by default such a file is refused)" };
        var cmd = new Command("import", "Read an official (or our) SoCo proposal JSON into a store") { from, output, merge };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var r = ProposalJson.Import(p.GetValue(from)!, p.GetValue(output)!, mergeDuplicates: p.GetValue(merge));
            if (r.MergedKeys > 0) Out.Warn($"{r.MergedKeys} image key(s) occurred more than once: their boxes were merged (--merge-duplicates)");
            foreach (var w in r.Warnings) Out.Warn(w);
            if (r.DroppedBoxes > r.Warnings.Count) Out.Warn($"... {r.DroppedBoxes - r.Warnings.Count} more bad boxes dropped");
            Out.Info($"imported {r.Images} images, {r.Boxes} proposals" + (r.DroppedBoxes > 0 ? $" ({r.DroppedBoxes} bad boxes dropped)" : "") + $" into {p.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }

    static Command Info()
    {
        var store = new Option<string>("--store") { Description = "Proposal store", Required = true };
        var all = new Option<bool>("--all-failures") { Description = "List every failure, not only the first 20" };
        var cmd = new Command("info", "Counts, settings and failures of a store") { store, all };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var s = ProposalStore.Open(p.GetValue(store)!);
            int images = 0, empty = 0;
            long boxes = 0;
            var failures = new List<ProposalRecord>();
            foreach (var r in s.ReadAll())
            {
                if (r.IsFailure) { failures.Add(r); continue; }
                images++;
                boxes += r.Rects.Length;
                if (r.Rects.Length == 0) empty++;
            }
            var t = new Table().AddColumns("", "");
            t.AddRow("store", Markup.Escape(s.Directory));
            t.AddRow("made with", Markup.Escape(s.Info.Describe()));
            t.AddRow("rect convention", s.Info.RectConvention == "soco" ? "soco (w = max − min)" : "opencv (w = pixel extent)");
            t.AddRow("parts", s.PartFiles().Length.ToString());
            t.AddRow("images", images.ToString());
            t.AddRow("proposals", $"{boxes} ({(images > 0 ? (double)boxes / images : 0):F1} per image)");
            t.AddRow("images with no proposal", empty.ToString());
            t.AddRow("failed images", failures.Count.ToString());
            Out.Ansi.Write(t);
            foreach (var f in failures.Take(p.GetValue(all) ? int.MaxValue : 20))
                Out.Info($"  failed: {f.Location}: {f.FailureReason}");
            if (!p.GetValue(all) && failures.Count > 20) Out.Info($"  ... {failures.Count - 20} more (--all-failures)");
            return 0;
        }));
        return cmd;
    }
}
