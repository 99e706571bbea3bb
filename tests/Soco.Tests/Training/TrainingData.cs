using Soco.Modeling;
using Soco.Proposals;
using Soco.Training;

namespace Soco.Tests.Training;

/// <summary>Six small sample photos with their released-filter proposals in a temporary folder, and tiny training configs.</summary>
public sealed class TrainingData : IDisposable
{
    public static readonly string[] PhotoNames = ["aero1.jpg", "apple.jpg", "butterfly.jpg", "messi5.jpg", "orange.jpg", "squirrel_cls.jpg"];

    readonly TestPaths.TempDir _dir = new();

    public TrainingData()
    {
        Images = _dir["images"];
        Directory.CreateDirectory(Images);
        foreach (var p in PhotoNames) File.Copy(TestPaths.Photo(p), Path.Combine(Images, p));
        Proposals = _dir["proposals"];
        ProposalJson.Import(TestPaths.Fixture("views", "proposals_ratio3size0308post.json"), Proposals);
    }

    public string Images { get; }
    public string Proposals { get; }
    public string this[string name] => _dir[name];

    /// <summary>The tiny network of the tests (ResNet-18 at width 4, narrow FPN / head / MLPs).</summary>
    public static SocoConfig TinyModel => new()
    {
        Backbone = new ResNetConfig { Depth = 18, BaseWidth = 4 },
        FpnChannels = 8, HeadConvDim = 8, HeadFcDim = 16, MlpHiddenDim = 32, EmbeddingDim = 8, TotalSteps = 10,
    };

    /// <summary>Overrides of the demo preset: the tiny network, views 64/32, batch 2 → 3 steps per epoch on the six photos.</summary>
    public static readonly string[] TinyOverrides =
    [
        "depth=18", "base_width=4", "fpn_channels=8", "head_conv_dim=8", "head_fc_dim=16", "mlp_hidden_dim=32", "embedding_dim=8",
        "image_size=64", "batch_size=2", "epochs=3", "warmup_epochs=1", "checkpoint_steps=2", "keep_last=2", "save_freq=2",
    ];

    public static PretrainConfig Tiny(params string[] more) => PretrainConfigs.Load("demo", [.. TinyOverrides, .. more]);

    public PretrainOptions Options(string run) => new()
    {
        Images = Images, Proposals = Proposals, RunDirectory = run, Threads = 1, Workers = 1, PlotEverySeconds = 1e9,
    };

    public void Dispose() => _dir.Dispose();

    /// <summary>Starts the CLI of the test build (<c>dotnet Soco.Cli.dll args</c>), output captured.</summary>
    public static Soco.Tests.Reliability.ChildCli StartCli(params string[] args) => Soco.Tests.Reliability.ChildCli.Start(args);

    /// <summary>Lines of a file another process is appending to.</summary>
    public static int CountLines(string path)
    {
        if (!File.Exists(path)) return 0;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var r = new StreamReader(fs);
            int n = 0;
            while (r.ReadLine() is not null) n++;
            return n;
        }
        catch (IOException) { return 0; }
    }
}
