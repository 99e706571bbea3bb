using System.IO.Compression;
using System.Text.Json;
using Soco.Imaging;

namespace Soco.Tests.Data;

/// <summary>
/// Colour ops against torchvision 0.14 / Pillow 9.4 on fixed parameters (tools/torchvision_color_fixtures.py): ours
/// (<see cref="ColorOps"/>, SIMD paths included) and the scalar oracle the fast-path tests compare them with
/// (<see cref="Soco.Tests.Imaging.Reference.ColorOpsReference"/>), so that oracle is itself proven bit-exact with PIL.
/// </summary>
public class ViewsColorTests
{
    static byte[] Gunzip(string file)
    {
        using var fs = File.OpenRead(TestPaths.Fixture("views", "color", file));
        using var z = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        z.CopyTo(ms);
        return ms.ToArray();
    }

    public static TheoryData<string, bool> Sources()
    {
        var d = new TheoryData<string, bool>();
        foreach (var n in new[] { "fruits", "baboon", "chelsea", "tiny", "line" })
            foreach (bool reference in new[] { false, true }) d.Add(n, reference);
        return d;
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void EveryOpMatchesTorchvisionOnPil(string name, bool scalarReference)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("views", "color", "index.json")));
        var src = doc.RootElement.GetProperty("sources").EnumerateArray().First(s => s.GetProperty("name").GetString() == name);
        int w = src.GetProperty("width").GetInt32(), h = src.GetProperty("height").GetInt32();
        var input = Gunzip($"src_{name}.rgb.gz");
        var outputs = Gunzip($"out_{name}.bin.gz");
        int offset = 0, bytes = w * h * 3;
        var failures = new List<string>();
        double maxFloatDiff = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string op = c.GetProperty("op").GetString()!;
            double param = c.GetProperty("param").GetDouble();
            var img = new RgbImage(w, h, (byte[])input.Clone());
            if (op == "normalize")
            {
                var t = new float[3 * w * h];
                if (scalarReference) Soco.Tests.Imaging.Reference.ColorOpsReference.ToNormalizedTensor(img, t);
                else ColorOps.ToNormalizedTensor(img, t);
                for (int i = 0; i < t.Length; i++)
                {
                    float e = BitConverter.ToSingle(outputs, offset + 4 * i);
                    maxFloatDiff = Math.Max(maxFloatDiff, Math.Abs(e - t[i]));
                }
                offset += 4 * t.Length;
                continue;
            }
            if (scalarReference) ApplyReference(op, param, img);
            else switch (op)
            {
                case "brightness": ColorOps.AdjustBrightness(img, param); break;
                case "contrast": ColorOps.AdjustContrast(img, param); break;
                case "saturation": ColorOps.AdjustSaturation(img, param); break;
                case "hue": ColorOps.AdjustHue(img, param); break;
                case "grayscale": ColorOps.Grayscale(img); break;
                case "blur": ColorOps.GaussianBlur(img, param); break;
                case "solarize": ColorOps.Solarize(img, (int)param); break;
                case "flip": ColorOps.FlipHorizontal(img); break;
                default: throw new InvalidOperationException(op);
            }
            int diff = 0, maxAbs = 0;
            for (int i = 0; i < bytes; i++)
            {
                int d = Math.Abs(img.Pixels[i] - outputs[offset + i]);
                if (d != 0) diff++;
                maxAbs = Math.Max(maxAbs, d);
            }
            if (diff > 0) failures.Add($"{op}({param}): {diff} bytes differ, max {maxAbs}");
            offset += bytes;
        }
        Assert.Equal(outputs.Length, offset);
        Assert.Empty(failures);
        Assert.True(maxFloatDiff == 0, $"normalize differs by {maxFloatDiff}"); // float32 ops in torch order: bit-exact
    }

    static void ApplyReference(string op, double param, RgbImage img)
    {
        switch (op)
        {
            case "brightness": Soco.Tests.Imaging.Reference.ColorOpsReference.AdjustBrightness(img, param); break;
            case "contrast": Soco.Tests.Imaging.Reference.ColorOpsReference.AdjustContrast(img, param); break;
            case "saturation": Soco.Tests.Imaging.Reference.ColorOpsReference.AdjustSaturation(img, param); break;
            case "hue": Soco.Tests.Imaging.Reference.ColorOpsReference.AdjustHue(img, param); break;
            case "grayscale": Soco.Tests.Imaging.Reference.ColorOpsReference.Grayscale(img); break;
            case "blur": Soco.Tests.Imaging.Reference.ColorOpsReference.GaussianBlur(img, param); break;
            case "solarize": Soco.Tests.Imaging.Reference.ColorOpsReference.Solarize(img, (int)param); break;
            case "flip": Soco.Tests.Imaging.Reference.ColorOpsReference.FlipHorizontal(img); break;
            default: throw new InvalidOperationException(op);
        }
    }
}
