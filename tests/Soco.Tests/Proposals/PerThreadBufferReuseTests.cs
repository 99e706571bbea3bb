using Soco.Imaging;
using Soco.Proposals;
using Soco.Proposals.OpenCv;
using Soco.Proposals.SocoSearch;

namespace Soco.Tests.Proposals;

/// <summary>
/// The selective searches reuse per-thread arrays from one image to the next (longer than needed and holding the
/// previous image's values after a larger image). A worker that searches a large, then a small, then the large image
/// again must give each image the proposals a fresh thread gives it.
/// </summary>
public class PerThreadBufferReuseTests
{
    private static readonly RgbImage Large = PilResize.Bilinear(ImageDecoder.Decode(TestPaths.Photo("dog.jpg")), 160, 120);
    private static readonly RgbImage Small = PilResize.Bilinear(ImageDecoder.Decode(TestPaths.Photo("coffee.png")), 90, 70);

    private static T OnFreshThread<T>(Func<T> f)
    {
        T result = default!;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        var t = new Thread(() =>
        {
            try { result = f(); }
            catch (Exception e) { failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        });
        t.Start();
        t.Join();
        failure?.Throw();
        return result;
    }

    private static void AssertReuseIsInvisible(Func<RgbImage, ProposalRect[]> search)
    {
        var freshLarge = OnFreshThread(() => search(Large));
        var freshSmall = OnFreshThread(() => search(Small));
        var sequence = OnFreshThread(() => new[] { search(Large), search(Small), search(Large), search(Small) });
        // small first: the large image drops the small one's arrays and sizes new ones
        var growing = OnFreshThread(() => new[] { search(Small), search(Large), search(Small) });
        Assert.NotEmpty(freshLarge);
        Assert.NotEmpty(freshSmall);
        Assert.Equal(freshLarge, sequence[0]);
        Assert.Equal(freshSmall, sequence[1]);
        Assert.Equal(freshLarge, sequence[2]);
        Assert.Equal(freshSmall, sequence[3]);
        Assert.Equal(freshSmall, growing[0]);
        Assert.Equal(freshLarge, growing[1]);
        Assert.Equal(freshSmall, growing[2]);
    }

    [Theory]
    [InlineData(SelectiveSearchPreset.Fast)]
    [InlineData(SelectiveSearchPreset.Quality)]
    [InlineData(SelectiveSearchPreset.Single)]
    public void OpenCvPresetsGiveEachImageTheSameBoxesAfterOtherImages(SelectiveSearchPreset preset) =>
        AssertReuseIsInvisible(img => new SelectiveSearchSegmentation(preset).Process(img));

    [Fact]
    public void SocoSearchGivesEachImageTheSameBoxesAfterOtherImages() =>
        AssertReuseIsInvisible(img => new SocoSelectiveSearch().Generate(img));

    // The memory a worker holds (docs/scale.md, "Peak memory of selective search"): a thread's buffers are sized for the
    // largest image so far with headroom, so a buffer first needed by a later, smaller image is not grown again by the
    // next one; a larger image drops them, and their memory is handed back before
    // new ones are allocated, not held beside the new ones until a full collection long after.

    [Fact]
    public void SocoWorkspaceSizesBuffersForTheLargestImageSoFar() => OnFreshThread(() =>
    {
        var ws = SkimageFelzenszwalb.Workspace.Get(10_000);
        var keys = ws.Keys(39_000);
        Assert.True(keys.Length >= 4 * 12_500, $"edge keys for 10k pixels with 1.25x headroom, got {keys.Length}");
        Assert.Same(ws, SkimageFelzenszwalb.Workspace.Get(9_000));
        Assert.True(ws.KeysB(35_000).Length >= 4 * 12_500, "a buffer first asked for by a smaller image");
        Assert.Same(ws, SkimageFelzenszwalb.Workspace.Get(12_500));
        Assert.Same(keys, ws.Keys(49_000)); // within the headroom: kept
        Assert.Same(ws, SkimageFelzenszwalb.Workspace.Get(12_501));
        Assert.NotSame(keys, ws.Keys(100)); // a larger image: new buffers
        return 0;
    });

    [Fact]
    public void SocoWorkspaceHandsBackDroppedBuffersBeforeGrowing() => OnFreshThread(() =>
    {
        var old = FillSocoWorkspace(250_000); // ~40 MB of buffers
        SkimageFelzenszwalb.Workspace.Get(400_000);
        Assert.False(old.IsAlive, "the smaller image's buffers were still held after the workspace grew");
        return 0;
    });

    [Fact]
    public void OpenCvScratchHandsBackDroppedArraysBeforeGrowing() => OnFreshThread(() =>
    {
        var old = FillOpenCvScratch(250_000);
        PerThreadArrays.StartImage(250_000);
        Assert.True(old.IsAlive, "an image no larger than the last must keep the arrays");
        PerThreadArrays.StartImage(400_000);
        Assert.False(old.IsAlive, "the smaller image's arrays were still held after the scratch grew");
        return 0;
    });

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference FillSocoWorkspace(int pixels)
    {
        var ws = SkimageFelzenszwalb.Workspace.Get(pixels);
        ws.Src(3 * pixels);
        ws.KeysB(4 * pixels);
        return new WeakReference(ws.Keys(4 * pixels));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference FillOpenCvScratch(int pixels)
    {
        PerThreadArrays.StartImage(pixels);
        var scratch = PerThreadArrays.For(pixels);
        scratch.Get<ulong>("test.a", 4 * pixels);
        return new WeakReference(scratch.Get<ulong>("test.b", 4 * pixels));
    }
}
