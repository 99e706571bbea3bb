using static TorchSharp.torch;

namespace Soco.Solver;

/// <summary>
/// The optimiser as the training engine sees it (<see cref="Engine.Trainer"/>): a base learning rate the schedule sets
/// before every step, each parameter group's own rate derived from it, zero_grad, step, and a state saved and restored by
/// parameter name (so a checkpoint does not depend on parameter order and PyTorch can read it).
/// </summary>
public interface IOptimizer : IDisposable
{
    /// <summary>Base learning rate of the next <see cref="Step"/>; group g uses <c>LearningRate × LrFactor(g)</c>.</summary>
    double LearningRate { get; set; }

    /// <summary>Names of the parameter groups, in order.</summary>
    IReadOnlyList<string> GroupNames { get; }

    /// <summary>The learning rate group <paramref name="group"/> uses in the next step.</summary>
    double GroupLearningRate(int group);

    /// <summary>Zeroes every gradient in place (PyTorch's <c>zero_grad(set_to_none=False)</c>).</summary>
    void ZeroGrad();

    /// <summary>One update with the current learning rates.</summary>
    void Step();

    /// <summary>The optimiser's state (e.g. <c>momentum_buffer.&lt;parameter name&gt;</c>), copied to the CPU.</summary>
    Dictionary<string, Tensor> StateDict();

    /// <summary>Restores a state from <see cref="StateDict"/>; state for an unknown parameter or of the wrong shape is an error.</summary>
    void LoadStateDict(IReadOnlyDictionary<string, Tensor> state);
}
