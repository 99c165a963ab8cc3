using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Synchronous host functions are served on the thread's stack straight from the guest's host call, without
/// a trip back to the driver; everything else about host calls stays the same.</summary>
public sealed class FiberSyncHostCallTests
{
    [FiberFact]
    public async Task Synchronous_functions_run_on_the_thread_stack_while_the_fiber_stays_running()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 0);
        var observedStates = new List<FiberState>();
        var localAddresses = new List<nint>();
        Fiber? fiber = null;
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            // The driver loop marks a fiber Suspended before it runs a host function; the direct path never leaves it.
            observedStates.Add(call.Fiber.State);
            localAddresses.Add(AddressOfLocal());
            return call[0] * 7 + call[1];
        }));
        (nint Bottom, nint Top) stack = FiberPools.NextStackBounds(store);
        fiber = Fiber.Create(store, "sync", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 5, count: 20), hosts);

        long result = await fiber.RunAsync();

        Assert.Equal(Enumerable.Range(0, 20).Sum(n => 5L * 7 + n), result);
        Assert.Equal(20, observedStates.Count);
        Assert.All(observedStates, s => Assert.Equal(FiberState.Running, s));
        Assert.All(localAddresses, a => Assert.False(a >= stack.Bottom && a < stack.Top, "a host function ran on the fiber stack"));
        Assert.Equal(FiberState.Completed, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberFact]
    public async Task Synchronous_and_asynchronous_functions_mix_in_one_table()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(
            FiberHostEntry.Sync(call => call[0] + call[1] + call[2]),
            FiberHostEntry.Async(async call =>
            {
                await Task.Yield();
                return call[0] * 100;
            }));

        using Fiber viaSync = Fiber.Create(store, "sync", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 0, argumentCount: 3), hosts);
        using Fiber viaAsync = Fiber.Create(store, "async", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 1, argumentCount: 1), hosts);

        Assert.Equal(6, await viaSync.RunAsync());
        Assert.Equal(100, await viaAsync.RunAsync());
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberFact]
    public async Task An_exception_in_a_synchronous_function_unwinds_the_guest_returns_the_stack_once_and_propagates()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var failure = new InvalidOperationException("sync host failed");
        int calls = 0;
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => ++calls < 3 ? 1 : throw failure));
        Fiber fiber = Fiber.Create(store, "sync-throws", TestGuest.HonoursCancel, counters.Address, hosts);

        Exception thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => fiber.RunAsync().AsTask());

        Assert.Same(failure, thrown);
        Assert.Equal(3, counters.HostCalls);
        Assert.Equal(1, counters.CancelsSeen); // told its call was cancelled, the guest cleaned up and returned
        Assert.Equal(FiberState.Faulted, fiber.State);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Stacks.RefusedReturns);
    }

    [FiberFact]
    public async Task Compacting_collections_inside_synchronous_calls_corrupt_nothing()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 8, stackKiB: 64);
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            // Managed allocations and a full compacting collection on the thread stack, under the guest's frames.
            string text = $"{call[0]}:{call[1]}";
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            Assert.Equal($"{call[0]}:{call[1]}", text);
            return call[0] * 7 + call[1];
        }));
        var fibers = Enumerable.Range(1, 8)
            .Select(seed => Fiber.Create(store, $"gc-{seed}", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed, 10), hosts))
            .ToArray();

        long[] results = await Task.WhenAll(fibers.Select(f => f.RunAsync().AsTask()));

        for (int seed = 1; seed <= 8; seed++)
        {
            Assert.Equal(Enumerable.Range(0, 10).Sum(n => seed * 7L + n), results[seed - 1]);
        }
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    private static unsafe nint AddressOfLocal()
    {
        int local = 0;
        return (nint)(&local);
    }
}
