using System.CommandLine;
using Soco.Imaging;
using Soco.Interop;
using Soco.Modeling;
using Soco.Runtime;
using Spectre.Console;
using static TorchSharp.torch;

namespace Soco.Cli.Commands;

/// <summary>`soco export`, `soco import`, `soco features`: weights in and out, and features from a model.</summary>
public static class ModelCommands
{
    static Option<string?> ArchOption(string description) => new Option<string?>("--arch") { Description = description }
        .AcceptOnlyFromAmong(SocoArchitecture.Names);

    public static Command Export()
    {
        var ckpt = new Option<string>("--checkpoint") { Description = "Our checkpoint or model file, or an official SoCo ckpt_epoch_*.pth / current.pth", Required = true };
        var format = new Option<string>("--format") { Description = string.Join(" | ", ModelExport.FormatNames), Required = true }
            .AcceptOnlyFromAmong(ModelExport.FormatNames);
        var output = new Option<string>("--out") { Description = "File to write (.pkl for Detectron2, .pth otherwise)", Required = true };
        var arch = ArchOption("Expected architecture (checked against the file)");
        var cmd = new Command("export", "Write a pretrained model for Detectron2 (C4 or FPN+head .pkl), mmdetection or PyTorch (.pth)") { ckpt, format, output, arch };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            var m = CheckpointReader.Read(p.GetValue(ckpt)!, p.GetValue(arch) is string a ? SocoArchitecture.Parse(a) : null);
            int n = ModelExport.Write(m.State, ModelExport.ParseFormat(p.GetValue(format)!), p.GetValue(output)!);
            Out.Info($"{p.GetValue(output)}: {n} tensors of a {SocoArchitecture.Name(m.Arch)} model (ResNet-{m.Config.Backbone.Depth}) from {m.Source} ({m.Layout} layout)");
            return 0;
        }));
        return cmd;
    }

    public static Command Import()
    {
        var from = new Option<string>("--from") { Description = "Official SoCo checkpoint (ckpt_epoch_*.pth or current.pth from main_pretrain.py), or a torchvision fasterrcnn/maskrcnn_resnet50_fpn_v2 state_dict", Required = true };
        var output = new Option<string>("--out") { Description = "Our model file (.pth) to write", Required = true };
        var arch = ArchOption("Architecture, when the checkpoint does not say (FPN and FPN* have the same weights)");
        var names = new Option<string?>("--class-names") { Description = "Detector: text file with one class name per line for labels 1…K−1 (default: torchvision's COCO names for 91 classes, 'class i' otherwise)" };
        var minSize = new Option<int>("--min-size") { Description = "Detector: short side images are resized to (torchvision: 800)", DefaultValueFactory = _ => 800 };
        var maxSize = new Option<int>("--max-size") { Description = "Detector: longest side after resizing at most (torchvision: 1333)", DefaultValueFactory = _ => 1333 };
        var cmd = new Command("import", "Read an official SoCo checkpoint, or a torchvision Faster/Mask R-CNN v2 state_dict, into our model file") { from, output, arch, names, minSize, maxSize };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            string source = p.GetValue(from)!;
            var root = Directory.Exists(source) ? null : Pth.Unpickle(source);
            if (root is not null && TorchvisionDetectorState.Recognises(root))
            {
                if (p.GetValue(minSize) <= 0 || p.GetValue(maxSize) < p.GetValue(minSize))
                    throw new ArgumentException($"--min-size {p.GetValue(minSize)} / --max-size {p.GetValue(maxSize)}: need 0 < min ≤ max");
                IReadOnlyList<string>? classNames = p.GetValue(names) is string nf ? ReadClassNames(nf) : null;
                var d = TorchvisionDetectorState.Read(source, root, classNames, p.GetValue(minSize), p.GetValue(maxSize));
                DetectorModelFile.Save(p.GetValue(output)!, d);
                var c = d.Config;
                var dt = new Table().AddColumns("", "");
                dt.AddRow("from", Markup.Escape($"{source} ({d.Origin})"));
                dt.AddRow("model", Markup.Escape($"{(c.MaskOn ? "Mask" : "Faster")} R-CNN ResNet-{c.Backbone.Depth} width {c.Backbone.BaseWidth}, FPN {c.FpnChannels}, RPN convs {c.RpnConvDepth}, box head {c.BoxHeadConvDim}/{c.BoxHeadFcDim}" +
                    (c.MaskOn ? $", mask head {c.MaskHeadConvDim}{(c.MaskClassAgnostic ? " (class-agnostic)" : "")}" : "")));
                dt.AddRow("classes", Markup.Escape($"{c.NumClasses - 1} + background ({string.Join(", ", d.ClassNames.Skip(1).Take(5))}{(c.NumClasses > 6 ? ", ..." : "")})"));
                dt.AddRow("transform", $"short side {c.MinSizes[^1]}, max {c.MaxSize}");
                dt.AddRow("tensors", $"{d.State.Count} loaded");
                dt.AddRow("written", Markup.Escape(p.GetValue(output)!));
                Out.Ansi.Write(dt);
                return 0;
            }
            if (p.GetValue(names) is not null) throw new ArgumentException($"--class-names applies to a torchvision detector state_dict; {source} is not one");
            var m = root is null ? CheckpointReader.Read(source, p.GetValue(arch) is string a0 ? SocoArchitecture.Parse(a0) : null)
                : CheckpointReader.Read(source, root, p.GetValue(arch) is string a ? SocoArchitecture.Parse(a) : null);
            using var model = m.CreateModel();   // proves every tensor fits the architecture
            ModelFile.Save(p.GetValue(output)!, m.Arch, m.Config, m.State, m.Epoch);
            var t = new Table().AddColumns("", "");
            t.AddRow("from", Markup.Escape($"{m.Source} ({m.Layout} layout{(m.Epoch is long e ? $", epoch {e}" : "")})"));
            t.AddRow("model", Markup.Escape($"{SocoArchitecture.Name(m.Arch)}, ResNet-{m.Config.Backbone.Depth} width {m.Config.Backbone.BaseWidth}"));
            t.AddRow("tensors", m.State.Count.ToString());
            foreach (var (k, v) in m.Notes.Where(kv => kv.Key is "ema_step" or "aug" or "epochs" or "batch_size"))
                t.AddRow(Markup.Escape(k), Markup.Escape(v));
            t.AddRow("written", Markup.Escape(p.GetValue(output)!));
            Out.Ansi.Write(t);
            return 0;
        }));
        return cmd;
    }

    static IReadOnlyList<string> ReadClassNames(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"class names file not found: {path}");
        var lines = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (lines.Length == 0) throw new FormatException($"{path}: no class names (one per line, for labels 1, 2, ...)");
        return lines;
    }

    public static Command Features()
    {
        var ckpt = new Option<string>("--checkpoint") { Description = "Checkpoint or model file, or 'none' for a freshly initialised model", Required = true };
        var arch = ArchOption("Architecture (required with --checkpoint none)");
        var image = new Option<string>("--image") { Description = "The image", Required = true };
        var boxes = new Option<string?>("--boxes") { Description = "JSON file of boxes [[x1, y1, x2, y2], ...] in image pixels (inclusive)" };
        var size = new Option<int>("--size") { Description = "Side the image is resized to (as pretraining's whole-image view)", DefaultValueFactory = _ => 224 };
        var output = new Option<string>("--out") { Description = ".pth file of named tensors (c2..c5, p2..p5, head.*, projection.*)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation with --checkpoint none", DefaultValueFactory = _ => 0 };
        var cmd = new Command("features", "Run a model's online network on one image and write its feature maps and object embeddings as .pth")
            { ckpt, arch, image, boxes, size, output, seed };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            TorchRuntime.EnsureLoaded();
            SocoModel model;
            string? archName = p.GetValue(arch);
            if (p.GetValue(ckpt) == "none")
            {
                if (archName is null) throw new ArgumentException("--arch is required with --checkpoint none");
                manual_seed(p.GetValue(seed));
                model = SocoArchitecture.Create(SocoArchitecture.Parse(archName), new SocoConfig());
            }
            else
                model = CheckpointReader.Read(p.GetValue(ckpt)!, archName is null ? null : SocoArchitecture.Parse(archName)).CreateModel();
            using (model)
            {
                var img = ImageDecoder.Decode(p.GetValue(image)!);
                var input = SocoFeatures.ImageTensor(img, p.GetValue(size));
                Tensor? b = p.GetValue(boxes) is string bf ? SocoFeatures.ReadBoxes(bf, img.Width, img.Height) : null;
                var f = SocoFeatures.Extract(model, input, b);
                Pth.Save(f, p.GetValue(output)!);
                var t = new Table().AddColumns("tensor", "shape");
                foreach (var (k, v) in f) t.AddRow(Markup.Escape(k), string.Join("×", v.shape));
                Out.Ansi.Write(t);
                Out.Info($"wrote {f.Count} tensors to {p.GetValue(output)}");
            }
            return 0;
        }));
        return cmd;
    }
}
