using System.Globalization;
using System.Xml.Linq;

namespace Soco.Data.Voc;

/// <summary>A ground-truth box as the file gives it: PASCAL VOC's xmin, ymin, xmax, ymax and the <c>difficult</c> flag.</summary>
public sealed record GroundTruthBox(string Label, double X1, double Y1, double X2, double Y2, bool Difficult = false);

/// <summary>One PASCAL VOC annotation file.</summary>
public sealed record VocAnnotation(string FileName, int Width, int Height, IReadOnlyList<GroundTruthBox> Boxes)
{
    /// <summary>Reads a VOC XML file; clear errors for a missing file or a box without coordinates.</summary>
    public static VocAnnotation Read(string xmlPath)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(xmlPath);
        }
        catch (System.Xml.XmlException e)
        {
            throw new FormatException($"{xmlPath}: not a valid VOC annotation ({e.Message})");
        }
        var root = doc.Root ?? throw new FormatException($"{xmlPath}: empty annotation");
        string file = root.Element("filename")?.Value ?? throw new FormatException($"{xmlPath}: no <filename>");
        int Int(string name) => int.TryParse(root.Element("size")?.Element(name)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : 0;
        var boxes = new List<GroundTruthBox>();
        foreach (var o in root.Elements("object"))
        {
            var b = o.Element("bndbox") ?? throw new FormatException($"{xmlPath}: an <object> has no <bndbox>");
            double C(string n) => double.TryParse(b.Element(n)?.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                ? v : throw new FormatException($"{xmlPath}: <bndbox> lacks a numeric <{n}>");
            boxes.Add(new GroundTruthBox(o.Element("name")?.Value ?? "?", C("xmin"), C("ymin"), C("xmax"), C("ymax"), o.Element("difficult")?.Value.Trim() == "1"));
        }
        return new VocAnnotation(file, Int("width"), Int("height"), boxes);
    }
}
