// Torch tests share one collection that never runs in parallel with itself (OpenMP spins under contention).
namespace Soco.Tests;

[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection { }
