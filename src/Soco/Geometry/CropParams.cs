using Soco.Data;

namespace Soco.Geometry;

/// <summary>
/// SoCo's crop parameter tuple <c>(i, j, h, w, H, W)</c> (docs/soco-reference.md §0): top row <see cref="I"/>, left column
/// <see cref="J"/>, crop size <see cref="H"/>×<see cref="W"/> in original pixels, original image size
/// <see cref="ImageH"/>×<see cref="ImageW"/>. The crop covers columns j…j+w−1 and rows i…i+h−1.
/// </summary>
public readonly record struct CropParams(int I, int J, int H, int W, int ImageH, int ImageW)
{
    /// <summary>The crop rectangle in original-image coordinates, <c>[j, i, j+w−1, i+h−1]</c> (docs/soco-reference.md §4.2).</summary>
    public Box Rect => new(J, I, J + W - 1, I + H - 1, 0);

    /// <summary><c>WholeImageResizedParams</c>: <c>(0, 0, H, W, H, W)</c> (docs/soco-reference.md §4.1).</summary>
    public static CropParams Whole(int imageW, int imageH) => new(0, 0, imageH, imageW, imageH, imageW);

    /// <summary>
    /// torchvision 0.7 <c>RandomResizedCrop.get_params</c> (docs/soco-reference.md §4.1): up to 10 attempts of area' = U(scale)·H·W,
    /// log r = U(log ratio), w = round(√(area'·r)), h = round(√(area'/r)) (Python rounding: half to even), accepted if
    /// 0 &lt; w ≤ W and 0 &lt; h ≤ H, then i = randint[0, H−h], j = randint[0, W−w]; else a central crop clamped to
    /// the ratio range.
    /// </summary>
    public static CropParams RandomResized(SampleRandom rng, int imageW, int imageH,
        double scaleMin, double scaleMax, double ratioMin = 3.0 / 4, double ratioMax = 4.0 / 3)
    {
        double area = (double)imageH * imageW;
        double logMin = Math.Log(ratioMin), logMax = Math.Log(ratioMax);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = rng.Uniform(scaleMin, scaleMax) * area;
            double aspect = Math.Exp(rng.Uniform(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(targetArea * aspect), MidpointRounding.ToEven);
            int h = (int)Math.Round(Math.Sqrt(targetArea / aspect), MidpointRounding.ToEven);
            if (w > 0 && w <= imageW && h > 0 && h <= imageH)
            {
                int i = rng.RandInt(0, imageH - h);
                int j = rng.RandInt(0, imageW - w);
                return new CropParams(i, j, h, w, imageH, imageW);
            }
        }
        return CentralFallback(imageW, imageH, ratioMin, ratioMax);
    }

    /// <summary>torchvision 0.7's fallback: the whole image, or its centre clamped to the ratio range.</summary>
    public static CropParams CentralFallback(int imageW, int imageH, double ratioMin = 3.0 / 4, double ratioMax = 4.0 / 3)
    {
        double inRatio = (double)imageW / imageH;
        int cw, ch;
        if (inRatio < Math.Min(ratioMin, ratioMax))
        {
            cw = imageW;
            ch = (int)Math.Round(cw / Math.Min(ratioMin, ratioMax), MidpointRounding.ToEven);
        }
        else if (inRatio > Math.Max(ratioMin, ratioMax))
        {
            ch = imageH;
            cw = (int)Math.Round(ch * Math.Max(ratioMin, ratioMax), MidpointRounding.ToEven);
        }
        else
        {
            cw = imageW;
            ch = imageH;
        }
        // A 1-pixel-wide image can round to 0; keep at least one pixel so the crop is an image.
        cw = Math.Clamp(cw, 1, imageW);
        ch = Math.Clamp(ch, 1, imageH);
        return new CropParams((imageH - ch) / 2, (imageW - cw) / 2, ch, cw, imageH, imageW);
    }

    public override string ToString() => $"(i={I}, j={J}, h={H}, w={W}, H={ImageH}, W={ImageW})";
}
