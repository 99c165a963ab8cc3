using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>Rent+return on 1 and 2 threads at once against one pool. The reported time is per operation on each
/// thread; "no collapse" means the 2-thread time stays within a small factor of the 1-thread time.</summary>
public class ContendedStackBenchmarks
{
    private const int OperationsPerThread = 100_000;
    private StackPool _pool = null!;
    private Thread[] _workers = [];
    private Barrier _start = null!;
    private Barrier _done = null!;
    private volatile bool _stop;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new StackPool(new StackPoolOptions { MaxStacks = 16, StackSize = 64 * 1024 });
        _start = new Barrier(Threads + 1);
        _done = new Barrier(Threads + 1);
        _stop = false;
        _workers = Enumerable.Range(0, Threads).Select(_ => new Thread(Work) { IsBackground = true }).ToArray();
        foreach (Thread t in _workers)
        {
            t.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _start.SignalAndWait();
        foreach (Thread t in _workers)
        {
            t.Join();
        }
        _pool.Dispose();
    }

    [Benchmark(OperationsPerInvoke = OperationsPerThread, Description = "rent+return per thread")]
    public void RentReturn()
    {
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    private void Work()
    {
        while (true)
        {
            _start.SignalAndWait();
            if (_stop)
            {
                return;
            }
            for (int i = 0; i < OperationsPerThread; i++)
            {
                PooledStack s = _pool.Rent();
                _pool.Return(s);
            }
            _done.SignalAndWait();
        }
    }
}
