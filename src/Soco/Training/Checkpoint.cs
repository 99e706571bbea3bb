using System.Collections;
using System.Text;
using System.Text.Json;
using Soco.IO;
using Soco.Modeling;
using Soco.Solver;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Training;

/// <summary>Where a checkpoint stands: optimiser steps done, and the loader position the next step starts at.</summary>
public sealed record CheckpointMeta
{
    public int Format { get; init; } = 1;
    /// <summary>Optimiser steps done (the next step is iteration <c>Step</c>, 0-based, of the schedule).</summary>
    public long Step { get; init; }
    /// <summary>Epoch (0-based) and loader batch of the next step.</summary>
    public int Epoch { get; init; }
    public int Batch { get; init; }
    public long TotalSteps { get; init; }
    /// <summary>EMA updates done (equals <see cref="Step"/>: one per optimiser step).</summary>
    public long EmaStep { get; init; }
    /// <summary>Learning rate of the last step done.</summary>
    public double Lr { get; init; }
    public double Loss { get; init; }
    public string Model { get; init; } = "";
    public string Config { get; init; } = "";
    public DateTime SavedUtc { get; init; }
}

/// <summary>A loaded checkpoint: its metadata and tensors (model, optimiser, RNG). Dispose to free the tensors.</summary>
public sealed class Checkpoint : IDisposable
{
    public const string ModelPrefix = "model.";
    public const string OptimizerPrefix = "optimizer.";
    public const string RngKey = "rng.torch";
    public const string MetaKey = "meta_json";

    public required string Path { get; init; }
    public required CheckpointMeta Meta { get; init; }
    public required Dictionary<string, Tensor> Tensors { get; init; }

    public Dictionary<string, Tensor> Section(string prefix) =>
        Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    /// <summary>Model, optimiser and RNG state as one flat {name: tensor} dictionary (what is saved).</summary>
    public static Dictionary<string, Tensor> Capture(SocoModel model, Lars optimizer, CheckpointMeta meta)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in model.state_dict()) d[ModelPrefix + k] = v.detach().cpu();
        foreach (var (k, v) in optimizer.StateDict()) d[OptimizerPrefix + k] = v;
        d[RngKey] = torch.random.get_rng_state();
        d[MetaKey] = torch.tensor(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(meta, PretrainConfigs.Json)));
        return d;
    }

    /// <summary>Restores model (strict: every key), optimiser and the torch RNG.</summary>
    public void Restore(SocoModel model, Lars optimizer)
    {
        var sd = Section(ModelPrefix);
        var expected = model.state_dict().Keys.ToHashSet();
        var missing = expected.Where(k => !sd.ContainsKey(k)).ToList();
        var extra = sd.Keys.Where(k => !expected.Contains(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidDataException($"checkpoint {Path} does not fit this model ({Meta.Model} in the checkpoint): " +
                (missing.Count > 0 ? $"missing {missing.Count} tensors (e.g. {missing[0]})" : "") + (extra.Count > 0 ? $" {extra.Count} unexpected (e.g. {extra[0]})" : ""));
        model.load_state_dict(sd, strict: true);
        optimizer.LoadStateDict(Section(OptimizerPrefix));
        if (Tensors.TryGetValue(RngKey, out var rng)) torch.random.set_rng_state(rng);
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>
/// The checkpoints of a run folder: rolling <c>ckpt_step_NNNNNNNN.pth</c> (the newest <see cref="KeepLast"/> kept) and
/// kept <c>ckpt_epoch_E.pth</c>. Each is one PyTorch-readable {name: tensor} file (<c>torch.load</c> gives the model's
/// state dict under <c>model.</c>, momentum buffers under <c>optimizer.momentum_buffer.</c>, the torch RNG state and the
/// metadata as UTF-8 JSON bytes under <c>meta_json</c>), written atomically: temporary file, fsync, rename. A run killed
/// mid-write leaves only a temporary file, which is ignored and removed.
/// </summary>
public sealed class CheckpointStore
{
    public const string Folder = "checkpoints";

    public CheckpointStore(string runDirectory, int keepLast)
    {
        RunDirectory = runDirectory;
        Directory = System.IO.Path.Combine(runDirectory, Folder);
        KeepLast = Math.Max(1, keepLast);
    }

    /// <summary>The run folder (as given) that holds <see cref="Directory"/>.</summary>
    public string RunDirectory { get; }

    public string Directory { get; }
    public int KeepLast { get; }

    /// <summary>Test hook: wraps the stream a checkpoint is written to (e.g. to simulate a full disk).</summary>
    public Func<Stream, Stream>? WrapStream { get; init; }

    /// <summary>Rolling checkpoints of steps up to this one belong to an earlier part of the run's history (other data,
    /// <c>--allow-data-change</c>; this is the step it resumed from): rotation never deletes them.</summary>
    public long KeepUpToStep { get; init; }

    /// <summary>Where unreadable checkpoints are moved by <c>--restart</c> (kept, never deleted).</summary>
    public const string UnreadableFolder = "unreadable";

    public static string StepName(long step) => $"ckpt_step_{step:D8}.pth";
    public static string EpochName(int epoch) => $"ckpt_epoch_{epoch}.pth";

    /// <summary>Checkpoint files, the most recently written first.</summary>
    public IReadOnlyList<string> Files()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        return System.IO.Directory.GetFiles(Directory, "ckpt_*.pth").Where(f => !AtomicFile.IsTemp(f))
            .OrderByDescending(File.GetLastWriteTimeUtc).ThenByDescending(f => f, StringComparer.Ordinal).ToList();
    }

    public bool Any() => Files().Count > 0;

    /// <summary>Writes a checkpoint atomically; rolling ones beyond <see cref="KeepLast"/> are removed after the write
    /// succeeded. Returns the path.</summary>
    public string Save(Dictionary<string, Tensor> tensors, long step, int? epoch)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string path = System.IO.Path.Combine(Directory, epoch is int e ? EpochName(e) : StepName(step));
        var dict = new Hashtable();
        foreach (var (k, v) in tensors) dict[k] = v.contiguous();
        AtomicFile.Write(path, s =>
        {
            var target = WrapStream?.Invoke(s) ?? s;
            Pth.Write(target, dict);
            target.Flush();
        });
        if (epoch is null) Prune(step);
        return path;
    }

    /// <summary>The step of a rolling checkpoint's file name, or null.</summary>
    public static long? StepOf(string path)
    {
        string n = System.IO.Path.GetFileName(path);
        return n.StartsWith("ckpt_step_", StringComparison.Ordinal) && n.EndsWith(".pth", StringComparison.Ordinal) &&
               long.TryParse(n["ckpt_step_".Length..^4], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long s) ? s : null;
    }

    /// <summary>
    /// Keeps the newest <see cref="KeepLast"/> rolling checkpoints of this stretch of the run, up to the one just written.
    /// Never deleted: checkpoints of later steps (another history, e.g. after resuming from an older checkpoint by hand)
    /// and of steps up to <see cref="KeepUpToStep"/> (an earlier stretch on other data).
    /// </summary>
    void Prune(long savedStep)
    {
        var rolling = System.IO.Directory.GetFiles(Directory, "ckpt_step_*.pth").Where(f => !AtomicFile.IsTemp(f))
            .Select(f => (Path: f, Step: StepOf(f))).Where(x => x.Step is long s && s <= savedStep && s > KeepUpToStep)
            .OrderByDescending(x => x.Step).ToList();
        foreach (var (f, _) in rolling.Skip(KeepLast))
            try { File.Delete(f); } catch (IOException) { }
    }

    /// <summary>
    /// The newest checkpoint that loads, and every newer one that does not (path and reason). The caller decides what an
    /// unreadable one means; nothing is moved or deleted here.
    /// </summary>
    public (Checkpoint? Latest, List<(string Path, string Reason)> Unreadable) LoadNewestReadable()
    {
        var bad = new List<(string, string)>();
        foreach (var f in Files())
        {
            try
            {
                return (Load(f), bad);
            }
            catch (InvalidDataException e)
            {
                bad.Add((f, e.Message));
            }
        }
        return (null, bad);
    }

    /// <summary>
    /// The checkpoint a run continues from — the rule `soco pretrain` and `soco finetune` share: <paramref name="from"/>
    /// (<c>--resume PATH</c>) if given; otherwise the newest readable one of this store (left-over temporaries removed).
    /// Newer unreadable ones stop the run with a message saying what to do, unless <paramref name="restart"/>
    /// (<c>--restart</c>) moves them to <c>checkpoints/unreadable/</c> (a note each). None found is a fresh start, or an
    /// error when <paramref name="requireCheckpoint"/> (a bare <c>--resume</c>).
    /// </summary>
    public Checkpoint? OpenResume(string? from, bool restart, bool requireCheckpoint, List<string> notes)
    {
        Checkpoint? resume;
        if (from is not null)
        {
            if (!File.Exists(from)) throw new FileNotFoundException($"checkpoint to resume from not found: {from}");
            resume = Load(from);
        }
        else
        {
            RemoveTemporaries();
            var (latest, unreadable) = LoadNewestReadable();
            if (unreadable.Count > 0)
            {
                if (!restart)
                {
                    latest?.Dispose();
                    throw new InvalidDataException($"{unreadable.Count} checkpoint(s) of {RunDirectory} cannot be read: " +
                        string.Join("; ", unreadable.Select(u => u.Reason)) + ". Nothing was changed. " +
                        (latest is null ? "No readable checkpoint is left. " : $"The newest readable one is {latest.Path} (step {latest.Meta.Step}). ") +
                        "Rerun with --restart to move the unreadable ones to " + System.IO.Path.Combine(Directory, UnreadableFolder) +
                        " (kept, not deleted) and continue from " + (latest is null ? "step 0" : $"step {latest.Meta.Step}") + ".");
                }
                foreach (var u in unreadable) notes.Add($"--restart: moved the unreadable checkpoint {u.Path} to {MoveAside(u.Path)}");
            }
            resume = latest;
        }
        if (resume is null && requireCheckpoint)
            throw new ArgumentException($"--resume: {RunDirectory} holds no checkpoint to resume from");
        return resume;
    }

    /// <summary>Moves every checkpoint into the subfolder <paramref name="name"/> (made unique), where neither rotation nor a
    /// later save of the same name can touch them; returns the folder.</summary>
    public string MoveHistoryAside(string name)
    {
        string dir = System.IO.Path.Combine(Directory, name);
        for (int k = 1; System.IO.Directory.Exists(dir); k++) dir = System.IO.Path.Combine(Directory, $"{name}.{k}");
        System.IO.Directory.CreateDirectory(dir);
        foreach (var f in Files()) File.Move(f, System.IO.Path.Combine(dir, System.IO.Path.GetFileName(f)));
        return dir;
    }

    /// <summary>Moves a checkpoint into <c>checkpoints/unreadable/</c> (never over another file); returns where it went.</summary>
    public string MoveAside(string path)
    {
        string dir = System.IO.Path.Combine(Directory, UnreadableFolder);
        System.IO.Directory.CreateDirectory(dir);
        string target = System.IO.Path.Combine(dir, System.IO.Path.GetFileName(path));
        for (int k = 1; File.Exists(target); k++)
            target = System.IO.Path.Combine(dir, $"{System.IO.Path.GetFileNameWithoutExtension(path)}.{k}{System.IO.Path.GetExtension(path)}");
        File.Move(path, target);
        return target;
    }

    /// <summary>Removes temporary files a killed writer left.</summary>
    public void RemoveTemporaries()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var f in System.IO.Directory.GetFiles(Directory))
            if (AtomicFile.IsTemp(f))
                try { File.Delete(f); } catch (IOException) { }
    }

    /// <summary>Reads one checkpoint (throws <see cref="InvalidDataException"/> when it is not one of ours or is damaged).</summary>
    public static Checkpoint Load(string path)
    {
        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = Pth.LoadTensors(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"checkpoint {path} cannot be read ({e.Message})", e);
        }
        if (!tensors.TryGetValue(Checkpoint.MetaKey, out var metaT))
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new InvalidDataException($"{path} is not a SoCo.NET pretraining checkpoint (no {Checkpoint.MetaKey})");
        }
        var meta = JsonSerializer.Deserialize<CheckpointMeta>(metaT.data<byte>().ToArray(), PretrainConfigs.Json)
            ?? throw new InvalidDataException($"{path}: empty metadata");
        return new Checkpoint { Path = path, Meta = meta, Tensors = tensors };
    }

    /// <summary>The newest checkpoint that loads (files in order of writing: steps only grow within a run); damaged
    /// ones are reported through <paramref name="warn"/> and skipped. Null when there is none.</summary>
    public Checkpoint? LoadLatest(Action<string>? warn = null)
    {
        foreach (var f in Files())
        {
            try
            {
                return Load(f);
            }
            catch (InvalidDataException e)
            {
                warn?.Invoke($"{e.Message}; trying the previous one");
            }
        }
        return null;
    }
}
