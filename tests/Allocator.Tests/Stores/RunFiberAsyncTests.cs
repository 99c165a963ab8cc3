using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Stores;

/// <summary>The scoped run: <c>store.RunFiberAsync</c> has given the stack back before its task completes, however the
/// run ends, so IntoData right after it always succeeds.</summary>
public sealed class RunFiberAsyncTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [FiberFact]
    public async Task A_completed_run_returns_the_guests_value_and_the_stack()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1, cache: true);
        var store = new Store<string>(allocator, "data");
        var hosts = new FiberHostFunctions(async call =>
        {
            await Task.Delay(1);
            return call[0] + call[1];
        });

        long result = await store.RunFiberAsync("scoped", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(3, 4), hosts);

        Assert.Equal(3 + 3 + 3 + 3 + 0 + 1 + 2 + 3, result);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal("data", store.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.GetStackStatistics().TotalCheckouts);
    }

    [FiberFact]
    public async Task While_suspended_the_stack_is_out_under_its_name_and_back_when_the_task_completes()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 7);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));

        ValueTask<long> running = store.RunFiberAsync("suspended", TestGuest.CallLoop, 1, hosts);

        Assert.False(running.IsCompleted);
        Assert.Equal(1, store.StacksCheckedOut);
        StacksCheckedOutException refused = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Equal(["suspended"], refused.Owners);
        gate.SetResult(5);
        Assert.Equal(5, await running.AsTask().WaitAsync(Timeout));
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(7, store.IntoData());
    }

    [FiberFact]
    public async Task A_trap_propagates_after_the_stack_is_back()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 1);
        var hosts = new FiberHostFunctions(async _ => { await Task.Yield(); return 0; });

        FiberTrapException trap = await Assert.ThrowsAsync<FiberTrapException>(() => store.RunFiberAsync("traps", TestGuest.TrapAfterCall, 42, hosts).AsTask());

        Assert.Equal(42, trap.TrapCode);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(1, store.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_host_exception_propagates_after_the_guest_is_unwound(bool throwAfterAwait)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 1);
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

        Exception thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => store.RunFiberAsync("host-throws", TestGuest.HonoursCancel, counters.Address, hosts).AsTask());

        Assert.Same(failure, thrown);
        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(1, store.IntoData());
    }

    [FiberFact]
    public async Task Cancelled_while_suspended_unwinds_the_guest_and_returns_the_stack_when_the_host_task_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 1);
        using var counters = new GuestCounters();
        using var cts = new CancellationTokenSource();
        var hostTask = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(hostTask.Task));

        Task<long> running = store.RunFiberAsync("cancelled", TestGuest.HonoursCancel, counters.Address, hosts, cts.Token).AsTask();
        Assert.Equal(1, store.StacksCheckedOut);
        cts.Cancel();

        OperationCanceledException cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(Timeout));
        Assert.Equal(cts.Token, cancelled.CancellationToken);
        // The host task still runs and may write guest memory: the stack stays out, and IntoData refuses.
        Assert.Equal(0, counters.CancelsSeen);
        Assert.Equal(1, store.StacksCheckedOut);
        Assert.Throws<StacksCheckedOutException>(() => store.IntoData());

        hostTask.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => store.StacksCheckedOut == 0, "the deferred return");
        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(1, store.IntoData());
    }

    [FiberFact]
    public async Task An_already_cancelled_token_checks_nothing_out()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 1);
        using var counters = new GuestCounters();
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(0));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.RunFiberAsync("early", TestGuest.HonoursCancel, counters.Address, hosts, new CancellationToken(canceled: true)).AsTask());

        Assert.Equal(0, counters.HostCalls);
        Assert.Equal(0, allocator.GetStackStatistics().TotalCheckouts);
        Assert.Equal(1, store.IntoData());
    }

    [FiberFact]
    public async Task Disposing_the_store_during_the_run_ends_it_with_the_stack_back_when_the_host_task_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var store = new Store<int>(allocator, 1);
        using var counters = new GuestCounters();
        var hostTask = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(hostTask.Task));
        Task<long> running = store.RunFiberAsync("disposed", TestGuest.HonoursCancel, counters.Address, hosts).AsTask();

        store.Dispose();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(Timeout));
        Assert.Equal(1, allocator.Stacks.InUse); // the host task still runs: its memory stays with it
        hostTask.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => allocator.Stacks.InUse == 0, "the deferred return");
        Assert.Equal(1, counters.CancelsSeen);
    }

    [FiberFact]
    public async Task Bad_arguments_and_an_exhausted_pool_leave_nothing_checked_out()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 1);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(0));

        await Assert.ThrowsAsync<ArgumentNullException>(() => store.RunFiberAsync(null!, TestGuest.CallLoop, 1, hosts).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => store.RunFiberAsync("no entry", 0, 1, hosts).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => store.RunFiberAsync("no hosts", TestGuest.CallLoop, 1, null!).AsTask());
        Assert.Equal(0, store.StacksCheckedOut);

        using var other = new Store<int>(allocator, 2);
        StackToken taken = other.CheckoutStack("the only stack");
        await Assert.ThrowsAsync<PoolExhaustedException>(() => store.RunFiberAsync("exhausted", TestGuest.CallLoop, 1, hosts).AsTask());
        Assert.Equal(0, store.StacksCheckedOut);
        other.ReturnStack(taken);

        Assert.Equal(3, await store.RunFiberAsync("after", TestGuest.CallLoop, 3, new FiberHostFunctions(_ => new ValueTask<long>(1))));
        Assert.Equal(1, store.IntoData());
    }

    [FiberFact]
    public async Task A_disposed_or_consumed_store_refuses_and_the_pool_is_untouched()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(0));
        var disposed = new Store<int>(allocator, 1);
        disposed.Dispose();
        var consumed = new Store<int>(allocator, 2);
        consumed.IntoData();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => disposed.RunFiberAsync("late", TestGuest.CallLoop, 1, hosts).AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(() => consumed.RunFiberAsync("late", TestGuest.CallLoop, 1, hosts).AsTask());

        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().TotalCheckouts);
    }

    [FiberFact]
    public async Task Many_concurrent_scoped_runs_on_one_store_leave_every_stack_back()
    {
        // As many runs of one Store at once as the pool has stacks, each awaiting host calls: after each wave every
        // stack is back (the next wave would find the pool exhausted otherwise), and IntoData succeeds at the end.
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 4);
        var store = new Store<int>(allocator, 9);
        var hosts = new FiberHostFunctions(async _ => { await Task.Yield(); return 1; });
        for (int wave = 0; wave < 5; wave++)
        {
            long[] results = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => store.RunFiberAsync($"wave {wave} run {i}", TestGuest.CallLoop, 3, hosts).AsTask()));
            Assert.All(results, r => Assert.Equal(3, r));
            Assert.Equal(0, store.StacksCheckedOut);
        }
        Assert.Equal(9, store.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
    }
}
