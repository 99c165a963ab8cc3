using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Cancelling, from every direction, unwinds a suspended guest before its stack goes back, exactly once.</summary>
public sealed class FiberCancellationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [FiberFact]
    public async Task Token_cancelled_during_an_awaited_host_call_unwinds_the_guest_once_the_host_task_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        using var cts = new CancellationTokenSource();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        Fiber fiber = Fiber.Create(store, "token", TestGuest.HonoursCancel, counters.Address, hosts);

        ValueTask<long> run = fiber.RunAsync(cts.Token);
        Assert.Equal(FiberState.Suspended, fiber.State);
        cts.Cancel();

        OperationCanceledException cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(Timeout));
        Assert.Equal(cts.Token, cancelled.CancellationToken);
        // The run gave up, but the host task still runs: the guest waits in its call and keeps its stack.
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(0, counters.CancelsSeen);
        Assert.Equal(1, allocator.Stacks.InUse);

        gate.SetResult(7);

        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        Assert.Equal(1, counters.HostCalls);
        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(1, allocator.DeferredReturns);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task Token_cancelled_before_the_run_never_starts_the_guest()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(0));
        Fiber fiber = Fiber.Create(store, "token-early", TestGuest.HonoursCancel, counters.Address, hosts);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync(new CancellationToken(canceled: true)).AsTask());

        Assert.Equal(0, counters.HostCalls);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task Cancel_from_outside_wakes_the_driver_and_the_host_tasks_end_unwinds_the_guest()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken seenByHost = default;
        var hosts = new FiberHostFunctions(call =>
        {
            seenByHost = call.CancellationToken;
            return new ValueTask<long>(gate.Task);
        });
        Fiber fiber = Fiber.Create(store, "cancel", TestGuest.HonoursCancel, counters.Address, hosts);
        ValueTask<long> run = fiber.RunAsync();

        fiber.Cancel();

        // Cancel returns at once; the host function's token has fired, the stack stays out while its task runs.
        Assert.True(seenByHost.IsCancellationRequested);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(Timeout));
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, store.StacksCheckedOut);
        Assert.Equal(0, counters.CancelsSeen);

        gate.SetResult(1);

        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task A_guest_that_ignores_the_cancel_is_abandoned_at_its_next_host_call()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        Fiber fiber = Fiber.Create(store, "stubborn", TestGuest.IgnoresCancel, counters.Address, hosts);
        ValueTask<long> run = fiber.RunAsync();

        fiber.Cancel();
        gate.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);

        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(2, counters.HostCalls);         // it did try again...
        Assert.Equal(0, counters.ReturnsAfterCancel); // ...and that call never returned
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(Timeout));
    }

    [FiberFact]
    public async Task Dispose_before_running_returns_the_stack_without_running_the_guest()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        Fiber fiber = Fiber.Create(store, "unused", TestGuest.HonoursCancel, counters.Address, FiberHostFunctions.Empty);

        fiber.Dispose();

        Assert.Equal(0, counters.HostCalls);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());
    }

    [FiberFact]
    public async Task Cancel_from_inside_a_host_function_unwinds_the_fiber_it_serves()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var hosts = new FiberHostFunctions(call =>
        {
            call.Fiber.Cancel();
            return new ValueTask<long>(0);
        });
        Fiber fiber = Fiber.Create(store, "self-cancel", TestGuest.HonoursCancel, counters.Address, hosts);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task Store_dispose_unwinds_suspended_fibers_once_their_host_task_ends_before_taking_their_stacks_back()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 3, cache: true);
        var store = new Store<int>(allocator, 0);
        using var first = new GuestCounters();
        using var second = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        Fiber a = Fiber.Create(store, "first", TestGuest.HonoursCancel, first.Address, hosts);
        Fiber b = Fiber.Create(store, "second", TestGuest.IgnoresCancel, second.Address, hosts);
        Fiber unstarted = Fiber.Create(store, "unstarted", TestGuest.HonoursCancel, first.Address, hosts);
        ValueTask<long> runA = a.RunAsync();
        ValueTask<long> runB = b.RunAsync();
        Assert.Equal(3, allocator.Stacks.InUse);

        store.Dispose();

        // The unstarted fiber's stack is back at once; the two waiting on the host keep theirs until its task ends.
        Assert.Equal(2, allocator.Stacks.InUse);
        Assert.Equal(0, first.CancelsSeen);
        Assert.Throws<ObjectDisposedException>(() => store.CheckoutStack("after dispose"));
        gate.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => allocator.Stacks.InUse == 0);

        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
        Assert.Equal(1, first.CancelsSeen);
        Assert.Equal(1, second.CancelsSeen);
        Assert.Equal(0, second.ReturnsAfterCancel);
        Assert.All(new[] { a, b, unstarted }, f => Assert.Equal(FiberState.Cancelled, f.State));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => runA.AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => runB.AsTask().WaitAsync(Timeout));
    }

    [FiberFact]
    public async Task Cancel_racing_a_running_driver_on_another_thread_returns_the_stack_once()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 8);
        using var store = new Store<int>(allocator, 0);
        for (int round = 0; round < 200; round++)
        {
            var hosts = new FiberHostFunctions(async _ => { await Task.Yield(); return 1; });
            Fiber fiber = Fiber.Create(store, $"race-{round}", TestGuest.CallLoop, 50, hosts);
            Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
            Thread.SpinWait(round * 50);

            fiber.Cancel();

            // Cancelling: the host task (a Task.Yield) still ran when Cancel returned; its end returns the stack.
            Assert.True(fiber.State is FiberState.Cancelled or FiberState.Completed or FiberState.Cancelling, $"round {round}: {fiber.State}");
            await CancellationAssert.EventuallyAsync(() => store.StacksCheckedOut == 0);
            try
            {
                Assert.Equal(50, await run.WaitAsync(Timeout));
                Assert.Equal(FiberState.Completed, fiber.State);
            }
            catch (OperationCanceledException)
            {
                Assert.Equal(FiberState.Cancelled, fiber.State);
            }
        }
        StackPoolStatistics stats = allocator.Stacks.GetStatistics();
        Assert.Equal(0, stats.InUse);
        Assert.Equal(0, stats.RefusedReturns);
        Assert.Equal(200, stats.TotalCheckouts);
    }
}
