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
        var t = new Thread(() => result = f());
        t.Start();
        t.Join();
        return result;
    }

    private static void AssertReuseIsInvisible(Func<RgbImage, ProposalRect[]> search)
    {
        var freshLarge = OnFreshThread(() => search(Large));
        var freshSmall = OnFreshThread(() => search(Small));
        var sequence = OnFreshThread(() => new[] { search(Large), search(Small), search(Large), search(Small) });
        Assert.NotEmpty(freshLarge);
        Assert.NotEmpty(freshSmall);
        Assert.Equal(freshLarge, sequence[0]);
        Assert.Equal(freshSmall, sequence[1]);
        Assert.Equal(freshLarge, sequence[2]);
        Assert.Equal(freshSmall, sequence[3]);
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
}
