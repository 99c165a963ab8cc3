using Allocator.Fibers;
using Allocator.Native.Fibers;
using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>What a fiber costs: one resume+yield round trip through the P/Invoke (with GC transition), one host call
/// through the <see cref="Fiber"/> driver, and a whole fiber's life on a pooled stack.</summary>
public unsafe class FiberBenchmarks
{
    private const int CallsPerFiber = 1000;
    private StackPool _pool = null!;
    private PooledStack _stack;
    private NativeFiberContext* _suspended;
    private FiberHostFunctions _host = null!;
    private FiberHostFunctions _syncHost = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new StackPool(new StackPoolOptions { MaxStacks = 4, StackSize = 64 * 1024 });
        _host = new FiberHostFunctions(call => ValueTask.FromResult(1L));
        _syncHost = FiberHostFunctions.From(FiberHostEntry.Sync(call => 1L));
        // A fiber parked in an endless host-call loop: every resume runs to its next host call and comes back.
        _stack = _pool.Rent();
        _suspended = NativeFiber.Init(_stack.Bottom, _stack.Size, BenchGuest.HostLoop, nint.MaxValue);
        Expect(NativeFiber.Resume(_suspended, NativeFiberResumeStatus.Result, 0), NativeFiberState.HostCall);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Expect(NativeFiber.Resume(_suspended, NativeFiberResumeStatus.Cancel, 0), NativeFiberState.Cancelled);
        _pool.Return(_stack);
        _pool.Dispose();
    }

    [Benchmark(Baseline = true, Description = "native resume+yield round trip (P/Invoke)")]
    public int ResumeYield() => (int)NativeFiber.Resume(_suspended, NativeFiberResumeStatus.Result, 1);

    [Benchmark(OperationsPerInvoke = CallsPerFiber, Description = "host call through Fiber.RunAsync (per call)")]
    public long HostCallThroughDriver()
    {
        using Fiber fiber = Fiber.Create(_pool, "bench", BenchGuest.HostLoop, CallsPerFiber, _host);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = CallsPerFiber, Description = "host call, synchronous function on the thread stack (per call)")]
    public long SyncHostCall()
    {
        using Fiber fiber = Fiber.Create(_pool, "bench", BenchGuest.HostLoop, CallsPerFiber, _syncHost);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "fiber create+run(1 host call)+dispose")]
    public long FiberLifetime()
    {
        using Fiber fiber = Fiber.Create(_pool, "bench", BenchGuest.HostLoop, 1, _host);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    private static void Expect(NativeFiberState actual, NativeFiberState expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"fiber in state {actual}, expected {expected}");
        }
    }
}
