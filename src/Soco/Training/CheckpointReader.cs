using System.Collections;
using System.IO.Compression;
using Razorvine.Pickle.Objects;
using Soco.Modeling;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Soco.Training;

/// <summary>A model's weights read from a file, with what the file said about it.</summary>
/// <param name="State">Official names (encoder.*, neck.*, head.*, projector.*, predictor.*, *_k.*), plus <c>ema_step</c>.</param>
/// <param name="Layout">"official" (main_pretrain.py's ckpt_epoch_*.pth) or "soco.net".</param>
public sealed record LoadedModel(SocoArch Arch, SocoConfig Config, Dictionary<string, Tensor> State, string Source, string Layout,
    long? Epoch, IReadOnlyDictionary<string, string> Notes)
{
    /// <summary>Builds the model and loads the weights (strict: every parameter and buffer must be present).</summary>
    public SocoModel CreateModel(SocoConfig? overrides = null)
    {
        var model = SocoArchitecture.Create(Arch, overrides ?? Config);
        var expected = model.state_dict().Keys.ToHashSet();
        var missing = expected.Where(k => !State.ContainsKey(k)).ToArray();
        var unexpected = State.Keys.Where(k => !expected.Contains(k)).ToArray();
        if (missing.Length > 0 || unexpected.Length > 0)
            throw new InvalidDataException($"{Source}: weights do not fit a {SocoArchitecture.Name(Arch)} model" +
                (missing.Length > 0 ? $"; missing {missing.Length} (e.g. {string.Join(", ", missing.Take(3))})" : "") +
                (unexpected.Length > 0 ? $"; unexpected {unexpected.Length} (e.g. {string.Join(", ", unexpected.Take(3))})" : ""));
        var actual = model.state_dict();
        foreach (var (k, t) in State)
            if (!actual[k].shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"{Source}: '{k}' has shape [{string.Join(", ", t.shape)}], the model expects [{string.Join(", ", actual[k].shape)}]");
        model.load_state_dict(State, strict: true);
        return model;
    }
}

/// <summary>
/// Reads SoCo weights: the official checkpoint layout (<c>{"opt", "model": {"module.*": ...}, "optimizer",
/// "scheduler", "epoch"}</c>, docs/soco-reference.md §6.1) and our own model files (<see cref="ModelFile"/>). Every failure is a clear
/// message saying what the file is and what was expected.
/// </summary>
public static class CheckpointReader
{
    /// <summary>Keys of the official checkpoints that no model of ours has: the C4 model's unused MoCo queue (§5.7).</summary>
    static readonly HashSet<string> UnusedOfficialKeys = ["queue", "queue_ptr"];

    public static LoadedModel Read(string path, SocoArch? hint = null)
    {
        if (Directory.Exists(path))
        {
            // A pretraining run folder: its newest readable checkpoint.
            var store = new Soco.Training.CheckpointStore(path, keepLast: int.MaxValue);
            using var latest = store.LoadLatest()
                ?? throw new InvalidDataException($"{path}: a folder without a readable checkpoint (expected a pretraining run folder with checkpoints/ckpt_*.pth)");
            path = latest.Path;
        }
        return Read(path, Pth.Unpickle(path), hint);
    }

    /// <summary>The model in an already unpickled file (<see cref="Unpickle"/>), for callers that look at it first.</summary>
    public static LoadedModel Read(string path, Hashtable root, SocoArch? hint = null)
    {
        if (root[Soco.Training.Checkpoint.MetaKey] is Tensor)
        {
            // Our pretraining checkpoint: {"model.*", "optimizer.*", "rng.torch", "meta_json"}.
            using var ck = Soco.Training.CheckpointStore.Load(path);
            var state = ck.Section(Soco.Training.Checkpoint.ModelPrefix).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            var arch = SocoArchitecture.Parse(ck.Meta.Model);
            if (hint is not null && hint != arch)
                throw new InvalidDataException($"{path}: the checkpoint is a {SocoArchitecture.Name(arch)} model, not {SocoArchitecture.Name(hint.Value)}");
            var (_, config) = SocoArchitecture.Infer(state, path, arch);
            return new LoadedModel(arch, config with { TotalSteps = Math.Max(1, ck.Meta.TotalSteps) }, state, path, "soco.net pretraining",
                ck.Meta.Epoch, new Dictionary<string, string> { ["step"] = ck.Meta.Step.ToString(), ["loss"] = ck.Meta.Loss.ToString("G6") });
        }
        if (root["soco_net"] is IDictionary meta && root["model"] is IDictionary ours)
        {
            string kind = ModelFile.KindOf(meta);
            if (kind == DetectorModelFile.Kind)
                throw new InvalidDataException($"{path}: a detector model file, not a SoCo pretraining model; use it with `soco detect` or `soco evaluate --checkpoint`");
            if (kind != ModelFile.PretrainingKind) throw new InvalidDataException(ModelFile.UnknownKindMessage(path, kind));
            var arch = SocoArchitecture.Parse((string)meta["arch"]!);
            if (hint is not null && hint != arch)
                throw new InvalidDataException($"{path}: the model file holds a {SocoArchitecture.Name(arch)} model, not {SocoArchitecture.Name(hint.Value)}");
            var state = Tensors(ours, path, stripModule: false);
            var (_, config) = SocoArchitecture.Infer(state, path, arch);
            if (meta["config"] is string json) config = ModelFile.ConfigFromJson(json, config);
            return new LoadedModel(arch, config, state, path, "soco.net", meta["epoch"] is int e ? e : null, new Dictionary<string, string>());
        }
        if (root["model"] is IDictionary official)
        {
            var notes = new Dictionary<string, string>();
            SocoArch? fromOpt = null;
            if (root["opt"] is ClassDict opt)
            {
                foreach (var kv in opt) if (kv.Key != "__class__") notes[kv.Key] = Convert.ToString(kv.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                if (notes.TryGetValue("model", out var m))
                    fromOpt = SocoArchitecture.Kinds.FirstOrDefault(k => k.OfficialName == m)?.Arch
                        ?? throw new InvalidDataException($"{path}: the checkpoint's model is '{m}', not one of {string.Join(", ", SocoArchitecture.Kinds.Select(k => k.OfficialName).OfType<string>())}");
            }
            if (hint is not null && fromOpt is not null && hint != fromOpt)
                throw new InvalidDataException($"{path}: the checkpoint is a {SocoArchitecture.Name(fromOpt.Value)} model, not {SocoArchitecture.Name(hint.Value)}");
            var state = Tensors(official, path, stripModule: true);
            foreach (var k in UnusedOfficialKeys) state.Remove(k);
            var (arch, config) = SocoArchitecture.Infer(state, path, hint ?? fromOpt);
            // The official code does not save the EMA counter (docs/soco-reference.md §6.1, a bug); the scheduler's iteration count is
            // the number of updates done, so that is what the counter resumes from.
            long k0 = root["scheduler"] is IDictionary s && s["last_epoch"] is int le ? le : 0;
            state["ema_step"] = tensor(k0);
            notes["ema_step"] = k0 + " (from the scheduler's iteration count: the official checkpoint does not store it)";
            return new LoadedModel(arch, config, state, path, "official", root["epoch"] is int ep ? ep : null, notes);
        }
        if (TorchvisionDetectorState.Recognises(root))
            throw new InvalidDataException($"{path}: a torchvision detector state_dict, not a SoCo checkpoint; `soco import --from {path}` turns it into a detector model file");
        var flat = Tensors(root, path, stripModule: true);
        if (flat.ContainsKey("conv1.weight") && flat.Keys.Any(k => k.StartsWith("layer1.", StringComparison.Ordinal)))
            throw new InvalidDataException($"{path}: this is a plain ResNet state dict (torchvision names: conv1, layer1..4), not a SoCo checkpoint; " +
                "SoCo checkpoints hold encoder.*, projector.* and predictor.* (and neck.*, head.* for FPN models)");
        var (a, c) = SocoArchitecture.Infer(flat, path, hint);
        if (!flat.ContainsKey("ema_step")) flat["ema_step"] = tensor(0L);
        return new LoadedModel(a, c, flat, path, "state-dict", null, new Dictionary<string, string>());
    }

    static Dictionary<string, Tensor> Tensors(IDictionary d, string path, bool stripModule)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in d)
        {
            if (e.Key is not string k || e.Value is not Tensor t) continue;
            if (stripModule && k.StartsWith("module.", StringComparison.Ordinal)) k = k["module.".Length..];
            result[k] = t;
        }
        if (result.Count == 0) throw new InvalidDataException($"{path}: holds no tensors");
        return result;
    }
}
