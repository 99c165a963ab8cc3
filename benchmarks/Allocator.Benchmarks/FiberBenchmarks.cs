using Allocator.Fibers;
using Allocator.Pooling;
using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>What a fiber costs: one resume+yield round trip through the P/Invoke (with GC transition), one host call
/// through the <see cref="Fiber"/> driver, and a whole fiber's life on a pooled stack.</summary>
/// <remarks>Fibers are created through one long-lived Store that does not cache a stack, so every fiber still checks
/// its stack out of the pool and returns it there, as before the pools became internal.</remarks>
public unsafe class FiberBenchmarks
{
    private const int CallsPerFiber = 1000;
    private const long StoreId = 1;
    private static readonly StackPoolOptions s_stacks = new() { MaxStacks = 4, StackSize = 64 * 1024 };
    private StackPool _pool = null!;
    private PooledStack _stack;
    private NativeFiberContext* _suspended;
    private PoolingAllocator _allocator = null!;
    private Store<object?> _store = null!;
    private FiberHostFunctions _host = null!;
    private FiberHostFunctions _syncHost = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateStackPool(s_stacks);
        _allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = s_stacks,
            Instances = new SlotPoolOptions { MaxSlots = 1 },
            Memories = new SlotPoolOptions { MaxSlots = 1 },
            CacheStackInStore = false,
        });
        _store = new Store<object?>(_allocator, null);
        _host = new FiberHostFunctions(call => ValueTask.FromResult(1L));
        _syncHost = FiberHostFunctions.From(FiberHostEntry.Sync(call => 1L));
        // A fiber parked in an endless host-call loop: every resume runs to its next host call and comes back.
        _stack = _pool.Rent(StoreId, "bench");
        _suspended = Interop.AllocatorNative.Init(_stack.Bottom, _stack.Size, BenchGuest.HostLoop, nint.MaxValue);
        Expect(Interop.AllocatorNative.Resume(_suspended, NativeFiberResumeStatus.Result, 0), NativeFiberState.HostCall);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Expect(Interop.AllocatorNative.Resume(_suspended, NativeFiberResumeStatus.Cancel, 0), NativeFiberState.Cancelled);
        BenchPools.Return(_pool, _stack);
        _pool.Dispose();
        _store.Dispose();
        _allocator.Dispose();
    }

    [Benchmark(Baseline = true, Description = "native resume+yield round trip (P/Invoke)")]
    public int ResumeYield() => (int)Interop.AllocatorNative.Resume(_suspended, NativeFiberResumeStatus.Result, 1);

    [Benchmark(OperationsPerInvoke = CallsPerFiber, Description = "host call through Fiber.RunAsync (per call)")]
    public long HostCallThroughDriver()
    {
        using Fiber fiber = Fiber.Create(_store, "bench", BenchGuest.HostLoop, CallsPerFiber, _host);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = CallsPerFiber, Description = "host call, synchronous function on the thread stack (per call)")]
    public long SyncHostCall()
    {
        using Fiber fiber = Fiber.Create(_store, "bench", BenchGuest.HostLoop, CallsPerFiber, _syncHost);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "fiber create+run(1 host call)+dispose")]
    public long FiberLifetime()
    {
        using Fiber fiber = Fiber.Create(_store, "bench", BenchGuest.HostLoop, 1, _host);
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
