using System.CommandLine;
using Soco.Data.Voc;
using Soco.Imaging;
using Soco.Proposals;
using Spectre.Console;

namespace Soco.Cli.Commands;

public static partial class ProposalsCommands
{
    static Command Recall()
    {
        var voc = new Option<string>("--voc") { Description = "PASCAL VOC folder (JPEGImages/ and Annotations/)", Required = true };
        var modes = new Option<string[]>("--mode")
        {
            Description = "Modes to compare (repeatable; default: soco fast quality)",
            DefaultValueFactory = _ => ProposalModes.Names,
            AllowMultipleArgumentsPerToken = true,
        };
        var strategy = new Option<string>("--strategy") { Description = "Also score the soco proposals after this filter", DefaultValueFactory = _ => "ratio3size0308post" };
        var cmd = new Command("recall", "Best IoU of each ground-truth box among the proposals, per mode (VOC annotations)") { voc, modes, strategy };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            var rows = EvaluateRecall(p.GetValue(voc)!, p.GetValue(modes)!, ProposalFilter.Parse(p.GetValue(strategy)!));
            var names = rows.First().Best.Keys.ToArray();
            var t = new Table().AddColumns(["image", "object", .. names]);
            foreach (var r in rows) t.AddRow([Markup.Escape(r.Image), Markup.Escape(r.Label), .. names.Select(n => $"{r.Best[n]:F3}")]);
            t.AddRow(["[bold]mean[/]", "", .. names.Select(n => $"[bold]{rows.Average(r => r.Best[n]):F3}[/]")]);
            t.AddRow(["recall@0.5", "", .. names.Select(n => $"{rows.Count(r => r.Best[n] >= 0.5)}/{rows.Count}")]);
            t.AddRow(["recall@0.7", "", .. names.Select(n => $"{rows.Count(r => r.Best[n] >= 0.7)}/{rows.Count}")]);
            Out.Ansi.Write(t);
            return 0;
        }));
        return cmd;
    }

    internal sealed record RecallRow(string Image, string Label, Dictionary<string, double> Best);

    internal static List<RecallRow> EvaluateRecall(string vocDir, IEnumerable<string> modes, ProposalFilter filter)
    {
        string ann = Path.Combine(vocDir, "Annotations"), jpg = Path.Combine(vocDir, "JPEGImages");
        if (!Directory.Exists(ann)) throw new DirectoryNotFoundException($"no Annotations folder in {vocDir}");
        var rows = new List<RecallRow>();
        foreach (var xml in Directory.GetFiles(ann, "*.xml").Order(StringComparer.Ordinal))
        {
            var a = VocAnnotation.Read(xml);
            var img = ImageDecoder.Decode(Path.Combine(jpg, a.FileName));
            var perMode = new Dictionary<string, double[]>();
            foreach (var mode in modes)
            {
                var rects = ProposalModes.Create(mode).Generate(img);
                string conv = ProposalModes.Describe(mode, null, 0).RectConvention;
                perMode[mode] = ProposalRecall.BestIou(a.Boxes, rects, conv);
                if (mode == "soco")
                    perMode[$"soco+{filter.Name}"] = ProposalRecall.BestIou(a.Boxes, filter.Apply(rects, img.Width, img.Height), conv);
            }
            for (int g = 0; g < a.Boxes.Count; g++)
                rows.Add(new RecallRow(a.FileName, a.Boxes[g].Label, perMode.ToDictionary(kv => kv.Key, kv => kv.Value[g])));
        }
        return rows;
    }
}
