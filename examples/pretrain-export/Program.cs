// Pretrain on my folder and export for Detectron2:
//   dotnet run -- <images folder> [output folder] [epochs]
// Proposals (SoCo's selective search + the released filter), SoCo pretraining with the small `demo` preset, and the
// Detectron2 FPN file for configs/detectron2/SoCo_FPN_1x.yaml. Ctrl+C stops at a step boundary; run again to resume.
using Soco.Api;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: PretrainExport <images folder> [output folder] [epochs]");
    return 2;
}
string images = args[0], output = args.Length > 1 ? args[1] : "soco-run";
int epochs = args.Length > 2 ? int.Parse(args[2]) : 200;   // the preset's 200 epochs, 10 of them warm-up
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };

var proposals = await SocoProposals.PrepareAsync(new ProposalOptions { Images = images, OutputDirectory = Path.Combine(output, "proposals") },
    new Progress<ProposalProgress>(p => Console.WriteLine($"proposals {p.Done}/{p.Total}: {p.Image.Key} {p.Image.FailureReason ?? $"{p.Image.Rects.Length} boxes"}")),
    stop.Token);
Console.WriteLine($"proposals: {proposals.Generation.Proposals} found, kept in {proposals.Store}");

var run = await SocoPretraining.RunAsync(new PretrainingOptions
{
    Images = images, Proposals = proposals.Store, RunDirectory = Path.Combine(output, "pretrain"),
    Config = "demo", Overrides = [$"solver.epochs={epochs}", $"solver.warmup_epochs={epochs / 20}"], Threads = 1, Log = Console.WriteLine,
}, new Progress<Soco.Training.StepMetrics>(m => { if (m.Step % 10 == 0) Console.WriteLine($"step {m.Step}: loss {m.Loss:F4}"); }), stop.Token);
Console.WriteLine($"pretraining: {run.Stop}, {run.StepsDone}/{run.TotalSteps} steps, checkpoint {run.LastCheckpoint}");
if (run.LastCheckpoint is null) return 1;

string pkl = Path.Combine(output, "soco_fpn_detectron2.pkl");
int tensors = SocoExport.ToDetectron2(run.RunDirectory, pkl);
Console.WriteLine($"wrote {pkl} ({tensors} tensors): train it in Detectron2 with configs/detectron2/SoCo_FPN_1x.yaml, MODEL.WEIGHTS {pkl}");
return 0;
