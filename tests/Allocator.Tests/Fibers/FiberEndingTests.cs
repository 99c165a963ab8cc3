using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Every way a fiber can end returns its stack through the Store's token exactly once.</summary>
/// <remarks>The allocators here do not cache a stack in the Store, so the pool's own counters show each return;
/// a refused (double) return would show in <see cref="StackPoolStatistics.RefusedReturns"/>.</remarks>
public sealed class FiberEndingTests
{
    [FiberFact]
    public async Task Completion_returns_the_stack_once()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var hosts = new FiberHostFunctions(async _ => { await Task.Yield(); return 2; });
        Fiber fiber = Fiber.Create(store, "completes", TestGuest.CallLoop, 5, hosts);
        Assert.Equal(1, allocator.Stacks.InUse);

        Assert.Equal(10, await fiber.RunAsync());

        AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public async Task A_trap_returns_the_stack_once_and_reports_the_guests_code()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var hosts = new FiberHostFunctions(async _ => { await Task.Yield(); return 0; });
        Fiber fiber = Fiber.Create(store, "traps", TestGuest.TrapAfterCall, 42, hosts);

        FiberTrapException trap = await Assert.ThrowsAsync<FiberTrapException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(42, trap.TrapCode);
        Assert.Equal("traps", trap.FiberName);
        AssertReturnedOnce(allocator, store, fiber, FiberState.Trapped);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_host_exception_unwinds_the_guest_returns_the_stack_once_and_propagates(bool throwAfterAwait)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var failure = new InvalidOperationException("host failed");
        var hosts = new FiberHostFunctions(async _ =>
        {
            if (throwAfterAwait)
            {
                await Task.Yield();
            }
            throw failure;
        });
        Fiber fiber = Fiber.Create(store, "host-throws", TestGuest.HonoursCancel, counters.Address, hosts);

        Exception thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => fiber.RunAsync().AsTask());

        Assert.Same(failure, thrown);
        Assert.Equal(1, counters.CancelsSeen); // the guest was resumed once more to clean up, then returned
        AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberTheory]
    [InlineData(5, 0)]
    [InlineData(0, FiberHostCall.MaxArguments + 1)]
    public async Task An_invalid_host_call_unwinds_the_guest_and_returns_the_stack_once(int function, int argumentCount)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(0));
        Fiber fiber = Fiber.Create(store, "bad-call", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function, argumentCount), hosts);

        FiberHostCallException bad = await Assert.ThrowsAsync<FiberHostCallException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(function, bad.Function);
        Assert.Equal(argumentCount, bad.ArgumentCount);
        AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberFact]
    public async Task Ending_again_changes_nothing()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "ends-once", TestGuest.CallLoop, 0, FiberHostFunctions.Empty);
        await fiber.RunAsync();

        fiber.Cancel();
        fiber.Dispose();
        FiberPools.Holder(fiber).ReleaseStack();
        store.Dispose();

        AssertReturnedOnce<int>(allocator, store: null, fiber, FiberState.Completed);
    }

    internal static void AssertReturnedOnce<T>(PoolingAllocator allocator, Store<T>? store, Fiber fiber, FiberState finalState)
    {
        Assert.Equal(finalState, fiber.State);
        if (store is not null)
        {
            Assert.Equal(0, store.StacksCheckedOut);
        }
        StackPoolStatistics stats = allocator.Stacks.GetStatistics();
        Assert.Equal(0, stats.InUse);
        Assert.Equal(0, stats.RefusedReturns);
    }
}
