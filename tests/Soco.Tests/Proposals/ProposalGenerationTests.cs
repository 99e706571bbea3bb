using System.Diagnostics;
using Soco.Data;
using Soco.Imaging;
using Soco.Proposals;

namespace Soco.Tests.Proposals;

/// <summary>`soco proposals generate` end to end on real files: bad input, resume, shards, a killed run.</summary>
public class ProposalGenerationTests
{
    static readonly string[] Photos = ["chelsea.png", "butterfly.jpg", "plant.jpg", "messi5.jpg", "camera.png", "rocket.jpg"];

    static string CopyPhotos(TestPaths.TempDir tmp, IEnumerable<string> names, string folder = "images")
    {
        string dir = tmp[folder];
        Directory.CreateDirectory(dir);
        foreach (var n in names) File.Copy(TestPaths.Photo(n), Path.Combine(dir, n));
        return dir;
    }

    static ProposalPipeline.Request Request(string images, string store, string mode = "soco", int workers = 2) =>
        new(images, store, mode) { Options = new GenerateOptions { Workers = workers, FlushEvery = 2 } };

    [Fact]
    public void BadInputsAreRecordedWithTheirReasonAndTheRunGoesOn()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, ["chelsea.png", "butterfly.jpg"]);
        // Inputs users have: grayscale, CMYK, 16-bit and alpha images are decoded to RGB and processed.
        string[] good = ["gray8.png", "gray16.png", "rgb48.png", "cmyk.jpg", "rgba.png", "palette_trns.png"];
        foreach (var f in good) File.Copy(TestPaths.Fixture("decode", f), Path.Combine(dir, f));
        var bad = new Dictionary<string, string>
        {
            ["truncated.jpg"] = "truncated JPEG",
            ["empty.jpg"] = "empty file (0 bytes)",
            ["text.jpg"] = "not an image",
            ["tiny1x1.png"] = "smaller than the minimum",
            ["huge_header.png"] = "over the limit",
        };
        foreach (var f in bad.Keys) File.Copy(TestPaths.Fixture("decode", f), Path.Combine(dir, f));

        var s = ProposalPipeline.Generate(Request(dir, tmp["store"]));
        Assert.Equal(2 + good.Length + bad.Count, s.InShard);
        Assert.Equal(2 + good.Length, s.Done);
        Assert.Equal(bad.Count, s.Failed);
        var records = ProposalStore.Open(tmp["store"]).ReadAll().ToDictionary(r => r.Key);
        foreach (var (file, reason) in bad)
        {
            var r = records[ImageSources.KeyOf(file)];
            Assert.True(r.IsFailure, file);
            Assert.Contains(reason, r.FailureReason);
            Assert.EndsWith(file, r.Location);
        }
        foreach (var f in good.Concat(["chelsea.png", "butterfly.jpg"]))
        {
            var r = records[ImageSources.KeyOf(f)];
            Assert.False(r.IsFailure, $"{f}: {r.FailureReason}");
            Assert.NotEmpty(r.Rects);
        }

        // Re-running skips everything; --retry-failed retries (and records) the failures again, once each.
        var again = ProposalPipeline.Generate(Request(dir, tmp["store"]));
        Assert.Equal((0, 0, 2 + good.Length + bad.Count), (again.Done, again.Failed, again.Skipped));
        var retry = ProposalPipeline.Generate(Request(dir, tmp["store"]) with { Options = new GenerateOptions { RetryFailed = true, Workers = 2 } });
        Assert.Equal((0, bad.Count), (retry.Done, retry.Failed));
        Assert.Equal(records.Count, ProposalStore.Open(tmp["store"]).ReadAll().Count());
    }

    [Fact]
    public void PixelLimitIsConfigurable()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, ["chelsea.png", "camera.png"]);   // 451×300, 512×512
        var s = ProposalPipeline.Generate(Request(dir, tmp["store"]) with { Decode = ProposalPipeline.DefaultDecode with { MaxPixels = 200_000 } });
        Assert.Equal((1, 1), (s.Done, s.Failed));
        var failure = ProposalStore.Open(tmp["store"]).ReadAll().Single(r => r.IsFailure);
        Assert.Equal("camera", failure.Key);
        Assert.Contains("--max-pixels", failure.FailureReason);

        // Raising the limit and retrying the failures: the image's success is its record now (it was left a failure
        // when a key's first record decided), and a plain re-run has nothing left to do.
        var retry = ProposalPipeline.Generate(Request(dir, tmp["store"]) with { Options = new GenerateOptions { RetryFailed = true, Workers = 2 } });
        Assert.Equal((1, 0), (retry.Done, retry.Failed));
        var store = ProposalStore.Open(tmp["store"]);
        Assert.All(store.ReadAll(), r => Assert.False(r.IsFailure));
        Assert.Equal(0, store.CountFailures());
        Assert.Contains("camera", store.LoadIndex().Keys);
        var again = ProposalPipeline.Generate(Request(dir, tmp["store"]) with { Options = new GenerateOptions { RetryFailed = true, Workers = 2 } });
        Assert.Equal((0, 0, 2), (again.Done, again.Failed, again.Skipped));
    }

    [Fact]
    public void ShardsSplitTheWorkAndTogetherEqualOneRun()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, Photos);
        var whole = ProposalPipeline.Generate(Request(dir, tmp["whole"]));
        Assert.Equal(Photos.Length, whole.Done);
        var s0 = ProposalPipeline.Generate(Request(dir, tmp["sharded"]) with { Options = new GenerateOptions { ShardIndex = 0, ShardCount = 2 } });
        var s1 = ProposalPipeline.Generate(Request(dir, tmp["sharded"]) with { Options = new GenerateOptions { ShardIndex = 1, ShardCount = 2 } });
        Assert.Equal(Photos.Length, s0.Done + s1.Done);
        Assert.True(s0.Done > 0 && s1.Done > 0);
        AssertSameProposals(ProposalStore.Open(tmp["whole"]), ProposalStore.Open(tmp["sharded"]));
        Assert.All(ProposalStore.Open(tmp["sharded"]).PartFiles(), p => Assert.Matches(@"part-s00[01]of002-", Path.GetFileName(p)));
    }

    [Fact]
    public void ACancelledRunResumesWithoutLossOrDuplicates()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, Photos);
        ProposalPipeline.Generate(Request(dir, tmp["clean"], workers: 1));
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var first = ProposalPipeline.Generate(Request(dir, tmp["resumed"], workers: 1) with { Options = new GenerateOptions { Workers = 1, FlushEvery = 1 } },
            onRecord: _ => { if (++seen == 2) cts.Cancel(); }, cancel: cts.Token);
        Assert.InRange(first.Done, 2, Photos.Length - 1);
        var second = ProposalPipeline.Generate(Request(dir, tmp["resumed"], workers: 1));
        Assert.Equal(first.Done, second.Skipped);
        Assert.Equal(Photos.Length, first.Done + second.Done);
        AssertSameProposals(ProposalStore.Open(tmp["clean"]), ProposalStore.Open(tmp["resumed"]));
    }

    [Fact]
    public void MaxSideSearchesASmallerImageAndMapsBoxesBack()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, ["camera.png"]);
        ProposalPipeline.Generate(Request(dir, tmp["full"]));
        ProposalPipeline.Generate(Request(dir, tmp["small"]) with { Options = new GenerateOptions { MaxSide = 200 } });
        var full = ProposalStore.Open(tmp["full"]).ReadAll().Single();
        var small = ProposalStore.Open(tmp["small"]).ReadAll().Single();
        Assert.Equal((512, 512), (small.Width, small.Height));
        Assert.NotEqual(full.Rects.Length, small.Rects.Length);
        Assert.All(small.Rects, r => Assert.True(r.X >= 0 && r.Y >= 0 && r.X + r.W <= 511 && r.Y + r.H <= 511, r.ToString()));
        // The last region of SoCo's list is the final merge: the whole image, at either scale.
        Assert.Equal(new ProposalRect(0, 0, 511, 511), small.Rects.MaxBy(r => r.W * r.H));
        // A store made without --max-side refuses results made with it.
        Assert.Throws<ProposalStoreException>(() => ProposalStore.OpenOrCreate(tmp["full"], ProposalModes.Describe("soco", null, 200)));
    }

    [Fact]
    public void MapBackCoversTheSamePixelsScaledOutward()
    {
        var r = ProposalGeneration.MapBack([new ProposalRect(0, 0, 9, 4), new ProposalRect(90, 40, 9, 9)], 100, 50, 200, 100, "soco");
        Assert.Equal(new ProposalRect(0, 0, 19, 9), r[0]);
        Assert.Equal(new ProposalRect(180, 80, 19, 19), r[1]);
        var o = ProposalGeneration.MapBack([new ProposalRect(1, 1, 10, 10)], 100, 100, 150, 150, "opencv");
        Assert.Equal(new ProposalRect(1, 1, 16, 16), o[0]);
    }

    /// <summary>
    /// SIGKILL the CLI in the middle of a run, several times, and resume: no image lost, none duplicated, every part
    /// readable, and the proposals equal a run that was never killed.
    /// </summary>
    [Fact]
    public void KilledWithSigkillAndResumedLosesAndDuplicatesNothing()
    {
        using var tmp = new TestPaths.TempDir();
        string dir = CopyPhotos(tmp, Photos);
        ProposalPipeline.Generate(Request(dir, tmp["clean"], "fast", workers: 1));
        string store = tmp["killed"], parts = Path.Combine(store, "parts");
        int kills = 0;
        foreach (int killAfterParts in new[] { 1, 2, 1 })
        {
            int before = Directory.Exists(parts) ? Directory.GetFiles(parts, "part-*.bin").Length : 0;
            using var p = StartCli("proposals", "generate", "--images", dir, "--out", store, "--mode", "fast", "--workers", "1", "--flush-every", "1");
            while (!p.HasExited)   // no time limit: a busy machine only makes this slower
            {
                if (Directory.Exists(parts) && Directory.GetFiles(parts, "part-*.bin").Length >= before + killAfterParts)
                {
                    p.Kill(entireProcessTree: true); // SIGKILL on Unix
                    kills++;
                    break;
                }
                Thread.Sleep(5);
            }
            p.WaitForExit();
        }
        Assert.True(kills >= 2, $"expected to kill the run mid-way at least twice, killed {kills} times");
        using (var p = StartCli("proposals", "generate", "--images", dir, "--out", store, "--mode", "fast", "--workers", "1"))
        {
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
        }
        var s = ProposalStore.Open(store);
        var keys = s.PartFiles().SelectMany(ProposalStore.ReadPart).Select(r => r.Key).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());   // no image twice, even across parts
        Assert.Equal(Photos.Length, keys.Count);              // none lost
        Assert.DoesNotContain(Directory.GetFiles(parts), f => f.EndsWith(".tmp"));
        AssertSameProposals(ProposalStore.Open(tmp["clean"]), s);
    }

    static Process StartCli(params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Soco.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    static void AssertSameProposals(ProposalStore expected, ProposalStore actual)
    {
        var e = expected.LoadIndex();
        var a = actual.LoadIndex();
        Assert.Equal(e.Keys.Order(), a.Keys.Order());
        foreach (var (k, r) in e)
        {
            Assert.Equal((r.Width, r.Height), (a[k].Width, a[k].Height));
            Assert.True(r.Rects.AsSpan().SequenceEqual(a[k].Rects), $"proposals of {k} differ");
        }
    }
}
