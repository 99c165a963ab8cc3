using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Cancellation;

/// <summary>Epoch interruption in Wasmtime's style: the host advances a counter, each fiber has a deadline on it, and
/// a guest that polls (or calls the host) yields once the deadline has passed; the callback traps or goes on.</summary>
public sealed class EpochDeadlineTests
{
    [FiberFact]
    public async Task A_polling_guest_past_its_deadline_is_interrupted_at_that_epoch_and_unwinds()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, "poller", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 2);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.Iterations > 10_000, CancellationAssert.Timeout));

        epoch.Increment();
        Assert.True(SpinWait.SpinUntil(() => counters.Iterations > 2 * 10_000, CancellationAssert.Timeout)); // one tick short: still looping
        Assert.False(run.IsCompleted);
        epoch.Increment();

        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(2ul, interrupted.Deadline);
        Assert.Equal(2ul, interrupted.Epoch); // the epoch never moved past the deadline: interrupted at it
        Assert.Equal("poller", interrupted.FiberName);
        Assert.Equal(1, counters.CancelsSeen); // the guest's yield said so, and it returned on its own
        Assert.Equal(0, counters.YieldsContinued);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public async Task An_epoch_replaced_from_another_thread_stays_alive_while_the_running_guest_still_reads_it()
    {
        // Regression: SetEpochDeadline with another epoch while the guest ran left the native context pointing at the
        // old epoch's counter until the next resume, with nothing keeping that epoch alive: the GC could free the
        // word the guest polls.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        Fiber fiber = Fiber.Create(store, "poller", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        WeakReference first = SetDeadlineOnNewEpoch(fiber);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.Iterations > 10_000, CancellationAssert.Timeout));

        var second = new FiberEpoch();
        fiber.SetEpochDeadline(second, 1_000); // from this thread: applied at the guest's next resume
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.True(first.IsAlive, "The epoch the running guest polls was collected.");

        fiber.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
        GC.KeepAlive(second);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference SetDeadlineOnNewEpoch(Fiber fiber)
    {
        var epoch = new FiberEpoch();
        fiber.SetEpochDeadline(epoch, 1_000);
        return new WeakReference(epoch);
    }

    [FiberFact]
    public async Task A_timer_driven_epoch_interrupts_a_polling_guest_within_a_few_ticks()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, "timed", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 3);
        using var timer = new Timer(_ => epoch.Increment(), null, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));

        // The guest loops on this thread inside RunAsync; the timer thread's ticks reach it through the poll.
        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(3ul, interrupted.Deadline);
        Assert.True(interrupted.Epoch >= 3);
        Assert.True(counters.Iterations > 0);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public async Task A_sync_call_loop_past_its_deadline_is_interrupted_at_its_next_call()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var epoch = new FiberEpoch();
        long calls = 0;
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => Interlocked.Increment(ref calls)));
        Fiber fiber = Fiber.Create(store, "sync-deadline", TestGuest.HonoursCancel, counters.Address, hosts);
        fiber.SetEpochDeadline(epoch, 1);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref calls) > 10_000, CancellationAssert.Timeout));

        epoch.Increment();

        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(1ul, interrupted.Epoch);
        Assert.Equal(1, counters.CancelsSeen); // its host call returned HOST_CANCELLED instead of running
        Assert.Equal(counters.HostCalls - 1, Volatile.Read(ref calls));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public void A_yield_callback_lets_other_work_run_then_the_guest_goes_on_with_a_new_deadline()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters(stopAfterYields: 3);
        var epoch = new FiberEpoch();
        int callbacks = 0;
        Fiber fiber = Fiber.Create(store, "yielder", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 0); // already due
        fiber.SetEpochDeadlineCallback(f =>
        {
            Assert.Same(fiber, f);
            Interlocked.Increment(ref callbacks);
            return FiberDeadlineUpdate.Yield(0);
        });
        var context = new QueueingContext();
        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            ValueTask<long> run = fiber.RunAsync();

            // The deadline made the driver yield: RunAsync returned with its continuation queued behind other work.
            Assert.False(run.IsCompleted);
            Assert.Equal(1, callbacks);
            Assert.Equal(0, counters.YieldsContinued);
            Assert.Equal(FiberState.Suspended, fiber.State);
            int otherWork = 0;
            context.Post(_ => otherWork++, null);
            int pumped = context.RunUntil(() => run.IsCompleted);

            Assert.Equal(3, run.AsTask().GetAwaiter().GetResult());
            Assert.Equal(1, otherWork);
            Assert.Equal(3, pumped - 1); // one queued continuation per yield, besides the other work
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
        Assert.Equal(3, Volatile.Read(ref callbacks));
        Assert.Equal(3, counters.YieldsContinued);
        Assert.Equal(0, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public async Task A_continue_callback_extends_the_deadline_and_the_guest_keeps_running()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters(stopAfterYields: 4);
        var epoch = new FiberEpoch();
        var deadlines = new List<ulong>();
        Fiber fiber = Fiber.Create(store, "continuer", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 1);
        fiber.SetEpochDeadlineCallback(_ =>
        {
            lock (deadlines)
            {
                deadlines.Add(epoch.Current);
            }
            return FiberDeadlineUpdate.Continue(1);
        });
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());

        while (!run.IsCompleted)
        {
            epoch.Increment();
            await Task.Delay(1);
        }

        Assert.Equal(4, await run);
        Assert.Equal(4, deadlines.Count);
        Assert.Equal(deadlines.Order(), deadlines); // each time at a later epoch: the deadline moved on
        Assert.Equal(deadlines.Count, deadlines.Distinct().Count());
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public async Task A_throwing_callback_unwinds_the_guest_and_its_exception_is_rethrown()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var epoch = new FiberEpoch();
        var failure = new InvalidOperationException("policy failed");
        Fiber fiber = Fiber.Create(store, "bad-policy", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 0);
        fiber.SetEpochDeadlineCallback(_ => throw failure);

        Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(() => fiber.RunAsync().AsTask()));

        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberFact]
    public async Task Cancel_reaches_a_polling_guest_that_never_calls_the_host()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        Fiber fiber = Fiber.Create(store, "spinner", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.Iterations > 10_000, CancellationAssert.Timeout));

        fiber.Cancel();

        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        Assert.Equal(1, counters.CancelsSeen);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
    }

    [FiberFact]
    public async Task A_polling_guest_times_out_with_CancelAfter_on_the_runs_token()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Fiber fiber = Fiber.Create(store, "timeout", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);

        OperationCanceledException cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync(cts.Token).AsTask());

        Assert.Equal(cts.Token, cancelled.CancellationToken);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task A_fiber_without_a_deadline_never_yields_at_its_polls()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "no-deadline", TestGuest.PollOnly, 100_000, FiberHostFunctions.Empty);

        Assert.Equal(0, await fiber.RunAsync());
    }
}
