using System.Globalization;
using System.Text;

namespace Allocator.PeerBenchmarks.Harness;

/// <summary>The results as one markdown table (with the notes that say what exactly each row compares) and as CSV
/// for benchmarks/plot_peers.py.</summary>
internal static class ResultTable
{
    public static void Print(IReadOnlyList<InterleavedRunner.Result> results, IReadOnlyList<SkippedComparison> skipped, TextWriter output)
    {
        var notes = new List<string>();
        output.WriteLine();
        output.WriteLine("| case | ours ns/op | peer | peer ns/op | ratio (peer/ours), median [range over runs] | target | ours B/op |");
        output.WriteLine("|---|---:|---|---:|---:|---|---:|");
        foreach (InterleavedRunner.Result r in results)
        {
            string name = r.Comparison.Name;
            if (r.Comparison.Note is { } note)
            {
                notes.Add(note);
                name += $" ({notes.Count})";
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {InterleavedRunner.Median(r.OursNs):F1} | {r.Comparison.PeerName} | {InterleavedRunner.Median(r.PeerNs):F1} | {InterleavedRunner.Median(r.Ratios):F2}x [{r.Ratios.Min():F2}-{r.Ratios.Max():F2}] | {r.Comparison.Target ?? ""} | {r.OursBytesPerOp:F0} |"));
        }
        foreach (SkippedComparison s in skipped)
        {
            output.WriteLine($"| {s.Name} | | {s.PeerName} | | {s.Reason} | {s.Target ?? ""} | |");
        }
        output.WriteLine();
        for (int i = 0; i < notes.Count; i++)
        {
            output.WriteLine($"({i + 1}) {notes[i]}");
        }
    }

    public static void WriteCsv(IReadOnlyList<InterleavedRunner.Result> results, IReadOnlyList<SkippedComparison> skipped, string path)
    {
        var csv = new StringBuilder("case,peer,ours_ns,peer_ns,ratio_median,ratio_min,ratio_max,target,ours_bytes_per_op,skipped\n");
        foreach (InterleavedRunner.Result r in results)
        {
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{Quote(r.Comparison.Name)},{Quote(r.Comparison.PeerName)},{InterleavedRunner.Median(r.OursNs):F2},{InterleavedRunner.Median(r.PeerNs):F2},{InterleavedRunner.Median(r.Ratios):F4},{r.Ratios.Min():F4},{r.Ratios.Max():F4},{Quote(r.Comparison.Target ?? "")},{r.OursBytesPerOp:F1},"));
        }
        foreach (SkippedComparison s in skipped)
        {
            csv.AppendLine($"{Quote(s.Name)},{Quote(s.PeerName)},,,,,,{Quote(s.Target ?? "")},,{Quote(s.Reason)}");
        }
        File.WriteAllText(path, csv.ToString());
    }

    private static string Quote(string field) => "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
