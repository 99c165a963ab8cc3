using System.Globalization;
using Allocator.PeerBenchmarks.Cases;
using Allocator.PeerBenchmarks.Harness;

// Side-by-side peer benchmarks: one process, cases interleaved, ratios within a run, the range over runs.
// Usage: dotnet run -c Release --project benchmarks/Allocator.PeerBenchmarks -- [--runs 3] [--rounds 11] [--batch-ms 20] [--filter text]
int runs = 3, rounds = 11, batchMs = 20;
string? filter = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--batch-ms": batchMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--filter": filter = args[++i]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

using var images = new ImageCases();
List<Comparison> comparisons = images.Comparisons()
    .Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase))
    .ToList();
Console.WriteLine($"{comparisons.Count} comparisons, {runs} runs of {rounds} interleaved rounds, {batchMs} ms batches, {Environment.ProcessorCount} cores");
var runner = new InterleavedRunner(runs, rounds, TimeSpan.FromMilliseconds(batchMs));
List<InterleavedRunner.Result> results = runner.Measure(comparisons, Console.Out);

Console.WriteLine();
Console.WriteLine("| case | ours ns/op | peer | peer ns/op | ratio (peer/ours), median [range over runs] | target | ours B/op |");
Console.WriteLine("|---|---:|---|---:|---:|---|---:|");
foreach (InterleavedRunner.Result r in results)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Comparison.Name} | {InterleavedRunner.Median(r.OursNs):F0} | {r.Comparison.PeerName} | {InterleavedRunner.Median(r.PeerNs):F0} | {InterleavedRunner.Median(r.Ratios):F2}x [{r.Ratios.Min():F2}-{r.Ratios.Max():F2}] | {r.Comparison.Target ?? ""} | {r.OursBytesPerOp:F0} |"));
}
return 0;
