using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Cancellation;

/// <summary>Cancel racing a driver that is busy serving host calls on another thread: once Cancel has returned, no
/// host function starts for that fiber, and a fiber not already finished ends cancelled, never completed.</summary>
public sealed class CancelRaceTests
{
    public enum HostKind
    {
        /// <summary>Served by the native trampoline, never leaving the resume.</summary>
        Sync,
        /// <summary>Asynchronous, but completing at once: the driver takes the fiber straight back (the race the issue saw).</summary>
        AsyncReady,
        /// <summary>Asynchronous, pending on every third call.</summary>
        AsyncSometimesPending,
    }

    [FiberTheory]
    [InlineData(HostKind.Sync)]
    [InlineData(HostKind.AsyncReady)]
    [InlineData(HostKind.AsyncSometimesPending)]
    public async Task No_host_function_starts_after_Cancel_returns(HostKind kind)
    {
        const int Rounds = 150;
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 4);
        using var store = new Store<int>(allocator, 0);
        var random = new Random(1234 + (int)kind);
        int lateStarts = 0;
        int cancelledRounds = 0;
        for (int round = 0; round < Rounds; round++)
        {
            int cancelReturned = 0;
            long started = 0;
            long Started()
            {
                if (Volatile.Read(ref cancelReturned) != 0)
                {
                    Interlocked.Increment(ref lateStarts);
                }
                return Interlocked.Increment(ref started);
            }
            FiberHostFunctions hosts = kind switch
            {
                HostKind.Sync => FiberHostFunctions.From(FiberHostEntry.Sync(_ => Started() & 1)),
                HostKind.AsyncReady => new FiberHostFunctions(_ => ValueTask.FromResult(Started() & 1)),
                _ => new FiberHostFunctions(async _ =>
                {
                    long n = Started();
                    if (n % 3 == 0)
                    {
                        await Task.Yield();
                    }
                    return n & 1;
                }),
            };
            // Long enough that most rounds are still calling the host when Cancel comes.
            int calls = kind switch { HostKind.Sync => 5_000_000, HostKind.AsyncReady => 500_000, _ => 50_000 };
            Fiber fiber = Fiber.Create(store, $"race-{round}", TestGuest.CallLoop, calls, hosts);
            Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
            if (random.Next(4) != 0)
            {
                SpinWait.SpinUntil(() => Volatile.Read(ref started) > 0, CancellationAssert.Timeout);
            }
            Thread.SpinWait(random.Next(20_000));

            fiber.Cancel();
            Volatile.Write(ref cancelReturned, 1);
            FiberState afterCancel = fiber.State;

            Assert.True(afterCancel is FiberState.Cancelled or FiberState.Completed or FiberState.Cancelling, $"round {round}: {afterCancel}");
            try
            {
                await run.WaitAsync(CancellationAssert.Timeout);
                Assert.Equal(FiberState.Completed, afterCancel); // completing is only possible before Cancel returned
            }
            catch (OperationCanceledException)
            {
                cancelledRounds++;
            }
            await CancellationAssert.EventuallyAsync(() => fiber.State is not FiberState.Cancelling && store.StacksCheckedOut == 0, $"round {round}'s stack");
            Assert.Equal(afterCancel == FiberState.Completed ? FiberState.Completed : FiberState.Cancelled, fiber.State);
        }
        Assert.Equal(0, Volatile.Read(ref lateStarts));
        Assert.True(cancelledRounds > Rounds / 2, $"only {cancelledRounds} of {Rounds} rounds raced a running guest");
        StackPoolStatistics stats = allocator.Stacks.GetStatistics();
        Assert.Equal(0, stats.InUse);
        Assert.Equal(0, stats.RefusedReturns);
        Assert.Equal(Rounds, stats.TotalCheckouts);
    }

    [FiberFact]
    public async Task Cancel_racing_a_guest_that_keeps_yielding_at_its_deadline_always_ends_it_once()
    {
        const int Rounds = 100;
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 4);
        using var store = new Store<int>(allocator, 0);
        var epoch = new FiberEpoch();
        var random = new Random(99);
        for (int round = 0; round < Rounds; round++)
        {
            using var counters = new PollCounters();
            Fiber fiber = Fiber.Create(store, $"yield-race-{round}", TestGuest.PollLoop, counters.Address, FiberHostFunctions.Empty);
            fiber.SetEpochDeadline(epoch, 0);
            // Alternate the two ways of going on: the fiber is Busy (Continue) or Idle between resumes (Yield).
            fiber.SetEpochDeadlineCallback(_ => Random.Shared.Next(2) == 0 ? FiberDeadlineUpdate.Continue(0) : FiberDeadlineUpdate.Yield(0));
            Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
            SpinWait.SpinUntil(() => counters.YieldsContinued > random.Next(50), CancellationAssert.Timeout);

            fiber.Cancel();

            FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
            Assert.Equal(1, counters.CancelsSeen); // told once, at a yield or in the loop, and it returned
        }
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }
}
