using System.Runtime.InteropServices;
using Allocator.Fibers;
using Allocator.Pooling;
using Allocator.Stores;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>A fiber between two resumes (yielded for other work, or waiting for a host task) ended from outside: by
/// Cancel, by its run's token, or revoked by its Store's finalizer; and what an ended fiber no longer touches.</summary>
public sealed class FiberYieldAndRevokeTests
{
    private const string Revoked = "was revoked when its Store was finalized; it can never run again.";

    /// <summary>A poll-loop fiber whose deadline has passed and whose policy yields: its first run step ends yielded,
    /// with the continuation queued on <paramref name="context"/>.</summary>
    private static (Fiber Fiber, ValueTask<long> Run) StartYielded<T>(Store<T> store, string name, PollCounters counters, QueueingContext context, CancellationToken token = default)
    {
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, name, TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 0);
        fiber.SetEpochDeadlineCallback(_ => FiberDeadlineUpdate.Yield(0));
        ValueTask<long> run = context.Run(() => fiber.RunAsync(token));
        Assert.False(run.IsCompleted);
        Assert.Equal(FiberState.Suspended, fiber.State);
        Assert.Equal(1, context.Pending);
        return (fiber, run);
    }

    [FiberFact]
    public void Cancel_unwinds_a_yielded_fiber_at_once_and_its_run_then_ends_with_the_Cancel_message()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var context = new QueueingContext();
        (Fiber fiber, ValueTask<long> run) = StartYielded(store, "yielded", counters, context);

        fiber.Cancel();

        // Idle between resumes: Cancel took the fiber on this thread and let the guest unwind.
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        context.RunUntil(() => run.IsCompleted);
        OperationCanceledException cancelled = Assert.Throws<OperationCanceledException>(() => run.AsTask().GetAwaiter().GetResult());
        Assert.Equal("Fiber 'yielded' " + FiberCancelPathTests.CancelledByCall, cancelled.Message);
        Assert.Equal(CancellationToken.None, cancelled.CancellationToken);
    }

    [FiberFact]
    public void The_runs_token_firing_while_yielded_marks_the_fiber_cancelling_and_its_next_resume_unwinds_it()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        using var cts = new CancellationTokenSource();
        var context = new QueueingContext();
        (Fiber fiber, ValueTask<long> run) = StartYielded(store, "yielded-token", counters, context, cts.Token);

        cts.Cancel();

        // The token only marks the fiber: the run unwinds it when it comes back.
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(0, counters.CancelsSeen);
        context.RunUntil(() => run.IsCompleted);
        OperationCanceledException cancelled = Assert.Throws<OperationCanceledException>(() => run.AsTask().GetAwaiter().GetResult());
        Assert.Equal("Fiber 'yielded-token' " + FiberCancelPathTests.CancelledByToken, cancelled.Message);
        Assert.Equal(cts.Token, cancelled.CancellationToken);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public void A_guest_that_polls_after_its_fiber_was_cancelled_is_unwound_at_that_yield_without_giving_the_thread_away()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        int policies = 0;
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            call.Fiber.Cancel(); // from its own host function: the guest goes on to its next poll, which yields
            call.Fiber.SetEpochDeadline(new FiberEpoch(), 0); // due too, at once: the cancel comes first
            return 0;
        }));
        Fiber fiber = Fiber.Create(store, "cancelled-at-yield", TestGuest.CallThenPoll, counters.Address, hosts);
        fiber.SetEpochDeadlineCallback(_ =>
        {
            policies++;
            return FiberDeadlineUpdate.Yield(0);
        });
        var context = new QueueingContext();

        ValueTask<long> run = context.Run(() => fiber.RunAsync());

        Assert.True(run.IsCompleted); // resumed with the cancel at once: nothing posted, no policy asked
        Assert.Equal(0, context.Pending);
        Assert.Equal(0, policies);
        OperationCanceledException cancelled = Assert.Throws<OperationCanceledException>(() => run.AsTask().GetAwaiter().GetResult());
        Assert.Equal("Fiber 'cancelled-at-yield' " + FiberCancelPathTests.CancelledByCall, cancelled.Message);
        Assert.Equal((1L, 0L), (counters.CancelsSeen, counters.YieldsContinued));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_run_awaiting_its_host_goes_on_without_the_callers_synchronization_context(bool scoped)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        var context = new QueueingContext();
        ValueTask<long> run = context.Run(() => scoped
            ? store.RunFiberAsync("scoped", TestGuest.CallLoop, 2, hosts)
            : Fiber.Create(store, "plain", TestGuest.CallLoop, 2, hosts).RunAsync());
        Assert.False(run.IsCompleted);

        gate.SetResult(4);

        // Nobody pumps the caller's context: the run must finish on the thread pool all the same.
        Task<long> finished = run.AsTask();
        bool withoutContext = await Task.WhenAny(finished, Task.Delay(CancellationAssert.Timeout)) == finished;
        context.RunUntil(() => finished.IsCompleted); // a run stuck on the context ends, so the Store can be disposed
        Assert.True(withoutContext, "the run waited for the caller's synchronization context");
        Assert.Equal(8, await finished);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_guest_yielding_of_its_own_accord_lets_other_work_run_at_each_yield(bool withDeadlineNotDue)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int policies = 0;
        Fiber fiber = Fiber.Create(store, "voluntary", TestGuest.YieldTimes, 3, FiberHostFunctions.Empty);
        if (withDeadlineNotDue)
        {
            fiber.SetEpochDeadline(new FiberEpoch(), 100);
            fiber.SetEpochDeadlineCallback(_ =>
            {
                policies++;
                return FiberDeadlineUpdate.Continue(100);
            });
        }
        var context = new QueueingContext();

        ValueTask<long> run = context.Run(() => fiber.RunAsync());

        Assert.False(run.IsCompleted);
        Assert.Equal(FiberState.Suspended, fiber.State);
        Assert.Equal(3, context.RunUntil(() => run.IsCompleted)); // one posted continuation per yield
        Assert.Equal(3, run.Result);
        Assert.Equal(0, policies); // no deadline had passed: no policy asked
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public void A_fiber_revoked_while_yielded_is_never_resumed_and_its_run_ends_with_ObjectDisposed()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var context = new QueueingContext();
        (Fiber fiber, ValueTask<long> run) = StartYielded(store, "yielded-revoked", counters, context);

        store.ReleaseAbandoned(); // what the Store's finalizer does

        Assert.Equal(0, counters.CancelsSeen); // revoked: the guest is abandoned, not resumed
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);
        context.RunUntil(() => run.IsCompleted);
        ObjectDisposedException revoked = Assert.Throws<ObjectDisposedException>(() => run.AsTask().GetAwaiter().GetResult());
        Assert.StartsWith("Fiber 'yielded-revoked' " + Revoked, revoked.Message);
        Assert.Equal("yielded-revoked", revoked.ObjectName);
        Assert.Equal(0, counters.CancelsSeen);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public async Task A_fiber_revoked_before_its_run_refuses_the_run_with_ObjectDisposed_unless_the_token_is_already_cancelled()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "revoked-first", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);
        Fiber other = Fiber.Create(store, "revoked-too", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);

        store.ReleaseAbandoned();

        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);
        using var cts = new CancellationTokenSource();
        ObjectDisposedException revoked = await Assert.ThrowsAsync<ObjectDisposedException>(() => fiber.RunAsync(cts.Token).AsTask());
        Assert.StartsWith("Fiber 'revoked-first' " + Revoked, revoked.Message);
        cts.Cancel();
        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => other.RunAsync(cts.Token).AsTask());
        Assert.Equal("Fiber 'revoked-too' " + FiberCancelPathTests.CancelledByToken, cancelled.Message);
        Assert.Equal(cts.Token, cancelled.CancellationToken);
        fiber.Cancel(); // ended: nothing left to do
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public async Task A_fiber_revoked_while_awaiting_its_host_wakes_its_run_and_never_touches_the_stack_again()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var counters = new GuestCounters();
        Fiber fiber = Fiber.Create(store, "revoked-in-host", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = fiber.RunAsync();
        Assert.Equal(FiberState.Suspended, fiber.State);

        store.ReleaseAbandoned(); // a resurrected run: what the finalizer does while the host task is pending

        ObjectDisposedException revoked = await Assert.ThrowsAsync<ObjectDisposedException>(() => run.AsTask().WaitAsync(CancellationAssert.Timeout));
        Assert.StartsWith("Fiber 'revoked-in-host' " + Revoked, revoked.Message);
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);

        // The stack went back and the next tenant has it: nothing the old fiber does may write there.
        using var next = new Store<int>(allocator, 0);
        using StackOverlay overlay = StackOverlay.CheckOut(next);
        fiber.Cancel();
        gate.SetResult(1);
        fiber.Dispose();
        overlay.AssertUntouched();
        Assert.Equal(0, counters.CancelsSeen);
        Assert.Equal(FiberState.Cancelled, fiber.State);
    }

    [FiberFact]
    public async Task An_ended_fiber_never_writes_to_its_old_stack_and_a_revoke_changes_nothing()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "ended", TestGuest.CallLoop, 2, new FiberHostFunctions(_ => ValueTask.FromResult(3L)));
        Assert.Equal(6, await fiber.RunAsync());

        using (StackOverlay overlay = StackOverlay.CheckOut(store))
        {
            fiber.Cancel();
            fiber.Dispose();
            Assert.True(FiberPools.Holder(fiber).TryRevoke()); // ended: nothing to revoke, the Store may drop it
            overlay.AssertUntouched();
        }

        Assert.Equal(FiberState.Completed, fiber.State);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public void A_stack_smaller_than_a_fiber_needs_is_refused_by_size_and_returned_once()
    {
        const int Size = 8192;
        Assert.True(Size < Interop.AllocatorNative.MinimumStackSize);
        var owner = new RecordingLeaseOwner();
        var driver = new FiberDriver("tiny", FiberHostFunctions.Empty);
        unsafe
        {
            void* memory = NativeMemory.AlignedAlloc(Size, 4096);
            try
            {
                var lease = new StackLease(owner, 1, new PooledStack(0, 2, (nint)memory, Size), "tiny", new StandInHolder());

                ArgumentException refused = Assert.Throws<ArgumentException>(() => driver.Start(lease, TestGuest.CallLoop, 0));

                Assert.Equal("store", refused.ParamName);
                Assert.StartsWith($"Fiber 'tiny': a stack of {Size} bytes is smaller than the {Interop.AllocatorNative.MinimumStackSize} bytes a fiber needs.", refused.Message);
                Assert.Equal(FiberState.Faulted, driver.State);
                Assert.Equal(new[] { lease }, owner.Returned);
                driver.Cancel(); // ended: returns nothing again
                Assert.Equal(new[] { lease }, owner.Returned);
                Assert.Equal(FiberState.Faulted, driver.State);
            }
            finally
            {
                NativeMemory.AlignedFree(memory);
            }
        }
    }

    /// <summary>A fiber lease needs a holder; the driver under test never asks it anything.</summary>
    private sealed class StandInHolder : IStackHolder
    {
        public string Name => "tiny";

        public bool HostCallOutlivesCancel => false;

        public void ReleaseStack() => throw new InvalidOperationException("not used by the driver");

        public bool TryRevoke() => throw new InvalidOperationException("not used by the driver");
    }

    private sealed class RecordingLeaseOwner : IStackLeaseOwner
    {
        public List<StackLease> Returned { get; } = [];

        public void ReturnStackLease(StackLease lease, ulong generation, bool deferred)
        {
            Assert.False(deferred);
            Returned.Add(lease);
        }
    }

    /// <summary>A raw stack checked out after a fiber's stack went back (the pool has one stack, so it is the same),
    /// its top, where the fiber's native context lived, filled with a pattern the old fiber must never overwrite.</summary>
    private sealed class StackOverlay : IDisposable
    {
        private const int Bytes = 256;
        private const byte Pattern = 0xA5;
        private readonly Action _return;
        private readonly nint _top;

        private StackOverlay(nint top, Action @return)
        {
            _top = top;
            _return = @return;
            for (int i = 1; i <= Bytes; i++)
            {
                Marshal.WriteByte(_top, -i, Pattern);
            }
        }

        public static StackOverlay CheckOut<T>(Store<T> store)
        {
            StackToken raw = store.CheckoutStack("next tenant");
            return new StackOverlay(store.GetStackBounds(raw).Top, () => store.ReturnStack(raw));
        }

        public void AssertUntouched()
        {
            for (int i = 1; i <= Bytes; i++)
            {
                Assert.Equal(Pattern, Marshal.ReadByte(_top, -i));
            }
        }

        public void Dispose() => _return();
    }
}
