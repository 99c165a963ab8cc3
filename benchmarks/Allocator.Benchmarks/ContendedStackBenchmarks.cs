using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>Rent+return on 1 and 2 threads at once against one pool. The reported time is per operation on each
/// thread; "no collapse" means the 2-thread time stays within a small factor of the 1-thread time.</summary>
public class ContendedStackBenchmarks
{
    private const int OperationsPerThread = 100_000;
    private StackPool _pool = null!;
    private ParallelWorkers _workers = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new StackPool(new StackPoolOptions { MaxStacks = 16, StackSize = 64 * 1024 });
        _workers = new ParallelWorkers(Threads, OperationsPerThread, () => () => _pool.Return(_pool.Rent()));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _workers.Dispose();
        _pool.Dispose();
    }

    [Benchmark(OperationsPerInvoke = OperationsPerThread, Description = "stack rent+return per thread")]
    public void RentReturn() => _workers.RunOnce();
}
