namespace Soco.Tests;

/// <summary>Locations of the repository's samples and fixtures, found from the test binary upwards.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Samples => Path.Combine(RepoRoot, "samples");
    public static string Photos => Path.Combine(RepoRoot, "samples", "photos");
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>The VOC-style sample photos the detector tests train on, and their COCO ground truth.</summary>
    public static string VocImages => Path.Combine(Samples, "voc", "JPEGImages");
    public static string VocGt => Fixture("detection", "detcli", "voc_gt.json");
    /// <summary>The labelme photos' instance masks (COCO polygons) on <see cref="VocImages"/>.</summary>
    public static string MaskGt => Fixture("detection", "masks", "labelme_instances.json");

    /// <summary>One line per record of a run's JSONL metrics file: the raw JSON of <paramref name="keys"/>, so
    /// bit-identical numbers print identically.</summary>
    public static List<string> MetricLines(string file, params string[] keys) =>
        File.ReadLines(file).Select(l =>
        {
            using var d = System.Text.Json.JsonDocument.Parse(l);
            return string.Join(" ", keys.Select(k => d.RootElement.GetProperty(k).GetRawText()));
        }).ToList();

    public static string Photo(string name) => Path.Combine(Photos, name);
    public static string Fixture(params string[] parts) => Path.Combine([Fixtures, .. parts]);

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Soco.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (Soco.slnx) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A fresh temporary folder, removed when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir() => System.IO.Directory.CreateDirectory(Path);
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "soco-test-" + Guid.NewGuid().ToString("N")[..10]);
        public string this[string name] => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { System.IO.Directory.Delete(Path, true); } catch (IOException) { }
        }
    }
}
