using Soco.Data;
using Soco.Proposals;
using Soco.Runtime;
using TorchSharp;

namespace Soco.Tests.Data;

/// <summary>
/// What keeps the loader's memory flat over a long epoch (docs/scale.md, "The loader's peak RSS"): a batch's tensors are
/// LibTorch's own, filled from the samples' arrays without a managed copy per batch, and disposing the batch frees
/// every tensor collating made, also when a sample does not fit.
/// </summary>
[Collection("torch")]
public class LoaderMemoryTests
{
    public LoaderMemoryTests() => TorchRuntime.SetThreads(1);

    /// <summary>Samples in the FPN recipe's shapes (views 224, 224, 112; two pairs of 4 boxes, 16×16 correspondences).</summary>
    static SocoSample[] Samples(int n, int seed, int[]? sizes = null)
    {
        var rng = new Random(seed);
        sizes ??= [224, 224, 112];
        float[] Fill(int len)
        {
            var a = new float[len];
            for (int i = 0; i < len; i++) a[i] = (float)rng.NextDouble();
            return a;
        }
        return Enumerable.Range(0, n).Select(i => new SocoSample
        {
            Index = 100 + i,
            Label = i % 3,
            Sizes = sizes,
            Images = sizes.Select(s => Fill(3 * s * s)).ToArray(),
            Pairs = [new PairBoxes(2, Fill(20), Fill(20), Fill(256)), new PairBoxes(3, Fill(20), Fill(20), Fill(256))],
        }).ToArray();
    }

    [Fact]
    public void CollateFillsLibTorchTensorsWithoutAManagedCopyOfTheViews()
    {
        var samples = Samples(8, seed: 1);
        long viewBytes = samples.Sum(s => s.Images.Sum(a => (long)a.Length * sizeof(float)));
        Collate(samples).Dispose(); // first call: JIT and TorchSharp's one-time set-up allocate
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var batch = Collate(samples);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Collating through managed arrays allocates twice the views' bytes (the stacked array and TorchSharp's pinned
        // clone of it); filling LibTorch's memory allocates only the small objects around the tensors.
        Assert.True(allocated < viewBytes / 100, $"collating {viewBytes / 1e6:F1} MB of views allocated {allocated / 1e6:F2} MB of managed memory");

        using var scope = torch.NewDisposeScope(); // the row views below
        Assert.Equal(new long[] { 8, 3, 224, 224 }, batch.Images[0].shape);
        Assert.Equal(new long[] { 8, 3, 112, 112 }, batch.Images[2].shape);
        Assert.Equal(new long[] { 8, 4, 5 }, batch.Boxes1[1].shape);
        Assert.Equal(new long[] { 8, 16, 16 }, batch.Correspondence[0].shape);
        for (int i = 0; i < samples.Length; i++)
        {
            for (int v = 0; v < 3; v++) Assert.Equal(samples[i].Images[v], batch.Images[v][i].data<float>().ToArray());
            for (int p = 0; p < 2; p++)
            {
                Assert.Equal(samples[i].Pairs[p].Boxes1, batch.Boxes1[p][i].flatten().data<float>().ToArray());
                Assert.Equal(samples[i].Pairs[p].BoxesK, batch.BoxesK[p][i].flatten().data<float>().ToArray());
                Assert.Equal(samples[i].Pairs[p].Correspondence, batch.Correspondence[p][i].flatten().data<float>().ToArray());
            }
        }
        Assert.Equal(samples.Select(s => (long)s.Index), batch.Index.data<long>().ToArray());
        Assert.Equal(samples.Select(s => (long)s.Label), batch.Label.data<long>().ToArray());
    }

    [Fact]
    public void DisposingABatchFreesEveryTensorAndAFailedCollateLeavesNone()
    {
        var stats = DisposeScopeManager.Statistics;
        var samples = Samples(3, seed: 2, sizes: [32, 32, 16]);
        long live = stats.ThreadTotalLiveCount;
        var batch = Collate(samples);
        Assert.Equal(live + batch.AsTuple().Count, stats.ThreadTotalLiveCount);
        batch.Dispose();
        Assert.Equal(live, stats.ThreadTotalLiveCount);

        // The last sample's second pair has a short correspondence: the views and the first pair were already stacked.
        var bad = samples.Append(new SocoSample
        {
            Index = 7, Label = 0, Sizes = samples[0].Sizes, Images = samples[0].Images,
            Pairs = [samples[0].Pairs[0], samples[0].Pairs[1] with { Correspondence = new float[255] }],
        }).ToArray();
        var e = Assert.Throws<InvalidOperationException>(() => Collate(bad));
        Assert.Contains("sample 7: 255 values where 256 were expected", e.Message);
        Assert.Equal(live, stats.ThreadTotalLiveCount);
    }

    [Fact]
    public void ALargeViewBufferIsReusedOnlyOnceEveryTensorOnItIsGone()
    {
        // Views of 301 px (a size no other test uses, so the pool's buffers of that size are this test's): 2.2 MB per
        // view tensor of 2 samples, pooled; the 16-px view is not.
        const long bytes = 2L * 3 * 301 * 301 * sizeof(float);
        var samples = Samples(2, seed: 3, sizes: [301, 301, 16]);
        var first = Collate(samples);
        int free = BatchMemory.FreeBuffers(bytes);
        var kept = first.Images[0].narrow(0, 1, 1); // a view of V1: its buffer must not be reused while it lives
        first.Dispose();
        Assert.Equal(free + 1, BatchMemory.FreeBuffers(bytes));
        using (var flat = kept.flatten()) Assert.Equal(samples[1].Images[0], flat.data<float>().ToArray());
        Assert.Equal(free + 1, BatchMemory.FreeBuffers(bytes));
        kept.Dispose();
        Assert.Equal(free + 2, BatchMemory.FreeBuffers(bytes));

        var other = Samples(2, seed: 4, sizes: [301, 301, 16]);
        using (var second = Collate(other))
        {
            Assert.Equal(free, BatchMemory.FreeBuffers(bytes)); // both buffers taken again
            using var scope = torch.NewDisposeScope();
            for (int i = 0; i < 2; i++)
                for (int v = 0; v < 3; v++) Assert.Equal(other[i].Images[v], second.Images[v][i].flatten().data<float>().ToArray());
        }
        Assert.Equal(free + 2, BatchMemory.FreeBuffers(bytes));
    }

    [Fact]
    public void TheProposalIndexHoldsTheImageSourcesKeyStrings()
    {
        // The store's records come with their own key strings (parsed from the parts); the image list has one per
        // image too. Held under the source's strings, the index adds no string per image.
        string[] sourceKeys = ["n01_0001", "n01_0002", "n02_0003"];
        var records = new[]
        {
            new ProposalRecord(new string("n01_0002".AsSpan()), "", 40, 30, [new ProposalRect(1, 2, 10, 12)]),
            new ProposalRecord(new string("n02_0003".AsSpan()), "", 50, 20, [new ProposalRect(0, 0, 5, 5), new ProposalRect(3, 3, 9, 9)]),
            new ProposalRecord("other", "", 10, 10, [new ProposalRect(0, 0, 4, 4)]),
        };
        var index = new ProposalIndex(records, sourceKeys);
        Assert.Same(sourceKeys[1], index.Keys.Single(k => k == "n01_0002"));
        Assert.Same(sourceKeys[2], index.Keys.Single(k => k == "n02_0003"));
        Assert.Same(records[2].Key, index.Keys.Single(k => k == "other")); // not in the source: its own string
        Assert.Equal(records[1].Rects, index["n02_0003"].Rects);
        Assert.Equal((40, 30), (index["n01_0002"].Width, index["n01_0002"].Height));
        Assert.False(index.ContainsKey("n01_0001"));
    }

    static SocoBatch Collate(SocoSample[] samples) => SocoBatch.Collate(samples, epoch: 0, batchIndex: 0);
}
