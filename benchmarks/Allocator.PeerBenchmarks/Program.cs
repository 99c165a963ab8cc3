using System.Globalization;
using System.Runtime.CompilerServices;
using Allocator.PeerBenchmarks.Cases;
using Allocator.PeerBenchmarks.Harness;

// Side-by-side peer benchmarks: one process, cases interleaved, ratios within a run, the range over runs.
// Usage: dotnet run -c Release --project benchmarks/Allocator.PeerBenchmarks --
//            [--runs 7] [--rounds 21] [--batch-ms 20] [--filter text] [--list] [--csv path]
// or, compiled as embedders ship it (native AOT): dotnet publish benchmarks/Allocator.PeerBenchmarks -c Release
//            -r linux-x64 -p:PublishAot=true -o artifacts/peers-aot, then artifacts/peers-aot/Allocator.PeerBenchmarks.
int runs = 7, rounds = 21, batchMs = 20;
string? filter = null, csvPath = null;
bool list = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--batch-ms": batchMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--filter": filter = args[++i]; break;
        case "--csv": csvPath = args[++i]; break;
        case "--list": list = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

bool Selected(string name) => filter is null || name.Contains(filter, StringComparison.OrdinalIgnoreCase);

ICaseSet[] sets = [new RequestCases(), new HostCallCases(), new SwitchCases(), new StackCases(), new FiberLifetimeCases(), new ParallelCases(), new ImageCases()];
try
{
    List<Comparison> comparisons = sets.SelectMany(s => s.Comparisons()).Where(c => Selected(c.Name)).ToList();
    List<SkippedComparison> skipped = sets.SelectMany(s => s.Skipped()).Where(c => Selected(c.Name)).ToList();
    if (list)
    {
        foreach (Comparison c in comparisons)
        {
            Console.WriteLine($"{c.Name}\n    {c.Ours.Name}\n    {c.Peer.Name}");
        }
        foreach (SkippedComparison c in skipped)
        {
            Console.WriteLine($"{c.Name}\n    {c.Reason}");
        }
        return 0;
    }

    string compiled = RuntimeFeature.IsDynamicCodeCompiled ? "JIT" : "native AOT";
    Console.WriteLine($"{comparisons.Count} comparisons, {runs} runs of {rounds} interleaved rounds, {batchMs} ms batches, {Environment.ProcessorCount} cores, {compiled}");
    var runner = new InterleavedRunner(runs, rounds, TimeSpan.FromMilliseconds(batchMs));
    List<InterleavedRunner.Result> results = runner.Measure(comparisons, Console.Out);
    ResultTable.Print(results, skipped, Console.Out);
    if (csvPath is not null)
    {
        ResultTable.WriteCsv(results, skipped, csvPath);
        Console.WriteLine($"wrote {csvPath}");
    }
    return 0;
}
finally
{
    foreach (ICaseSet set in sets)
    {
        set.Dispose();
    }
}
