using System.Text;

namespace Soco.Cli;

/// <summary>
/// The output of a data-parallel rank other than 0: its error and warning lines go to the process's standard error
/// prefixed with the rank (mpirun and srun interleave every rank's output); everything else — progress, notes, the
/// summary rank 0 also prints — is dropped.
/// </summary>
public sealed class RankMessages(int rank) : TextWriter
{
    readonly StringBuilder _line = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_line)
        {
            if (value != '\n') { _line.Append(value); return; }
            string line = _line.ToString().TrimEnd('\r');
            _line.Clear();
            if (line.StartsWith("error:", StringComparison.Ordinal) || line.StartsWith("warning:", StringComparison.Ordinal))
                Console.Error.WriteLine($"rank {rank}: {line}");
        }
    }
}
