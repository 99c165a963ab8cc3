using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The epoch deadline's exact arithmetic and timing: ticks past the epoch current when set, saturating at
/// <see cref="ulong.MaxValue"/>; Continue and Yield set the next deadline from the epoch when the policy returns;
/// the interrupt reports the epoch and the deadline it saw; and a deadline set from a host function of the fiber
/// reaches the guest at once, one set from elsewhere at the guest's next resume.</summary>
public sealed class FiberDeadlineArithmeticTests
{
    private static FiberEpoch EpochAt(ulong value)
    {
        var epoch = new FiberEpoch();
        while (epoch.Current < value)
        {
            epoch.Increment();
        }
        return epoch;
    }

    /// <summary>How many of <paramref name="polls"/> polls of a fresh fiber say yield under the deadline.</summary>
    private static async Task<long> FiringPollsAsync(FiberEpoch epoch, ulong ticks, Action? beforeRun = null, int polls = 1000)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "poller", TestGuest.PollOnly, polls, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, ticks);
        beforeRun?.Invoke();
        return await fiber.RunAsync();
    }

    [FiberFact]
    public async Task The_deadline_is_the_ticks_past_the_epoch_current_when_it_is_set()
    {
        FiberEpoch before = EpochAt(5); // deadline 15
        Assert.Equal(0, await FiringPollsAsync(before, 10, () => AdvanceTo(before, 14)));
        FiberEpoch at = EpochAt(5);
        Assert.Equal(1000, await FiringPollsAsync(at, 10, () => AdvanceTo(at, 15)));
    }

    private static void AdvanceTo(FiberEpoch epoch, ulong value)
    {
        while (epoch.Current < value)
        {
            epoch.Increment();
        }
    }

    [FiberFact]
    public async Task A_deadline_beyond_the_counters_range_saturates_and_never_fires()
    {
        Assert.Equal(0, await FiringPollsAsync(EpochAt(5), ulong.MaxValue));
        Assert.Equal(0, await FiringPollsAsync(EpochAt(5), ulong.MaxValue - 4)); // 5 + (max - 4) overflows by one
        Assert.Equal(0, await FiringPollsAsync(EpochAt(5), ulong.MaxValue - 5)); // exactly max: not reached
    }

    [FiberTheory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Continue_and_Yield_move_the_deadline_from_the_epoch_at_the_policy_and_the_interrupt_reports_both(bool syncHost, bool yieldPolicy)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var epoch = new FiberEpoch();
        long Serve()
        {
            // Every host call moves the epoch on by two: the deadline is checked at each call.
            epoch.Increment();
            epoch.Increment();
            return 1;
        }
        FiberHostFunctions hosts = syncHost
            ? FiberHostFunctions.From(FiberHostEntry.Sync(_ => Serve()))
            : new FiberHostFunctions(_ => ValueTask.FromResult(Serve()));
        var policyEpochs = new List<ulong>();
        Fiber fiber = Fiber.Create(store, "deadline", TestGuest.CallLoop, 100, hosts);
        fiber.SetEpochDeadline(epoch, 2);
        fiber.SetEpochDeadlineCallback(_ =>
        {
            policyEpochs.Add(epoch.Current);
            return policyEpochs.Count > 1 ? FiberDeadlineUpdate.Interrupt
                : yieldPolicy ? FiberDeadlineUpdate.Yield(3) : FiberDeadlineUpdate.Continue(3);
        });

        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => fiber.RunAsync().AsTask());

        // Call 1 at epoch 0 runs (epoch 2); call 2 meets the deadline 2: the policy says 3 more, deadline 5; calls 2
        // and 3 run (epoch 6); call 4 meets it: interrupted at epoch 6, past deadline 5.
        Assert.Equal(new ulong[] { 2, 6 }, policyEpochs);
        Assert.Equal((6ul, 5ul), (interrupted.Epoch, interrupted.Deadline));
        Assert.Equal("Fiber 'deadline' was interrupted: the epoch reached 6, past its deadline 5.", interrupted.Message);
        Assert.Equal(6ul, epoch.Current); // three calls ran
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public void Continue_goes_on_without_giving_the_thread_away()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters(stopAfterYields: 3);
        var epoch = new FiberEpoch();
        int policies = 0;
        Fiber fiber = Fiber.Create(store, "continuer", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        fiber.SetEpochDeadline(epoch, 0);
        fiber.SetEpochDeadlineCallback(_ =>
        {
            policies++;
            return FiberDeadlineUpdate.Continue(0); // due again at the next poll
        });
        var context = new QueueingContext();

        ValueTask<long> run = context.Run(() => fiber.RunAsync());

        Assert.True(run.IsCompleted); // nothing was posted: every Continue resumed the guest at once
        Assert.Equal(0, context.Pending);
        Assert.Equal(3, run.Result);
        Assert.Equal(3, policies);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberFact]
    public async Task A_deadline_set_from_a_sync_host_function_reaches_the_guest_at_its_next_call()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var epoch = EpochAt(7);
        int served = 0;
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            if (++served == 3)
            {
                call.Fiber.SetEpochDeadline(epoch, 0); // due now; the guest never comes back to the driver loop
            }
            return 1;
        }));
        Fiber fiber = Fiber.Create(store, "set-inside", TestGuest.CallLoop, 10, hosts);

        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(3, served);
        Assert.Equal((7ul, 7ul), (interrupted.Epoch, interrupted.Deadline));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public async Task A_deadline_set_from_a_sync_host_function_after_an_awaited_one_reaches_the_guest_at_once()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var epoch = new FiberEpoch();
        bool lastRan = false;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = FiberHostFunctions.From(
            FiberHostEntry.Async(async _ =>
            {
                await gate.Task; // ends only once the driver waits for it: the driver takes the fiber back on a pool thread
                return 1;
            }),
            FiberHostEntry.Sync(call =>
            {
                call.Fiber.SetEpochDeadline(epoch, 0);
                return 2;
            }),
            FiberHostEntry.Sync(_ =>
            {
                lastRan = true;
                return 4;
            }));
        Fiber fiber = Fiber.Create(store, "after-await", TestGuest.CallEach, 3, hosts);
        Task<long> run = fiber.RunAsync().AsTask();
        Assert.False(run.IsCompleted);

        gate.SetResult();

        FiberInterruptedException interrupted = await Assert.ThrowsAsync<FiberInterruptedException>(() => run.WaitAsync(CancellationAssert.Timeout));

        Assert.False(lastRan); // the third call met the deadline the second set
        Assert.Equal((0ul, 0ul), (interrupted.Epoch, interrupted.Deadline));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public async Task A_deadline_needs_an_epoch_and_a_refused_one_changes_nothing()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "no-epoch", TestGuest.PollOnly, 1000, FiberHostFunctions.Empty);

        Assert.Equal("epoch", Assert.Throws<ArgumentNullException>(() => fiber.SetEpochDeadline(null!, 0)).ParamName);

        Assert.Equal(0, await fiber.RunAsync());
    }

    [FiberFact]
    public async Task A_deadline_set_from_another_thread_while_the_guest_runs_waits_for_its_next_resume()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters();
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, "set-outside", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.Iterations > 10_000, CancellationAssert.Timeout));

        fiber.SetEpochDeadline(epoch, 0);

        // The guest polls on: the driver never writes into the context of a guest running on another thread.
        long at = counters.Iterations;
        Assert.True(SpinWait.SpinUntil(() => run.IsCompleted || counters.Iterations > at + 1_000_000, CancellationAssert.Timeout));
        Assert.Equal((0L, 0L), (counters.YieldsContinued, counters.CancelsSeen));
        Assert.False(run.IsCompleted);
        fiber.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }
}
