using System.CommandLine;
using SkiaSharp;
using Soco.Data;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Cli.Commands;

public static partial class ProposalsCommands
{
    static Command Show()
    {
        var image = new Option<string>("--image") { Description = "The image", Required = true };
        var store = new Option<string?>("--store") { Description = "Take this image's proposals from a store (default: run selective search now)" };
        var mode = ModeOption();
        var strategy = new Option<string>("--strategy") { Description = "Filter whose kept boxes are drawn in green (the rest in red)", DefaultValueFactory = _ => "ratio3size0308post" };
        var output = new Option<string>("--out") { Description = "PNG to write", Required = true };
        var cmd = new Command("show", "Draw an image's proposals (kept by the filter in green, filtered out in red) to a PNG")
            { image, store, mode, strategy, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var r = RenderProposals(p.GetValue(image)!, p.GetValue(store), p.GetValue(mode)!, ProposalFilter.Parse(p.GetValue(strategy)!), p.GetValue(output)!);
            Out.Info($"{p.GetValue(output)}: {r.Kept} kept, {r.Dropped} filtered out ({r.Source})");
            return 0;
        }));
        return cmd;
    }

    internal sealed record ShowResult(int Kept, int Dropped, string Source);

    /// <summary>Renders proposals on the image: filtered-out boxes thin red underneath, kept boxes green on top.</summary>
    internal static ShowResult RenderProposals(string imagePath, string? storeDir, string mode, ProposalFilter filter, string output)
    {
        var img = ImageDecoder.Decode(imagePath);
        ProposalRect[] rects;
        string convention, from;
        if (storeDir is not null)
        {
            var store = ProposalStore.Open(storeDir);
            string key = ImageSources.KeyOf(imagePath);
            if (!store.LoadIndex().TryGetValue(key, out var rec))
                throw new ArgumentException($"{storeDir} has no proposals for image key '{key}' ({imagePath})");
            rects = rec.Rects;
            convention = store.Info.RectConvention;
            from = $"store {storeDir}";
        }
        else
        {
            rects = ProposalModes.Create(mode).Generate(img);
            convention = ProposalModes.Describe(mode, null, 0).RectConvention;
            from = $"selective search, mode {mode}";
        }
        var kept = filter.Apply(rects, img.Width, img.Height);
        var keptSet = new HashSet<ProposalRect>(kept);
        int extra = convention == "soco" ? 0 : -1; // inclusive right edge: soco x+w, opencv x+w−1
        DrawBox Box(ProposalRect r, SKColor c, float stroke) => new(r.X, r.Y, r.X + r.W + extra, r.Y + r.H + extra, c, stroke);
        var boxes = rects.Where(r => !keptSet.Contains(r)).Select(r => Box(r, new SKColor(255, 40, 40, 150), 1))
            .Concat(kept.Select(r => Box(r, new SKColor(40, 255, 40), 2)));
        using var bmp = Drawing.Render(img, boxes,
            $"{Path.GetFileName(imagePath)}: {kept.Length} of {rects.Length} kept by {filter.Name}");
        Drawing.SavePng(bmp, output);
        return new ShowResult(kept.Length, rects.Length - kept.Length, from);
    }
}
