using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The fiber driver's cancel paths, each end pinned exactly: which exception (type, message, token, inner
/// exception), which final state, what host functions see of the fiber meanwhile, and that the stack went back once.</summary>
public sealed class FiberCancelPathTests
{
    internal const string CancelledByCall = "was cancelled (Cancel, Dispose or its Store's Dispose).";
    internal const string CancelledByToken = "was cancelled by its run's token.";

    [FiberFact]
    public async Task A_host_function_sees_its_fiber_suspended_then_cancelling_once_it_cancels_it()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var seen = new List<(FiberState State, bool TokenCancelled)>();
        var hosts = new FiberHostFunctions(call =>
        {
            seen.Add((call.Fiber.State, call.CancellationToken.IsCancellationRequested));
            call.Fiber.Cancel();
            seen.Add((call.Fiber.State, call.CancellationToken.IsCancellationRequested));
            return ValueTask.FromResult(0L);
        });
        Fiber fiber = Fiber.Create(store, "self-cancel", TestGuest.HonoursCancel, counters.Address, hosts);

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(new[] { (FiberState.Suspended, false), (FiberState.Cancelling, true) }, seen);
        Assert.Equal("Fiber 'self-cancel' " + CancelledByCall, cancelled.Message);
        Assert.Equal(CancellationToken.None, cancelled.CancellationToken);
        Assert.Equal((1L, 1L), (counters.HostCalls, counters.CancelsSeen));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task A_sync_host_function_sees_its_fiber_running_then_cancelling_and_a_token_first_read_after_the_cancel_has_fired()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var seen = new List<(FiberState State, bool TokenCancelled)>();
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            FiberState before = call.Fiber.State;
            call.Fiber.Cancel();
            // The token is created only now, after the cancel: it must be born cancelled.
            seen.Add((before, false));
            seen.Add((call.Fiber.State, call.CancellationToken.IsCancellationRequested));
            return 0;
        }));
        Fiber fiber = Fiber.Create(store, "sync-self-cancel", TestGuest.HonoursCancel, counters.Address, hosts);

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(new[] { (FiberState.Running, false), (FiberState.Cancelling, true) }, seen);
        Assert.Equal("Fiber 'sync-self-cancel' " + CancelledByCall, cancelled.Message);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    public enum Thrower
    {
        /// <summary>A host function that throws before returning its task.</summary>
        AsyncThrowsAtOnce,
        /// <summary>A host function returning an already faulted task.</summary>
        AsyncFaultedTask,
        /// <summary>A synchronous host function, served by the native trampoline.</summary>
        Sync,
        /// <summary>A host function that throws after an await, while the driver waits for it.</summary>
        AsyncAfterAwait,
    }

    private static FiberHostFunctions Throwing(Thrower kind, Func<FiberHostCall, Exception> failure) => kind switch
    {
        Thrower.AsyncThrowsAtOnce => new FiberHostFunctions(call => throw failure(call)),
        Thrower.AsyncFaultedTask => new FiberHostFunctions(call => ValueTask.FromException<long>(failure(call))),
        Thrower.AsyncAfterAwait => new FiberHostFunctions(async call =>
        {
            await Task.Yield();
            throw failure(call);
        }),
        _ => FiberHostFunctions.From(FiberHostEntry.Sync(call => throw failure(call))),
    };

    [FiberTheory]
    [InlineData(Thrower.AsyncThrowsAtOnce)]
    [InlineData(Thrower.AsyncFaultedTask)]
    [InlineData(Thrower.Sync)]
    public async Task A_host_function_reacting_to_a_Cancel_with_OperationCanceled_ends_the_fiber_cancelled_by_that_Cancel(Thrower kind)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        using var unused = new CancellationTokenSource(); // the run's token, never cancelled: not the one to report
        OperationCanceledException? thrown = null;
        FiberHostFunctions hosts = Throwing(kind, call =>
        {
            call.Fiber.Cancel();
            thrown = new OperationCanceledException("host gave up", call.CancellationToken);
            return thrown;
        });
        Fiber fiber = Fiber.Create(store, "host-saw-cancel", TestGuest.HonoursCancel, counters.Address, hosts);

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync(unused.Token).AsTask());

        Assert.Equal("Fiber 'host-saw-cancel' " + CancelledByCall, cancelled.Message);
        Assert.Same(thrown, cancelled.InnerException);
        Assert.Equal(CancellationToken.None, cancelled.CancellationToken);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberTheory]
    [InlineData(Thrower.AsyncThrowsAtOnce)]
    [InlineData(Thrower.AsyncFaultedTask)]
    [InlineData(Thrower.Sync)]
    public async Task A_host_function_reacting_to_the_runs_token_ends_the_fiber_cancelled_by_that_token(Thrower kind)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        using var cts = new CancellationTokenSource();
        OperationCanceledException? thrown = null;
        FiberHostFunctions hosts = Throwing(kind, call =>
        {
            cts.Cancel();
            thrown = new OperationCanceledException("host gave up", call.CancellationToken);
            return thrown;
        });
        Fiber fiber = Fiber.Create(store, "host-saw-token", TestGuest.HonoursCancel, counters.Address, hosts);

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync(cts.Token).AsTask());

        Assert.Equal("Fiber 'host-saw-token' " + CancelledByToken, cancelled.Message);
        Assert.Same(thrown, cancelled.InnerException);
        Assert.Equal(cts.Token, cancelled.CancellationToken);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    /// <summary>Regression: the unwind after a host failure marks the fiber cancelled itself, and the exception was
    /// judged after it, so a host's own OperationCanceledException came out as "was cancelled (Cancel, ...)" from a
    /// fiber that ended Faulted.</summary>
    [FiberTheory]
    [InlineData(Thrower.AsyncThrowsAtOnce)]
    [InlineData(Thrower.AsyncFaultedTask)]
    [InlineData(Thrower.Sync)]
    [InlineData(Thrower.AsyncAfterAwait)]
    public async Task An_OperationCanceled_of_a_host_function_nobody_cancelled_is_a_fault_and_propagates_as_is(Thrower kind)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        using var cts = new CancellationTokenSource();
        var thrown = new OperationCanceledException("the host's own timeout");
        Fiber fiber = Fiber.Create(store, "host-own-cancel", TestGuest.HonoursCancel, counters.Address, Throwing(kind, _ => thrown));

        Assert.Same(thrown, await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync(cts.Token).AsTask()));

        Assert.Equal(1, counters.CancelsSeen); // unwound all the same
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberTheory]
    [InlineData(Thrower.AsyncThrowsAtOnce)]
    [InlineData(Thrower.AsyncFaultedTask)]
    [InlineData(Thrower.Sync)]
    public async Task Another_exception_of_a_cancelled_host_function_is_a_fault_and_propagates_as_is(Thrower kind)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var thrown = new InvalidOperationException("broke while cancelled");
        FiberHostFunctions hosts = Throwing(kind, call =>
        {
            call.Fiber.Cancel();
            return thrown;
        });
        Fiber fiber = Fiber.Create(store, "host-broke", TestGuest.HonoursCancel, counters.Address, hosts);

        Assert.Same(thrown, await Assert.ThrowsAsync<InvalidOperationException>(() => fiber.RunAsync().AsTask()));

        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberFact]
    public async Task A_deadline_callback_reacting_to_a_Cancel_with_OperationCanceled_ends_the_fiber_cancelled()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var epoch = new FiberEpoch();
        var seen = new List<FiberState>();
        OperationCanceledException? thrown = null;
        Fiber fiber = Fiber.Create(store, "policy-saw-cancel", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 0);
        fiber.SetEpochDeadlineCallback(f =>
        {
            seen.Add(f.State);
            f.Cancel();
            seen.Add(f.State);
            throw thrown = new OperationCanceledException("policy gave up");
        });

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(new[] { FiberState.Running, FiberState.Cancelling }, seen);
        Assert.Equal("Fiber 'policy-saw-cancel' " + CancelledByCall, cancelled.Message);
        Assert.Same(thrown, cancelled.InnerException);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task An_OperationCanceled_of_a_deadline_callback_nobody_cancelled_is_a_fault_and_propagates_as_is()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var thrown = new OperationCanceledException("the policy's own timeout");
        Fiber fiber = Fiber.Create(store, "policy-own-cancel", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(new FiberEpoch(), 0);
        fiber.SetEpochDeadlineCallback(_ => throw thrown);

        Assert.Same(thrown, await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask()));

        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_interrupted_or_faulted_fiber_fires_the_token_its_host_functions_hold(bool interrupt)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var epoch = new FiberEpoch();
        var tokens = new List<CancellationToken>();
        var hosts = new FiberHostFunctions(call =>
        {
            tokens.Add(call.CancellationToken);
            if (interrupt && tokens.Count == 2)
            {
                call.Fiber.SetEpochDeadline(epoch, 0); // the next call meets it: interrupted
            }
            return ValueTask.FromResult(1L);
        });
        // Interrupted at its third call, or faulted by its second (function 1 is beyond a table of one).
        Fiber fiber = interrupt
            ? Fiber.Create(store, "interrupted", TestGuest.CallLoop, 10, hosts)
            : Fiber.Create(store, "faulted", TestGuest.CallEach, 2, hosts);

        Exception ended = await Assert.ThrowsAnyAsync<Exception>(() => fiber.RunAsync().AsTask());

        Assert.IsType(interrupt ? typeof(FiberInterruptedException) : typeof(FiberHostCallException), ended);
        Assert.Equal(interrupt ? 2 : 1, tokens.Count);
        Assert.All(tokens, t => Assert.True(t.IsCancellationRequested, "the fiber ended: what its host functions still do for it is moot"));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, interrupt ? FiberState.Interrupted : FiberState.Faulted);
    }

    [FiberFact]
    public async Task A_fiber_cancelled_before_its_run_refuses_the_run_with_the_Cancel_message()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "cancelled-first", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);
        fiber.Cancel();
        using var cts = new CancellationTokenSource();

        OperationCanceledException refused = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync(cts.Token).AsTask());

        Assert.Equal("Fiber 'cancelled-first' " + CancelledByCall, refused.Message);
        Assert.Equal(CancellationToken.None, refused.CancellationToken);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task The_runs_token_firing_after_the_run_ended_cancels_nothing_the_host_functions_hold()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var cts = new CancellationTokenSource();
        CancellationToken hostToken = default;
        var hosts = new FiberHostFunctions(call =>
        {
            hostToken = call.CancellationToken;
            return ValueTask.FromResult(1L);
        });
        Fiber fiber = Fiber.Create(store, "ended", TestGuest.CallLoop, 2, hosts);
        Assert.Equal(2, await fiber.RunAsync(cts.Token));

        cts.Cancel();

        Assert.False(hostToken.IsCancellationRequested); // the run's registration ended with the run
        Assert.Equal(FiberState.Completed, fiber.State);
    }

    [FiberFact]
    public async Task A_host_task_failing_after_its_run_gave_up_is_observed_by_the_fiber_not_reported_as_unobserved()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var failure = new InvalidOperationException("failed after the run gave up");
        int reported = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> watch = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Contains(failure))
            {
                Interlocked.Increment(ref reported);
            }
        };
        TaskScheduler.UnobservedTaskException += watch;
        try
        {
            await CancelThenFailTheHostAsync(store, failure);

            // Nothing references the failed host task any more: its finalizer reports it unless someone observed it.
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= watch;
        }
        Assert.Equal(0, Volatile.Read(ref reported));
        Assert.Equal(1, allocator.DeferredReturns);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task CancelThenFailTheHostAsync(Store<int> store, Exception failure)
    {
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "failed-late", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = fiber.RunAsync();
        fiber.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(CancellationAssert.Timeout));

        gate.SetException(failure);

        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        Assert.Equal(1, counters.CancelsSeen);
    }

    [FiberFact]
    public async Task While_an_async_host_call_is_pending_the_store_names_the_fiber_plainly_and_after_a_cancel_as_outliving_it()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "pending", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = fiber.RunAsync();
        Assert.Equal(FiberState.Suspended, fiber.State);

        StacksCheckedOutException plain = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Equal(new[] { "pending" }, plain.Owners);
        Assert.DoesNotContain("host call is still running", plain.Message);

        fiber.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(CancellationAssert.Timeout));
        StacksCheckedOutException outliving = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Contains("host call is still running", Assert.Single(outliving.Owners));

        gate.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }
}
