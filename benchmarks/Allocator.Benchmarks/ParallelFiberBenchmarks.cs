using Allocator.Fibers;
using Allocator.Pooling;
using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>Resume+yield round trips on 1 and 2 threads at once, each thread driving its own fiber on a stack from one
/// shared pool. Time is per round trip on each thread.</summary>
public unsafe class ParallelFiberBenchmarks
{
    private const int RoundTripsPerThread = 100_000;
    private const long StoreId = 1;
    private StackPool _pool = null!;
    private ParallelWorkers _workers = null!;
    private readonly List<(PooledStack Stack, nint Context)> _fibers = new();

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateStackPool(new StackPoolOptions { MaxStacks = 4, StackSize = 64 * 1024 });
        _workers = new ParallelWorkers(Threads, RoundTripsPerThread, () =>
        {
            PooledStack stack = _pool.Rent(StoreId, "bench");
            NativeFiberContext* context = Interop.AllocatorNative.Init(stack.Bottom, stack.Size, BenchGuest.HostLoop, nint.MaxValue);
            Interop.AllocatorNative.Resume(context, NativeFiberResumeStatus.Result, 0);
            lock (_fibers)
            {
                _fibers.Add((stack, (nint)context));
            }
            return () => Interop.AllocatorNative.Resume(context, NativeFiberResumeStatus.Result, 1);
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _workers.Dispose();
        foreach ((PooledStack stack, nint context) in _fibers)
        {
            Interop.AllocatorNative.Resume((NativeFiberContext*)context, NativeFiberResumeStatus.Cancel, 0);
            BenchPools.Return(_pool, stack);
        }
        _fibers.Clear();
        _pool.Dispose();
    }

    [Benchmark(OperationsPerInvoke = RoundTripsPerThread, Description = "resume+yield per thread")]
    public void ResumeYield() => _workers.RunOnce();
}
