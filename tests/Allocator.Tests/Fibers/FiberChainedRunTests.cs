using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A run that had to wait is its driver's value task, and the host task's end goes on with the run itself,
/// with no async state machine in between (FiberDriver.ContinueRun). These pin what the async method gave for free and
/// the chain must keep: the result is read once and the driver is not reused before that read, the completer's
/// execution context is given back, a cancel ends the wait at once without running the awaiter inline, a yield after
/// a wait still lets other work run, and a run's token is let go before its end is published.</summary>
public sealed class FiberChainedRunTests
{
    private static readonly AsyncLocal<string?> s_ambient = new();

    [FiberFact]
    public void A_waited_run_keeps_its_driver_until_its_result_is_read_and_a_stale_read_is_refused()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 3);
        using var store = new Store<int>(allocator, 0);
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        var host = new FiberHostFunctions(source.Answer);
        Fiber first = Fiber.Create(store, "first", TestGuest.CallLoop, 2, host);
        FiberDriver driver = first.Driver!;
        ValueTask<long> run = first.RunAsync();
        while (!run.IsCompleted)
        {
            Assert.True(source.TryComplete());
        }

        // Ended, but nobody has read the result: the driver must not serve another fiber yet, or the next run's
        // result (or its reset) would reach this awaiter.
        first.Dispose();
        using Fiber second = Fiber.Create(store, "second", TestGuest.CallLoop, 1, host);
        Assert.NotSame(driver, second.Driver);

        Assert.Equal(1 + 2, run.Result);
        first.Dispose(); // now it may move on: this thread's next fiber takes it
        Assert.Null(first.Driver);
        using Fiber third = Fiber.Create(store, "third", TestGuest.CallLoop, 2, host);
        Assert.Same(driver, third.Driver);

        source.Restart();
        ValueTask<long> next = third.RunAsync();
        Assert.True(source.TryComplete());
        // The first run's value task is spent: reading it again is refused, and leaves the next run alone.
        Assert.Throws<InvalidOperationException>(() => run.Result);
        Assert.False(next.IsCompleted);
        Assert.True(source.TryComplete());
        Assert.Equal(1 + 2, next.Result);
        Assert.Equal(FiberState.Completed, third.State);
    }

    [FiberFact]
    public void The_thread_that_ends_a_wait_gets_its_own_execution_context_back()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var seen = new List<string?>();
        TaskCompletionSource<long>? gate = null;
        using Fiber fiber = Fiber.Create(store, "ambient", TestGuest.CallLoop, 2, new FiberHostFunctions(_ =>
        {
            seen.Add(s_ambient.Value);
            s_ambient.Value = "host"; // inside the run: must not leak to the thread that goes on with it
            gate = new TaskCompletionSource<long>();
            return new ValueTask<long>(gate.Task);
        }));
        s_ambient.Value = "run";

        ValueTask<long> run = fiber.RunAsync();
        Assert.Equal("run", s_ambient.Value);
        var after = new List<string?>();
        for (int i = 1; i <= 2; i++)
        {
            TaskCompletionSource<long> waiting = gate!;
            var completer = new Thread(() =>
            {
                s_ambient.Value = "completer";
                waiting.SetResult(i); // the run goes on inline, here
                after.Add(s_ambient.Value);
            });
            completer.Start();
            completer.Join();
        }

        Assert.Equal(1 + 2, run.Result);
        // The host's change made before the first wait is the run's context from then on, as in an async method.
        Assert.Equal(new[] { "run", "host" }, seen);
        Assert.Equal(new[] { "completer", "completer" }, after);
    }

    [FiberFact]
    public void Cancel_ends_the_wait_of_a_run_without_a_token_at_once_and_runs_no_awaiter_inline()
    {
        // Without the runner's context: with it, the awaiter below would be queued to it whatever the driver does.
        using var noContext = new NoSynchronizationContext();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>();
        using var counters = new GuestCounters();
        Fiber fiber = Fiber.Create(store, "cancelled-waiting", TestGuest.HonoursCancel, counters.Address,
            new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = fiber.RunAsync();
        Assert.False(run.IsCompleted);
        int cancelling = Environment.CurrentManagedThreadId;
        int continuedOn = 0;
        using var continued = new ManualResetEventSlim();
        run.GetAwaiter().UnsafeOnCompleted(() =>
        {
            continuedOn = Environment.CurrentManagedThreadId;
            continued.Set();
        });

        fiber.Cancel();

        Assert.True(run.IsCompleted, "the run still waits for its host task after Cancel returned");
        // Inline, it would have run on this thread, inside Cancel; queued, another thread runs it while this one waits.
        Assert.True(continued.Wait(CancellationAssert.Timeout));
        Assert.NotEqual(cancelling, continuedOn);
        Assert.Throws<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        // The host task still holds the fiber: the stack stays out until it ends.
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, allocator.Stacks.InUse);
        gate.SetResult(7); // its end unwinds the guest, maybe on the thread pool (a Task under this test's context)
        Assert.True(SpinWait.SpinUntil(() => fiber.State == FiberState.Cancelled, CancellationAssert.Timeout));
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public void A_yield_after_a_wait_is_posted_to_the_scheduler_of_the_thread_that_ended_the_wait()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters(stopAfterYields: 2);
        // A value task source completes its continuation inline even under a synchronization context (a Task would
        // queue it to the thread pool), so the run goes on on the completer's thread, under its context.
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        // The deadline passes inside the host call (set from it): a deadline passed before would make the guest's
        // call yield first, and that yield would race this test's completion of the call.
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, "wait-then-yield", TestGuest.CallThenPoll, counters.Address,
            new FiberHostFunctions(call =>
            {
                call.Fiber.SetEpochDeadline(epoch, 0);
                return source.Answer(call);
            }));
        fiber.SetEpochDeadlineCallback(_ => FiberDeadlineUpdate.Yield(0));
        ValueTask<long> run = fiber.RunAsync();
        Assert.False(run.IsCompleted);
        var context = new QueueingContext();

        // The run goes on inline, polls, and yields: posted to this context, not run here.
        Assert.True(context.Run(source.TryComplete));

        Assert.False(run.IsCompleted);
        Assert.Equal(1, context.Pending);
        Assert.Equal(2, context.RunUntil(() => run.IsCompleted)); // one posted continuation per yield
        Assert.Equal(2, run.Result);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public void A_runs_token_does_not_reach_the_fiber_that_reuses_its_driver()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        using var store = new Store<int>(allocator, 0);
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        var host = new FiberHostFunctions(source.Answer);
        using var cts = new CancellationTokenSource();
        Fiber first = Fiber.Create(store, "token", TestGuest.CallLoop, 1, host);
        FiberDriver driver = first.Driver!;
        ValueTask<long> run = first.RunAsync(cts.Token);
        Assert.True(source.TryComplete());
        Assert.Equal(1, run.Result);
        first.Dispose();

        AssertTheOldTokenMissesTheNextFiber(store, driver, cts);
    }

    [FiberFact]
    public void A_runs_token_is_let_go_when_a_cancel_ends_its_wait_and_does_not_reach_the_fiber_that_reuses_its_driver()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>();
        using var cts = new CancellationTokenSource();
        Fiber first = Fiber.Create(store, "woken", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        FiberDriver driver = first.Driver!;
        ValueTask<long> run = first.RunAsync(cts.Token);

        first.Cancel(); // ends the run's wait (the run never completes through its end: the host task ends the fiber)
        Assert.Throws<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        Assert.True(Task.Run(() => gate.SetResult(1)).Wait(CancellationAssert.Timeout));
        Assert.True(SpinWait.SpinUntil(() => first.State == FiberState.Cancelled, CancellationAssert.Timeout));
        first.Dispose();

        AssertTheOldTokenMissesTheNextFiber(store, driver, cts);
    }

    /// <summary>The next fiber on this thread takes <paramref name="driver"/>; cancelling the token of the run it served
    /// before must leave that fiber alone (a registration still held would cancel it).</summary>
    private static void AssertTheOldTokenMissesTheNextFiber(Store<int> store, FiberDriver driver, CancellationTokenSource oldToken)
    {
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        using Fiber next = Fiber.Create(store, "next", TestGuest.CallLoop, 2, new FiberHostFunctions(source.Answer));
        Assert.Same(driver, next.Driver);
        ValueTask<long> nextRun = next.RunAsync();
        Assert.True(source.TryComplete());

        oldToken.Cancel();

        Assert.True(source.TryComplete());
        Assert.Equal(1 + 2, nextRun.Result);
        Assert.Equal(FiberState.Completed, next.State);
    }

    [FiberFact]
    public void A_pending_host_call_of_a_run_with_a_token_allocates_nothing_in_steady_state()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        var host = new FiberHostFunctions(source.Answer);
        using var cts = new CancellationTokenSource();
        RunPending(store, host, source, cts.Token, 50); // warm up

        long few = long.MaxValue, many = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            few = Math.Min(few, AllocatedBy(() => RunPending(store, host, source, cts.Token, 10)));
            many = Math.Min(many, AllocatedBy(() => RunPending(store, host, source, cts.Token, 1010)));
        }

        Assert.Equal(0, many - few);
    }

    [FiberFact]
    public void A_fiber_revoked_after_a_cancel_ended_its_wait_is_never_resumed_when_its_host_task_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>();
        using var counters = new GuestCounters();
        Fiber fiber = Fiber.Create(store, "cancelled-then-revoked", TestGuest.HonoursCancel, counters.Address,
            new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = fiber.RunAsync();
        fiber.Cancel(); // the run gives up; the host task keeps the fiber (AwaitingHostAbandoned)
        Assert.Throws<OperationCanceledException>(() => run.AsTask().GetAwaiter().GetResult());
        Assert.Equal(1, allocator.Stacks.InUse);

        store.ReleaseAbandoned(); // what the finalizer does: revokes the fiber the host task holds

        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(FiberState.Cancelled, fiber.State);
        // Ended on a thread without a synchronization context: the host task's continuation runs inside SetResult.
        Task.Run(() => gate.SetResult(1)).Wait(CancellationAssert.Timeout);
        Assert.Equal(0, counters.CancelsSeen); // the revoked context was never resumed to unwind
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
        Assert.Equal(FiberState.Cancelled, fiber.State);
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static void RunPending(Store<int> store, FiberHostFunctions host, FiberPendingHostCallAllocationTests.ReusablePendingSource source, CancellationToken token, int calls)
    {
        source.Restart();
        using Fiber fiber = Fiber.Create(store, "pending", TestGuest.CallLoop, calls, host);
        ValueTask<long> run = fiber.RunAsync(token);
        while (!run.IsCompleted)
        {
            Assert.True(source.TryComplete(), "the run is waiting with no host call outstanding");
        }
        Assert.Equal((long)calls * (calls + 1) / 2, run.GetAwaiter().GetResult());
    }
}
