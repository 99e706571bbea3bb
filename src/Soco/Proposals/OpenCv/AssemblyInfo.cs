using System.Runtime.CompilerServices;

// The profiling harness (bench/proposals/opencv_profile.csproj) times the internal stages.
[assembly: InternalsVisibleTo("opencv_profile")]
