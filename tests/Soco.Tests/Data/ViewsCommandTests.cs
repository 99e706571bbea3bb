using Soco.Cli;
using Soco.Imaging;

namespace Soco.Tests.Data;

public class ViewsCommandTests
{
    [Fact]
    public void ViewsCommandWritesAPngWithEveryView()
    {
        using var dir = new TestPaths.TempDir();
        var output = dir["views.png"];
        var (rc, text) = Soco.Tests.Cli.CliRunner.Run("views", "--image", TestPaths.Photo("messi5.jpg"), "--recipe", "fpn-star", "--seed", "3", "--out", output);
        Assert.Equal(0, rc);
        var png = ImageDecoder.Decode(output);
        Assert.Equal(2 * (224 + 224 + 192 + 112) + 3 * 8, png.Width); // four views at 2×, 8 px gaps
        Assert.Contains("(whole image)", text);
        Assert.Contains("C14 (16×16", text);
    }
}
