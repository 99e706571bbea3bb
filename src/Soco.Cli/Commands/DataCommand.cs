using System.CommandLine;
using Soco.Data.Scenes;

namespace Soco.Cli.Commands;

/// <summary>`soco data scenes`: the transfer benchmark's data (docs/transfer-benchmark.md §Scenes). Parsing and printing
/// only: the work is <see cref="SceneSet.Write"/>.</summary>
public static class DataCommand
{
    public static Command Build()
    {
        var cmd = new Command("data", "Datasets made from real images (the transfer benchmark's scenes)");
        cmd.Add(Scenes());
        cmd.Add(ScaleBench.Synth());
        return cmd;
    }

    static Command Scenes()
    {
        var source = new Option<string>("--source") { Description = $"Folder of Fashion-MNIST's IDX files ({FashionMnist.InstallHint})", DefaultValueFactory = _ => FashionMnist.DefaultFolder };
        var backgrounds = new Option<string>("--backgrounds") { Description = "Folder of background photos (.jpg/.png), e.g. samples/photos", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed: the same seed and arguments give the same bytes", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count") { Description = "Unlabelled pretraining scenes", Required = true };
        var finetune = new Option<int?>("--finetune-count") { Description = "Labelled fine-tuning scenes (default count/8, at least 1)" };
        var eval = new Option<int?>("--eval-count") { Description = "Held-out evaluation scenes (default count/5, at least 1)" };
        var size = new Option<int>("--size") { Description = "Canvas side, pixels", DefaultValueFactory = _ => new SceneOptions().CanvasSize };
        var minSide = new Option<int>("--min-side") { Description = "Smallest item side (the 28×28 square), pixels", DefaultValueFactory = _ => new SceneOptions().MinSide };
        var maxSide = new Option<int>("--max-side") { Description = "Largest item side, pixels", DefaultValueFactory = _ => new SceneOptions().MaxSide };
        var workers = new Option<int>("--workers") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var output = new Option<string>("--out") { Description = "Output folder: pretrain/ (images, items.json), finetune/ and eval/ (images, instances.json), scenes.json", Required = true };
        var cmd = new Command("scenes", "Deterministic multi-object scenes of real Fashion-MNIST items over crops of real photos, with exact COCO boxes and instance masks; splits pretrain (unlabelled) / finetune (labelled) / eval (held out), disjoint source items")
            { source, backgrounds, seed, count, finetune, eval, size, minSide, maxSide, workers, output };
        cmd.SetAction(p => SocoCli.Guard(() =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new ArgumentException("--count must be ≥ 1");
            int[] counts = [n, p.GetValue(finetune) ?? Math.Max(1, n / 8), p.GetValue(eval) ?? Math.Max(1, n / 5)];
            var options = new SceneOptions { CanvasSize = p.GetValue(size), MinSide = p.GetValue(minSide), MaxSide = p.GetValue(maxSide) };
            string outDir = p.GetValue(output)!;
            var gate = new object();
            var r = Out.WithProgress("scenes", counts.Sum(), tick => SceneSet.Write(p.GetValue(source)!, p.GetValue(backgrounds)!, p.GetValue(seed), counts, options, outDir,
                p.GetValue(workers), _ => { lock (gate) tick(1, null); }));
            for (int s = 0; s < 3; s++)
                Out.Info($"{SceneGenerator.SplitNames[s],-8} {r.Scenes[s]} scenes, {r.Items[s]} items (from a pool of {r.PoolSizes[s]} source items)");
            Out.Ok($"{outDir}: {(r.Reused ? "already made with these arguments (reused)" : "written")}");
            return 0;
        }));
        return cmd;
    }
}
