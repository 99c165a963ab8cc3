using Allocator.Fibers;
using Allocator.Pooling;
using BenchmarkDotNet.Attributes;

namespace Allocator.Benchmarks;

/// <summary>What cancellation and epoch interruption cost a guest: the poll <c>allocator_fiber_should_yield</c>
/// (against an empty call through a pointer, the same call without its load and compare), and a synchronous host call,
/// which makes the same check before every host function, with and without an armed epoch deadline.</summary>
public unsafe class CancellationBenchmarks
{
    private const int Polls = 1_000_000;
    private const int HostCalls = 1000;
    private const long StoreId = 1;
    private static readonly StackPoolOptions s_stacks = new() { MaxStacks = 4, StackSize = 64 * 1024 };
    private StackPool _pool = null!;
    private PooledStack _stack;
    private PoolingAllocator _allocator = null!;
    private Store<object?> _store = null!;
    private FiberHostFunctions _syncHost = null!;
    private FiberEpoch _epoch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateStackPool(s_stacks);
        _stack = _pool.Rent(StoreId, "bench");
        _allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = s_stacks,
            Instances = new SlotPoolOptions { MaxSlots = 1 },
            Memories = new SlotPoolOptions { MaxSlots = 1 },
            CacheStackInStore = false,
        });
        _store = new Store<object?>(_allocator, null);
        _syncHost = FiberHostFunctions.From(FiberHostEntry.Sync(call => 1L));
        _epoch = new FiberEpoch();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchPools.Return(_pool, _stack);
        _pool.Dispose();
        _store.Dispose();
        _allocator.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Polls, Description = "guest: empty call through a pointer (per call)")]
    public long EmptyCall() => RunNative(BenchGuest.EmptyCallLoop, Polls);

    [Benchmark(OperationsPerInvoke = Polls, Description = "guest: allocator_fiber_should_yield poll (per poll)")]
    public long Poll() => RunNative(BenchGuest.PollLoop, Polls);

    [Benchmark(OperationsPerInvoke = HostCalls, Description = "sync host call with the cancel check, no deadline (per call)")]
    public long SyncHostCall()
    {
        using Fiber fiber = Fiber.Create(_store, "bench", BenchGuest.HostLoop, HostCalls, _syncHost);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = HostCalls, Description = "sync host call with the cancel check and an armed deadline (per call)")]
    public long SyncHostCallWithDeadline()
    {
        using Fiber fiber = Fiber.Create(_store, "bench", BenchGuest.HostLoop, HostCalls, _syncHost);
        fiber.SetEpochDeadline(_epoch, 1_000_000);
        return fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>One fiber on the pooled stack running the loop to its end in a single resume.</summary>
    private long RunNative(nint entry, int count)
    {
        NativeFiberContext* context = Interop.AllocatorNative.Init(_stack.Bottom, _stack.Size, entry, count);
        NativeFiberState state = Interop.AllocatorNative.Resume(context, NativeFiberResumeStatus.Result, 0);
        if (state != NativeFiberState.Completed)
        {
            throw new InvalidOperationException($"fiber in state {state}, expected Completed");
        }
        return context->Value;
    }
}
