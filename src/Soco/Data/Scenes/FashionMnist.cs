using System.IO.Compression;

namespace Soco.Data.Scenes;

/// <summary>
/// Fashion-MNIST read from its standard IDX files (Debian's <c>dataset-fashion-mnist</c> installs them, gzipped, in
/// <c>/usr/share/datasets/fashion-mnist/</c>): 60,000 training and 10,000 test items, 28×28 grey, labels 0–9
/// (docs/transfer-benchmark.md §Data). Both the gzipped and the plain file names are accepted.
/// </summary>
public sealed class FashionMnist
{
    public const int Side = 28;
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";
    public const string InstallHint = "apt-get install dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist/";

    /// <summary>Zalando's class names, label 0–9.</summary>
    public static readonly string[] ClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    FashionMnist(byte[] pixels, byte[] labels, string images)
    {
        Pixels = pixels;
        Labels = labels;
        ImagesFile = images;
    }

    /// <summary>Item i's 784 grey values are <c>Pixels[i·784 .. (i+1)·784)</c>, row-major.</summary>
    public byte[] Pixels { get; }
    public byte[] Labels { get; }
    public string ImagesFile { get; }
    public int Count => Labels.Length;

    public ReadOnlySpan<byte> Item(int i) => Pixels.AsSpan(i * Side * Side, Side * Side);

    /// <summary>Parts already read in this process (the files are read-only data of 30 MB gzipped: read once), by
    /// (full path of the images file, its size and time) so a replaced file is read again.</summary>
    static readonly Dictionary<(string, long, DateTime), FashionMnist> Cache = [];

    /// <summary>The training (<c>train-*</c>) or test (<c>t10k-*</c>) part of the dataset in <paramref name="folder"/>.</summary>
    public static FashionMnist Load(string folder, bool test)
    {
        string prefix0 = test ? "t10k" : "train";
        var file = new FileInfo(Find(folder, $"{prefix0}-images-idx3-ubyte"));
        var key = (file.FullName, file.Length, file.LastWriteTimeUtc);
        lock (Cache)
        {
            if (Cache.TryGetValue(key, out var hit)) return hit;
            return Cache[key] = Read(folder, test);
        }
    }

    static FashionMnist Read(string folder, bool test)
    {
        string prefix = test ? "t10k" : "train";
        string images = Find(folder, $"{prefix}-images-idx3-ubyte"), labels = Find(folder, $"{prefix}-labels-idx1-ubyte");
        var px = ReadIdx(images, 3, out var dims);
        var lb = ReadIdx(labels, 1, out var ldims);
        if (dims[1] != Side || dims[2] != Side)
            throw new InvalidDataException($"{images}: items are {dims[1]}×{dims[2]}, Fashion-MNIST's are {Side}×{Side}");
        if (dims[0] != ldims[0])
            throw new InvalidDataException($"{images} holds {dims[0]} items but {labels} {ldims[0]} labels");
        if (lb.FirstOrDefault(l => l > 9) is var bad && bad > 9)
            throw new InvalidDataException($"{labels}: label {bad} is outside 0–9");
        return new FashionMnist(px, lb, images);
    }

    static string Find(string folder, string name)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Fashion-MNIST folder {folder} not found ({InstallHint})");
        foreach (var candidate in new[] { name + ".gz", name })
        {
            string p = Path.Combine(folder, candidate);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"{Path.Combine(folder, name)}[.gz] not found: the folder must hold Fashion-MNIST's IDX files ({InstallHint})");
    }

    /// <summary>An IDX file (big-endian header: 0, 0, type 0x08 = unsigned byte, rank; then the sizes; then the data).</summary>
    static byte[] ReadIdx(string path, int rank, out int[] dims)
    {
        byte[] raw;
        try
        {
            using var file = File.OpenRead(path);
            using Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            raw = ms.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: not a readable gzip file ({e.Message})");
        }
        if (raw.Length < 4 + 4 * rank || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08 || raw[3] != rank)
            throw new InvalidDataException($"{path}: not an IDX file of unsigned bytes with {rank} dimension(s)");
        dims = new int[rank];
        long total = 1;
        for (int d = 0; d < rank; d++)
        {
            int o = 4 + 4 * d;
            dims[d] = (raw[o] << 24) | (raw[o + 1] << 16) | (raw[o + 2] << 8) | raw[o + 3];
            total *= dims[d];
        }
        int header = 4 + 4 * rank;
        if (raw.Length - header != total)
            throw new InvalidDataException($"{path}: the header announces {total} bytes of data, the file holds {raw.Length - header} (truncated?)");
        return raw.AsSpan(header).ToArray();
    }
}
