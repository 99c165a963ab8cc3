using Allocator.Pooling;
using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>Rent+return on 1 and 2 threads at once against one pool, next to a control of the same length that
/// shares nothing. Time is per operation on each thread. The control shows how much two threads slow each other on
/// this machine without any sharing (a 2-core VM may not give two full cores); the pool's ratio to it is the cost of
/// contention. "No collapse" means that ratio stays small at 2 threads.</summary>
public class ContendedStackBenchmarks
{
    private const int OperationsPerThread = 100_000;
    private const long StoreId = 1;
    private StackPool _pool = null!;
    private ParallelWorkers _poolWorkers = null!;
    private ParallelWorkers _controlWorkers = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateStackPool(new StackPoolOptions { MaxStacks = 16, StackSize = 64 * 1024 });
        _poolWorkers = new ParallelWorkers(Threads, OperationsPerThread, () => () => BenchPools.Return(_pool, _pool.Rent(StoreId, "bench")));
        _controlWorkers = new ParallelWorkers(Threads, OperationsPerThread, () =>
        {
            ulong state = 0x9E3779B97F4A7C15;
            return () =>
            {
                // Thread-local xorshift rounds, about as long as an uncontended rent+return.
                for (int i = 0; i < 24; i++)
                {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                }
                if (state == 0)
                {
                    throw new InvalidOperationException("unreachable: keeps the loop from being optimised away");
                }
            };
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _poolWorkers.Dispose();
        _controlWorkers.Dispose();
        _pool.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = OperationsPerThread, Description = "control: thread-local work per thread")]
    public void Control() => _controlWorkers.RunOnce();

    [Benchmark(OperationsPerInvoke = OperationsPerThread, Description = "stack rent+return per thread")]
    public void RentReturn() => _poolWorkers.RunOnce();
}
