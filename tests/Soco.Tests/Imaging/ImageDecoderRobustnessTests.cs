using Soco.Imaging;

namespace Soco.Tests.Imaging;

/// <summary>Damaged inputs give an image or an ImageDecodeException, never another exception or a crash.</summary>
public class ImageDecoderRobustnessTests
{
    public static TheoryData<string> Inputs()
    {
        var d = new TheoryData<string>();
        foreach (var p in DecodeFixtures.Index.EnumerateObject())
            if (p.Value.TryGetProperty("expected", out _)) d.Add(p.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void MutatedBytesNeverCrash(string name)
    {
        var data = File.ReadAllBytes(Path.Combine(DecodeFixtures.Dir, name));
        var rng = new Random(name.Length * 7919 + data.Length);
        for (int trial = 0; trial < 40; trial++)
        {
            var m = (byte[])data.Clone();
            int flips = 1 + rng.Next(8);
            for (int k = 0; k < flips; k++) m[rng.Next(m.Length)] = (byte)rng.Next(256);
            if (trial % 4 == 3) m = m[..rng.Next(1, m.Length)];
            var ex = Record.Exception(() => ImageDecoder.Decode(m, name));
            Assert.True(ex is null or ImageDecodeException, $"{name} trial {trial}: {ex}");
        }
    }
}
