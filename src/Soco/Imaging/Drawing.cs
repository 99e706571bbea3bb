using SkiaSharp;
using Soco.IO;

namespace Soco.Imaging;

/// <summary>A box to draw: pixel rectangle [X1, X2] × [Y1, Y2] (inclusive), colour, stroke width and optional label.</summary>
public readonly record struct DrawBox(float X1, float Y1, float X2, float Y2, SKColor Color, float Stroke = 2, string? Label = null);

/// <summary>Renders images with boxes to PNG (for `soco proposals show` and `soco views`).</summary>
public static class Drawing
{
    public static SKBitmap ToBitmap(RgbImage image)
    {
        var bmp = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var px = new byte[image.Width * image.Height * 4];
        var src = image.Pixels;
        for (int i = 0, j = 0; i < src.Length; i += 3, j += 4)
        {
            px[j] = src[i];
            px[j + 1] = src[i + 1];
            px[j + 2] = src[i + 2];
            px[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(px, 0, bmp.GetPixels(), px.Length);
        return bmp;
    }

    /// <summary>Draws <paramref name="boxes"/> (in order, later on top) on a copy of the image, with an optional caption bar.</summary>
    public static SKBitmap Render(RgbImage image, IEnumerable<DrawBox> boxes, string? caption = null)
    {
        using var photo = ToBitmap(image);
        int bar = caption is null ? 0 : 22;
        var canvasBmp = new SKBitmap(new SKImageInfo(image.Width, image.Height + bar, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(canvasBmp);
        canvas.Clear(SKColors.Black);
        canvas.DrawBitmap(photo, 0, bar);
        using var font = new SKFont(SKTypeface.Default, 13);
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        if (caption is not null) canvas.DrawText(caption, 4, 16, font, text);
        foreach (var b in boxes)
        {
            using var p = new SKPaint { Color = b.Color, Style = SKPaintStyle.Stroke, StrokeWidth = b.Stroke, IsAntialias = false };
            canvas.DrawRect(SKRect.Create(b.X1, b.Y1 + bar, b.X2 - b.X1 + 1, b.Y2 - b.Y1 + 1), p);
            if (b.Label is not null)
            {
                using var lp = new SKPaint { Color = b.Color, IsAntialias = true };
                canvas.DrawText(b.Label, b.X1 + 3, b.Y1 + bar + 13, font, lp);
            }
        }
        canvas.Flush();
        return canvasBmp;
    }

    /// <summary>Encodes a bitmap as PNG at <paramref name="path"/>, atomically.</summary>
    public static void SavePng(SKBitmap bitmap, string path)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new IOException($"could not encode PNG for {path}");
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }
}
