using System.Diagnostics;

namespace Allocator.PeerBenchmarks.Harness;

/// <summary>Measures every case of every comparison in rounds, cases interleaved (the order rotates each round), so
/// a noisy neighbour on a shared 2-core machine hits ours and the peer alike. A run is a set of rounds; each case's
/// time in a run is its median over the rounds, and a comparison's ratio is taken within one run. Several runs give
/// the range. Before the first run, every case runs unmeasured rounds so the JIT has tiered it up, and batches are
/// sized again after them.</summary>
internal sealed class InterleavedRunner(int runs, int rounds, TimeSpan batch)
{
    private const int WarmUpRounds = 3;

    // Three rounds of a few cases (a filtered run) can take less time than the JIT needs to install its final code
    // (tier-1 compiles in the background after a quiet spell of 100 ms): whole processes then measured the fiber row at
    // 0.07-0.12x against its usual 0.35x, with batches sized for the early code. So warm up for at least this long.
    private static readonly TimeSpan MinimumWarmUp = TimeSpan.FromSeconds(1);

    public sealed record Result(Comparison Comparison, double[] OursNs, double[] PeerNs, double[] Ratios, double OursBytesPerOp);

    public List<Result> Measure(IReadOnlyList<Comparison> comparisons, TextWriter log)
    {
        BenchCase[] cases = comparisons.SelectMany(c => new[] { c.Ours, c.Peer }).Distinct().ToArray();
        var iterations = new Dictionary<BenchCase, long>();
        foreach (BenchCase benchCase in cases)
        {
            iterations[benchCase] = Calibrate(benchCase);
            log.WriteLine($"  calibrated {benchCase.Name}: {iterations[benchCase]} per batch");
        }
        long warmUpStart = Stopwatch.GetTimestamp();
        int warmUpRounds = 0;
        for (; warmUpRounds < WarmUpRounds || Stopwatch.GetElapsedTime(warmUpStart) < MinimumWarmUp; warmUpRounds++)
        {
            foreach (BenchCase benchCase in cases)
            {
                benchCase.Run(iterations[benchCase]);
            }
        }
        foreach (BenchCase benchCase in cases)
        {
            iterations[benchCase] = Calibrate(benchCase); // for the code the JIT has settled on
        }
        log.WriteLine($"  warmed up ({warmUpRounds} rounds, {Stopwatch.GetElapsedTime(warmUpStart).TotalSeconds:F1} s), batches sized again");
        var ns = cases.ToDictionary(c => c, _ => new double[runs]);
        var bytes = cases.ToDictionary(c => c, _ => new List<double>());
        for (int run = 0; run < runs; run++)
        {
            var samples = cases.ToDictionary(c => c, _ => new List<double>());
            for (int round = 0; round < rounds; round++)
            {
                for (int k = 0; k < cases.Length; k++)
                {
                    BenchCase benchCase = cases[(k + round) % cases.Length];
                    long n = iterations[benchCase];
                    long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                    double elapsedNs = Time(benchCase, n);
                    long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
                    samples[benchCase].Add(elapsedNs / n);
                    bytes[benchCase].Add((double)allocated / n);
                }
            }
            foreach (BenchCase benchCase in cases)
            {
                ns[benchCase][run] = Median(samples[benchCase]);
            }
            log.WriteLine($"  run {run + 1}/{runs} done");
        }
        return comparisons.Select(c => new Result(c, ns[c.Ours], ns[c.Peer],
            Enumerable.Range(0, runs).Select(r => ns[c.Peer][r] / ns[c.Ours][r]).ToArray(),
            Median(bytes[c.Ours]))).ToList();
    }

    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double Time(BenchCase benchCase, long n)
    {
        if (benchCase.TimedRun is { } timed)
        {
            return timed(n);
        }
        long start = Stopwatch.GetTimestamp();
        benchCase.Run(n);
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds;
    }

    /// <summary>Warms the case up, then finds how many operations fill one batch.</summary>
    private long Calibrate(BenchCase benchCase)
    {
        benchCase.Run(1);
        long n = 1;
        while (true)
        {
            double elapsedNs = Time(benchCase, n);
            if (elapsedNs >= batch.TotalNanoseconds / 2 || n >= 1L << 30)
            {
                return Math.Max(1, (long)(n * batch.TotalNanoseconds / Math.Max(elapsedNs, 1)));
            }
            n *= 2;
        }
    }
}
