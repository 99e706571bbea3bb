using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Soco.Imaging;

namespace Soco.Tests.Imaging;

/// <summary>Locates the golden fixtures written by tools/pil_decode_fixtures.py.</summary>
internal static class DecodeFixtures
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Dir => Path.Combine(RepoRoot, "tests", "fixtures", "decode");
    public static string Photos => Path.Combine(RepoRoot, "samples", "photos");

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Soco.slnx"))) return d.FullName;
        throw new InvalidOperationException("repository root (Soco.slnx) not found above " + AppContext.BaseDirectory);
    }

    public static JsonElement Index => Load("index.json");
    public static JsonElement Samples => Load("samples.json");

    private static JsonElement Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, name)));
        return doc.RootElement.Clone();
    }

    public static byte[] Expected(string file)
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(Dir, file)), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    public static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public static int MaxAbsDiff(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        int m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Number of bytes that differ.</summary>
    public static int CountDiff(byte[] a, byte[] b)
    {
        int n = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) n++;
        return n;
    }
}
