namespace Soco.Imaging;

/// <summary>The EXIF orientation transforms, as PIL's <c>ImageOps.exif_transpose</c> applies them.</summary>
public static class ExifOrientation
{
    /// <summary>
    /// Returns the upright image for EXIF orientation <paramref name="orientation"/> (1…8; 1 and unknown values
    /// return the input): 2 flip left-right, 3 rotate 180°, 4 flip top-bottom, 5 transpose, 6 rotate 90° clockwise,
    /// 7 transverse, 8 rotate 90° counter-clockwise.
    /// </summary>
    public static RgbImage Apply(RgbImage src, int orientation)
    {
        if (orientation is < 2 or > 8) return src;
        int w = src.Width, h = src.Height;
        bool swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        var dst = new RgbImage(ow, oh);
        var s = src.Pixels;
        var d = dst.Pixels;
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                (int sx, int sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x), // 8
                };
                int si = (sy * w + sx) * 3, di = (y * ow + x) * 3;
                d[di] = s[si];
                d[di + 1] = s[si + 1];
                d[di + 2] = s[si + 2];
            }
        }
        return dst;
    }
}
