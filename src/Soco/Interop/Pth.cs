using System.Collections;
using System.IO.Compression;
using Soco.IO;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Interop;

/// <summary>
/// The one reader and writer of PyTorch <c>.pth</c> files (the zip format <c>torch.save</c> writes since PyTorch 1.6,
/// through TorchSharp.PyBridge): checkpoints, model files, exports, imported torchvision weights and feature dumps all
/// go through it, so every one of them gets the same clear errors for the files people actually have and the same
/// atomic write.
/// </summary>
public static class Pth
{
    /// <summary>Unpickles a PyTorch zip checkpoint with clear errors for the files people actually have.</summary>
    public static Hashtable Unpickle(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}");
        var head = new byte[4];
        using (var fs = File.OpenRead(path))
        {
            int n = fs.Read(head, 0, 4);
            if (n == 0) throw new InvalidDataException($"{path}: empty file (0 bytes), not a checkpoint");
        }
        bool zip = head[0] == (byte)'P' && head[1] == (byte)'K';
        bool legacyPickle = head[0] == 0x80 && head[1] is >= 2 and <= 5;
        if (legacyPickle)
            throw new InvalidDataException($"{path}: PyTorch's legacy (non-zip) checkpoint format, which cannot be read here; re-save it in Python " +
                $"with `torch.save(torch.load('{Path.GetFileName(path)}'), 'new.pth')` (the zip format is PyTorch's default since 1.6)");
        if (!zip)
            throw new InvalidDataException($"{path}: not a PyTorch checkpoint (expected a zip archive written by torch.save; the file starts with bytes {Convert.ToHexString(head)})");
        try
        {
            using var z = ZipFile.OpenRead(path);
            if (!z.Entries.Any(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)))
                throw new InvalidDataException($"{path}: a zip archive but not a PyTorch checkpoint (no data.pkl inside)");
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: truncated or damaged checkpoint ({e.Message})");
        }
        try
        {
            return PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (NotImplementedException e)
        {
            throw new InvalidDataException($"{path}: cannot be read: {e.Message}");
        }
        catch (InvalidCastException)
        {
            // The unpickler casts the top-level object to a dictionary; say what the file holds instead.
            throw new InvalidDataException($"{path}: holds {PickleTopLevel.Describe(path)}; a checkpoint is a dictionary of tensors (a state dict or a SoCo checkpoint)");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or Razorvine.Pickle.PickleException)
        {
            throw new InvalidDataException($"{path}: truncated or damaged checkpoint ({e.Message})");
        }
    }

    /// <summary>Reads a flat {name: tensor} file (a state dict, a feature dump) written by <c>torch.save</c> or by
    /// <see cref="Save"/>.</summary>
    public static Dictionary<string, Tensor> LoadTensors(string path)
    {
        var h = Unpickle(path);
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in h)
            d[e.Key as string ?? throw new InvalidDataException($"{path}: a key of the dictionary is not a string ({e.Key?.GetType().Name ?? "null"})")] =
                e.Value as Tensor ?? throw new InvalidDataException($"{path}: entry '{e.Key}' is not a tensor.");
        return d;
    }

    /// <summary>Writes a {name: tensor} dictionary that <c>torch.load</c> reads, atomically (<see cref="AtomicFile"/>);
    /// tensors are detached, moved to the CPU and made contiguous first.</summary>
    public static void Save(IReadOnlyDictionary<string, Tensor> tensors, string path)
    {
        var dict = new Hashtable();
        foreach (var (k, v) in tensors) dict[k] = v.detach().cpu().contiguous();
        Write(path, dict);
    }

    /// <summary>Writes a pickled object tree (dictionaries, lists, strings, numbers, tensors) atomically.</summary>
    public static void Write(string path, Hashtable root) => AtomicFile.Write(path, s => Write(s, root));

    /// <summary>Writes a pickled object tree into an open stream (left open).</summary>
    public static void Write(Stream stream, Hashtable root) => PyTorchPickler.PickleStateDict(stream, root, leaveOpen: true);
}
