using System.Security.Cryptography;
using System.Text;
using Soco.Data;
using Soco.Proposals;

namespace Soco.Training;

/// <summary>
/// What a run was trained on, recorded in <c>run.json</c> and checked on every resume: the image count and a fingerprint
/// of the image list (keys and relative paths, in the sampler's order), and the proposal store's image count and a
/// fingerprint of its contents (every key with its image size and rects). Paths are kept for messages only: the same
/// data moved elsewhere is the same data, other data under the same path is not.
/// </summary>
public sealed record DataIdentity(string Images, int ImageCount, string ImagesFingerprint, string? Proposals, int ProposalImages, string? ProposalsFingerprint)
{
    public static DataIdentity Of(string images, IImageSource source, string? proposals, IReadOnlyDictionary<string, ProposalRecord>? index)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var e in source.Entries) Add(h, $"{e.Key}\n{e.RelativePath}\n");
        string imagesFp = Hex(h.GetHashAndReset());
        string? propsFp = null;
        if (index is not null)
        {
            var keys = index.Keys.ToArray();
            Array.Sort(keys, StringComparer.Ordinal);
            Span<byte> four = stackalloc byte[16];
            foreach (var k in keys)
            {
                var r = index[k];
                Add(h, $"{k}\n{r.Width}x{r.Height}:{r.Rects.Length}\n");
                foreach (var b in r.Rects)
                {
                    BitConverter.TryWriteBytes(four, b.X);
                    BitConverter.TryWriteBytes(four[4..], b.Y);
                    BitConverter.TryWriteBytes(four[8..], b.W);
                    BitConverter.TryWriteBytes(four[12..], b.H);
                    h.AppendData(four);
                }
            }
            propsFp = Hex(h.GetHashAndReset());
        }
        return new DataIdentity(Path.GetFullPath(images), source.Entries.Count, imagesFp,
            proposals is null ? null : Path.GetFullPath(proposals), index?.Count ?? 0, propsFp);
    }

    /// <summary>What differs from <paramref name="now"/>, in words (empty when the data is the same).</summary>
    public IReadOnlyList<string> Differences(DataIdentity now)
    {
        var d = new List<string>();
        if (ImageCount != now.ImageCount || ImagesFingerprint != now.ImagesFingerprint)
            d.Add($"images: {ImageCount} (list fingerprint {ImagesFingerprint}, {Images}) in the run, now {now.ImageCount} (fingerprint {now.ImagesFingerprint}, {now.Images})");
        if (ProposalsFingerprint != now.ProposalsFingerprint)
            d.Add(ProposalsFingerprint is null ? $"proposals: none in the run, now {now.Proposals}"
                : now.ProposalsFingerprint is null ? $"proposals: {Proposals} in the run, now none"
                : $"proposals: {ProposalImages} images (store fingerprint {ProposalsFingerprint}, {Proposals}) in the run, now {now.ProposalImages} (fingerprint {now.ProposalsFingerprint}, {now.Proposals})");
        return d;
    }

    static void Add(IncrementalHash h, string s) => h.AppendData(Encoding.UTF8.GetBytes(s));

    static string Hex(byte[] hash) => Convert.ToHexString(hash, 0, 8).ToLowerInvariant();
}

/// <summary>A stretch of a run's history on one set of data, from step <see cref="FromStep"/> on.</summary>
public sealed record DataSegment(long FromStep, DataIdentity Data);
