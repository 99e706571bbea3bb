namespace Soco.Engine;

/// <summary>
/// A part of the training loop that is not the step itself (detectron2's <c>HookBase</c>): called before the first step,
/// before and after every step, and after the last one (also when the loop ends by an exception). Hooks run in the
/// order they were given; <see cref="IHook.AfterStep"/> sees <see cref="Trainer.Iter"/> already counting the step
/// and <see cref="Trainer.Stopping"/> set when the loop is about to stop early.
/// </summary>
public interface IHook
{
    void BeforeTrain(Trainer trainer) { }
    void AfterTrain(Trainer trainer) { }
    void BeforeStep(Trainer trainer) { }
    void AfterStep(Trainer trainer) { }
}

/// <summary>The task's part of a step (detectron2's <c>run_step</c> without the parts the engine owns).</summary>
public interface IRunStep
{
    /// <summary>Loads micro-batch <paramref name="micro"/> of the current step and returns its loss (a scalar tensor, in
    /// the step's dispose scope); the engine scales it by 1/accumulate, runs the backward and checks it is finite.</summary>
    TorchSharp.torch.Tensor Forward(Trainer trainer, int micro);

    /// <summary>After every micro-batch's backward, before the optimiser step.</summary>
    void BeforeOptimizerStep(Trainer trainer) { }
}
