using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Cancellation;

/// <summary>A guest looping on synchronous host calls never comes back to the driver loop; the native trampoline's
/// cancel check is what stops it, at its very next call.</summary>
public sealed class SyncHostCallCancelTests
{
    [FiberFact]
    public async Task A_sync_call_loop_cancelled_from_another_thread_stops_at_its_next_call_and_unwinds()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        long calls = 0;
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => Interlocked.Increment(ref calls)));
        Fiber fiber = Fiber.Create(store, "sync-loop", TestGuest.HonoursCancel, counters.Address, hosts);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref calls) > 10_000, CancellationAssert.Timeout), "the loop never got going");

        fiber.Cancel();
        long callsWhenCancelReturned = Volatile.Read(ref calls);

        // Cancel waited for the guest to stop: it saw HOST_CANCELLED at its next call and returned on its own stack.
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        Assert.Equal(1, counters.CancelsSeen);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(callsWhenCancelReturned, Volatile.Read(ref calls));
        Assert.Equal(callsWhenCancelReturned + 1, counters.HostCalls); // the last call was refused before any host code ran
    }

    [FiberFact]
    public async Task A_sync_call_loop_times_out_with_CancelAfter_on_the_runs_token()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        using var cts = new CancellationTokenSource();
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => 0));
        Fiber fiber = Fiber.Create(store, "sync-timeout", TestGuest.HonoursCancel, counters.Address, hosts);
        cts.CancelAfter(TimeSpan.FromMilliseconds(50));

        // The loop runs on this very thread inside RunAsync until the token's timer fires.
        OperationCanceledException cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync(cts.Token).AsTask());

        Assert.Equal(cts.Token, cancelled.CancellationToken);
        Assert.True(counters.HostCalls > 1);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task Store_dispose_stops_a_sync_call_loop_running_on_another_thread()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var store = new Store<int>(allocator, 0);
        store.CheckoutMemory();
        using var counters = new GuestCounters();
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => 0));
        Fiber fiber = Fiber.Create(store, "sync-dispose", TestGuest.HonoursCancel, counters.Address, hosts);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.HostCalls > 10_000, CancellationAssert.Timeout));

        store.Dispose();

        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(1, counters.CancelsSeen);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
    }

    [FiberFact]
    public async Task A_sync_host_function_cancelling_its_own_fiber_returns_and_the_next_call_is_refused()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        int served = 0;
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            if (++served == 3)
            {
                call.Fiber.Cancel(); // from inside its own resume: returns at once instead of waiting for itself
                Assert.True(call.CancellationToken.IsCancellationRequested);
            }
            return 0;
        }));
        Fiber fiber = Fiber.Create(store, "self-cancel-sync", TestGuest.HonoursCancel, counters.Address, hosts);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(3, served);
        Assert.Equal(4, counters.HostCalls); // the fourth call was refused before any host code ran
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }
}
