using Soco.Data;
using Soco.Proposals;
using Soco.Runtime;

namespace Soco.Tests.Data;

public class LoaderSamplerTests
{
    [Fact]
    public void SamplerIsSeededByEpochAndDropsTheLastBatch()
    {
        var s = new EpochSampler(10, 3, seed: 4);
        Assert.Equal(3, s.BatchesPerEpoch);
        var e0 = s.Indices(0);
        Assert.Equal(Enumerable.Range(0, 10), e0.Order());
        Assert.Equal(e0, new EpochSampler(10, 3, seed: 4).Indices(0));
        Assert.NotEqual(e0, s.Indices(1));
        Assert.NotEqual(e0, new EpochSampler(10, 3, seed: 5).Indices(0));
        var batches = s.Batches(0).ToList();
        Assert.Equal(3, batches.Count);
        Assert.All(batches, b => Assert.Equal(3, b.Length));
        Assert.Equal(e0.Take(9), batches.SelectMany(b => b));
        // Resume mid-epoch: the same batches from the given one on.
        Assert.Equal(batches.Skip(2), s.Batches(0, startBatch: 2));
        Assert.Equal(4, new EpochSampler(10, 3, 4, dropLast: false).BatchesPerEpoch);
        Assert.Equal(Enumerable.Range(0, 10), new EpochSampler(10, 3, 4, shuffle: false).Indices(7).Concat([]).Order());
        Assert.Throws<ArgumentException>(() => new EpochSampler(2, 3, 0));
    }

    [Fact]
    public void DistributedRanksSplitOnePermutation()
    {
        var r0 = new EpochSampler(11, 2, 9, rank: 0, worldSize: 3).Indices(2);
        var r1 = new EpochSampler(11, 2, 9, rank: 1, worldSize: 3).Indices(2);
        var r2 = new EpochSampler(11, 2, 9, rank: 2, worldSize: 3).Indices(2);
        Assert.Equal(4, r0.Length); // ceil(11 / 3), padded by wrapping like DistributedSampler
        var all = new EpochSampler(11, 2, 9).Indices(2);
        Assert.Equal(all[0], r0[0]);
        Assert.Equal(all[1], r1[0]);
        Assert.Equal(all[3], r0[1]);
        Assert.Equal(Enumerable.Range(0, 11), r0.Concat(r1).Concat(r2).Distinct().Order());
    }
}

[Collection("torch")]
public class LoaderTests : IDisposable
{
    readonly TestPaths.TempDir _dir = new();
    readonly string _images;
    readonly Dictionary<string, ProposalRecord> _proposals;

    public LoaderTests()
    {
        TorchRuntime.SetThreads(1);
        _images = Path.Combine(_dir.Path, "images");
        Directory.CreateDirectory(_images);
        foreach (var p in new[] { "apple.jpg", "chelsea.png", "messi5.jpg", "orange.jpg", "plant.jpg" })
            File.Copy(TestPaths.Photo(p), Path.Combine(_images, p));
        // A corrupt image (truncated JPEG) in the middle of the dataset, and an image without proposals.
        File.WriteAllBytes(Path.Combine(_images, "corrupt.jpg"), File.ReadAllBytes(TestPaths.Photo("dog.jpg"))[..300]);
        File.Copy(TestPaths.Photo("rocket.jpg"), Path.Combine(_images, "zz_noprops.jpg"));
        ProposalJson.Import(TestPaths.Fixture("views", "proposals_ratio3size0308post.json"), Path.Combine(_dir.Path, "props"));
        _proposals = ProposalStore.Open(Path.Combine(_dir.Path, "props")).LoadIndex();
    }

    public void Dispose() => _dir.Dispose();

    (SocoLoader Loader, List<string> Log) Make(ViewRecipe recipe, int workers, int batch = 2, int prefetch = 0)
    {
        var log = new List<string>();
        var source = ImageSources.Open(_images);
        var ds = new SocoDataset(source, _proposals, recipe, seed: 3, log: log.Add);
        return (new SocoLoader(ds, new EpochSampler(ds.Count, batch, seed: 3), new LoaderOptions { Workers = workers, Prefetch = prefetch }), log);
    }

    static List<float[]> Flatten(SocoBatch b) => b.AsTuple().Select(t => t.to_type(TorchSharp.torch.float32).data<float>().ToArray()).ToList();

    [Fact]
    public void BatchesHaveTheSpecShapesAndDoNotDependOnTheWorkerCount()
    {
        var (one, log1) = Make(ViewRecipe.FpnStar, workers: 1);
        var (three, _) = Make(ViewRecipe.FpnStar, workers: 3, prefetch: 1);
        var a = new List<List<float[]>>();
        int batches = 0;
        foreach (var b in one.Epoch(1))
            using (b)
            {
                batches++;
                Assert.Equal(new long[] { 2, 3, 224, 224 }, b.Images[0].shape);
                Assert.Equal(new long[] { 2, 3, 224, 224 }, b.Images[1].shape);
                Assert.Equal(new long[] { 2, 3, 192, 192 }, b.Images[2].shape);
                Assert.Equal(new long[] { 2, 3, 112, 112 }, b.Images[3].shape);
                Assert.All(b.Boxes1.Concat(b.BoxesK), t => Assert.Equal(new long[] { 2, 4, 5 }, t.shape));
                Assert.All(b.Correspondence, t => Assert.Equal(new long[] { 2, 16, 16 }, t.shape));
                Assert.Equal(15, b.AsTuple().Count); // img1-4, b1_12, b1_13, b1_14, b2, b3, b4, C12-14, index, label
                a.Add(Flatten(b));
            }
        Assert.Equal(3, batches); // 7 images, batch 2, drop_last
        int k = 0;
        foreach (var b in three.Epoch(1))
            using (b)
            {
                var f = Flatten(b);
                for (int t = 0; t < f.Count; t++) Assert.Equal(a[k][t], f[t]);
                k++;
            }
        Assert.Equal(3, k);
        // Resume from batch 2 gives batch 2 again.
        using (var resumed = one.Epoch(1, startBatch: 2).First())
        {
            Assert.Equal(2, resumed.BatchIndex);
            var f = Flatten(resumed);
            for (int t = 0; t < f.Count; t++) Assert.Equal(a[2][t], f[t]);
        }
    }

    [Fact]
    public void RecycledViewTensorsGiveTheSameBatchesAsFreshSamples()
    {
        // The loader hands each batch's view arrays back to ViewTensorPool and the next samples reuse them: over
        // several epochs and workers every batch must equal one collated from freshly built samples.
        var (loader, _) = Make(ViewRecipe.FpnCutout, workers: 2, batch: 2, prefetch: 2);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var expected = loader.Sampler.Batches(epoch).ToList();
            int k = 0;
            foreach (var b in loader.Epoch(epoch))
                using (b)
                {
                    var fresh = expected[k++].Select(i => loader.Dataset.GetOrReplace(i, epoch)).ToArray();
                    using var reference = SocoBatch.Collate(fresh, epoch, b.BatchIndex);
                    var got = Flatten(b);
                    var want = Flatten(reference);
                    for (int t = 0; t < want.Count; t++) Assert.Equal(want[t], got[t]);
                }
            Assert.Equal(expected.Count, k);
        }
    }

    [Fact]
    public void CorruptImageIsLoggedAndReplacedAndMissingProposalsUseTheWholeImage()
    {
        var (loader, log) = Make(ViewRecipe.C4, workers: 2, batch: 7);
        using var b = loader.Epoch(0).Single();
        var index = b.Index.data<long>().ToArray();
        int corrupt = loader.Dataset.Source.Entries.Single(e => e.Key == "corrupt").Index;
        Assert.DoesNotContain(corrupt, index.Select(i => (int)i));
        Assert.Contains(log, l => l.Contains("corrupt.jpg") && l.Contains("skipping image"));
        Assert.Contains(b.Warnings, w => w.Contains($"image {corrupt} replaced by image {corrupt + 1}"));
        Assert.Equal(1, loader.Dataset.MissingProposals);
        Assert.Equal(new long[] { 7, 4, 4 }, b.Correspondence[0].shape);
    }

    [Fact]
    public void StoppingEarlyReleasesTheWorkers()
    {
        var (loader, _) = Make(ViewRecipe.C4, workers: 2, batch: 1, prefetch: 2);
        foreach (var b in loader.Epoch(0))
        {
            b.Dispose();
            break;
        }
        // A second epoch starts cleanly after the abandoned one.
        Assert.Equal(7, loader.Epoch(1).Select(b => { b.Dispose(); return 1; }).Sum());
    }
}
