namespace Soco.Engine;

/// <summary>
/// The named scalars of the step being run (detectron2's <c>EventStorage</c>, one iteration deep): the run_step, the
/// trainer and hooks put values (loss, lr, timings, task-specific terms); the writer hooks read them after the step.
/// A name put twice in a step keeps its first position and the last value. Cleared when the next step starts.
/// </summary>
public sealed class EventStorage
{
    readonly List<(string Name, double Value)> _scalars = [];

    /// <summary>The 0-based iteration of the current step (the number of steps done before it).</summary>
    public long Iteration { get; private set; }

    /// <summary>The scalars of the current step in the order they were first put.</summary>
    public IReadOnlyList<(string Name, double Value)> Scalars => _scalars;

    public void Put(string name, double value)
    {
        for (int i = 0; i < _scalars.Count; i++)
            if (_scalars[i].Name == name) { _scalars[i] = (name, value); return; }
        _scalars.Add((name, value));
    }

    public double? Get(string name)
    {
        foreach (var (n, v) in _scalars)
            if (n == name) return v;
        return null;
    }

    public double this[string name] => Get(name) ?? throw new KeyNotFoundException($"no scalar '{name}' in step {Iteration + 1} (have: {string.Join(", ", _scalars.Select(s => s.Name))})");

    internal void BeginStep(long iteration)
    {
        Iteration = iteration;
        _scalars.Clear();
    }
}
