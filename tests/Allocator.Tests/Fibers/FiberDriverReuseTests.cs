using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Allocator.Fibers;
using Allocator.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A fiber's driver is reused by the next fiber created on the same thread once the fiber has ended and its
/// run has returned (or it was disposed). The old <see cref="Fiber"/> handle then answers as the ended fiber, and
/// nothing through it (its members, the Store reaching it as its lease's holder) ever touches the next fiber; a driver
/// something can still reach (a run in progress, a host task outliving a cancel, a revoke) is never reused.</summary>
[Collection(SerialCollection.Name)]
public sealed class FiberDriverReuseTests
{
    private static readonly FiberHostFunctions Ready = new(_ => ValueTask.FromResult(1L)); // guest_call_loop sums the answers

    [FiberFact]
    public async Task A_completed_fiber_hands_its_driver_to_the_next_and_its_handle_keeps_the_ended_fibers_answers()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber old = Fiber.Create(store, "old", TestGuest.CallLoop, 2, Ready);
        FiberDriver driver = old.Driver!;
        Assert.Equal(2, await old.RunAsync());
        Fiber next = Fiber.Create(store, "next", TestGuest.CallLoop, 3, Ready);
        Assert.Same(driver, next.Driver);
        Assert.Null(old.Driver); // the ended handle let go of it

        // Every member of the old handle answers as the ended fiber and leaves the next one alone.
        Assert.Equal(FiberState.Completed, old.State);
        Assert.Equal("old", old.Name);
        Assert.Throws<InvalidOperationException>(() => old.RunAsync());
        old.Cancel();
        old.Dispose();
        var epoch = new FiberEpoch();
        old.SetEpochDeadline(epoch, 0); // on the next fiber this would interrupt its first host call
        old.SetEpochDeadlineCallback(_ => throw new InvalidOperationException("the old handle's callback reached the next fiber"));
        IStackHolder holder = FiberPools.Holder(old);
        Assert.Equal("old", holder.Name);
        Assert.False(holder.HostCallOutlivesCancel);
        holder.ReleaseStack();
        Assert.True(holder.TryRevoke()); // ended: nothing to revoke
        Assert.False(old.HostCancellationToken.IsCancellationRequested); // completed, never fires

        Assert.Equal(FiberState.Created, next.State);
        Assert.Equal(3, await next.RunAsync()); // all three calls: not cancelled, interrupted or revoked
        Assert.Equal(FiberState.Completed, next.State);
        Assert.Equal(FiberState.Completed, old.State);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
    }

    [FiberFact]
    public async Task A_fiber_cancelled_before_it_ran_answers_as_cancelled_once_its_driver_moved_on()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber old = Fiber.Create(store, "never-run", TestGuest.CallLoop, 1, Ready);
        FiberDriver driver = old.Driver!;
        old.Dispose();
        using Fiber next = Fiber.Create(store, "next", TestGuest.CallLoop, 1, Ready);
        Assert.Same(driver, next.Driver);

        Assert.Equal(FiberState.Cancelled, old.State);
        OperationCanceledException refused = await Assert.ThrowsAsync<OperationCanceledException>(() => old.RunAsync().AsTask());
        Assert.Contains("'never-run'", refused.Message, StringComparison.Ordinal);
        Assert.True(old.HostCancellationToken.IsCancellationRequested);

        Assert.Equal(1, await next.RunAsync());
    }

    [FiberFact]
    public async Task A_trapped_fiber_keeps_its_final_state_after_its_driver_moved_on()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber old = Fiber.Create(store, "trap", TestGuest.TrapAfterCall, 7, Ready);
        FiberDriver driver = old.Driver!;
        await Assert.ThrowsAsync<FiberTrapException>(() => old.RunAsync().AsTask());
        using Fiber next = Fiber.Create(store, "next", TestGuest.CallLoop, 1, Ready);
        Assert.Same(driver, next.Driver);

        Assert.Equal(FiberState.Trapped, old.State);
        Assert.Equal(FiberState.Created, next.State);
    }

    [FiberFact]
    public async Task A_run_still_on_its_async_path_keeps_its_driver_until_it_returns()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber old = Fiber.Create(store, "pending", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        ValueTask<long> run = old.RunAsync();
        Assert.False(run.IsCompleted);
        old.Dispose(); // cancels: the run gives up, the host task keeps the fiber until it ends
        Fiber other = Fiber.Create(store, "other", TestGuest.CallLoop, 1, Ready);
        Assert.NotSame(old.Driver, other.Driver);
        await Assert.ThrowsAsync<OperationCanceledException>(() => run.AsTask());
        Assert.Equal(FiberState.Cancelling, old.State);

        gate.SetResult(1);
        await WaitUntil(() => old.State == FiberState.Cancelled);
        Assert.Equal(1, await other.RunAsync());
        Assert.Equal(FiberState.Cancelled, old.State);
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public void Old_handles_hammered_from_another_thread_never_reach_the_fibers_that_reuse_their_driver()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber? latest = null;
        int passes = 0;
        using var stop = new CancellationTokenSource();
        var hammer = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (Volatile.Read(ref latest) is { } fiber)
                {
                    // The fiber this handle named has completed (or is completing): none of these may reach a later one.
                    fiber.Cancel();
                    fiber.Dispose();
                    FiberPools.Holder(fiber).ReleaseStack();
                    _ = fiber.State;
                }
                Interlocked.Increment(ref passes);
            }
        });
        hammer.Start();
        try
        {
            FiberDriver? first = null;
            int reused = 0;
            for (int i = 0; i < 2000; i++)
            {
                Fiber fiber = Fiber.Create(store, "hammered", TestGuest.CallLoop, 2, Ready);
                first ??= fiber.Driver;
                reused += ReferenceEquals(first, fiber.Driver) ? 1 : 0;
                // Let the hammer act on the previous handle while this fiber, on the same driver, waits to run.
                int seen = Volatile.Read(ref passes);
                SpinWait.SpinUntil(() => Volatile.Read(ref passes) > seen + 1, 100);
                ValueTask<long> run = fiber.RunAsync();
                Assert.True(run.IsCompletedSuccessfully, $"fiber {i}: {fiber.State}");
                Assert.Equal(2, run.Result);
                Volatile.Write(ref latest, fiber); // handed to the hammer only once its run has returned
            }
            Assert.True(reused > 1000, $"only {reused} of 2000 fibers reused the driver");
        }
        finally
        {
            stop.Cancel();
            hammer.Join();
        }
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public void A_fiber_allocates_only_its_handle_in_steady_state()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        for (int i = 0; i < 50; i++)
        {
            RunOne(store); // warm up: JIT, tiering, this thread's spare driver
        }

        long least = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                RunOne(store);
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // The handle: object header and method table (16), driver, name, generation stamp (8 each), on 64-bit.
        Assert.Equal(100 * 40, least);
    }

    [FiberFact]
    public void The_spare_driver_keeps_no_abandoned_store_alive()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        WeakReference store = AbandonAfterARun(allocator);

        AssertFinalized(allocator, store);
    }

    [FiberFact]
    public void A_handle_kept_after_its_fiber_ended_keeps_no_later_store_alive()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        (Fiber kept, WeakReference store) = AbandonAfterKeepingAnEndedHandle(allocator);


        // The kept handle once named the driver that the abandoned Store's fiber reused (seen under Wine, where the test
        // framework kept an earlier test's handle: the Store was never finalized).
        AssertFinalized(allocator, store);
        Assert.Equal(FiberState.Completed, kept.State);
        Assert.Null(kept.Driver);
    }

    [FiberFact]
    public void A_synchronous_call_kept_after_its_fiber_ended_keeps_no_later_store_alive()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        (FiberHostCall kept, WeakReference store) = AbandonAfterKeepingASynchronousCall(allocator);


        // The kept call carries the ended fiber's synchronous binding, which once named the driver the abandoned
        // Store's fiber reused (seen under Wine, where the test framework kept an earlier test's call).
        AssertFinalized(allocator, store);
        Assert.Equal(FiberState.Completed, kept.Fiber.State);
        Assert.Null(kept.Fiber.Driver);
        // Its request has ended: nothing of the calls that reused the driver's record shows through it.
        HostCallArgumentChecks.AssertEnded(kept, kept.Fiber);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (FiberHostCall Kept, WeakReference Store) AbandonAfterKeepingASynchronousCall(PoolingAllocator allocator)
    {
        FiberHostCall kept = default;
        FiberHostFunctions keeping = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            kept = call;
            return 1;
        }));
        FiberDriver driver;
        using (var done = new Store<int>(allocator, 0))
        {
            Fiber fiber = Fiber.Create(done, "kept", TestGuest.CallLoop, 1, keeping);
            driver = fiber.Driver!;
            Assert.Equal(1, fiber.RunAsync().Result);
        }
        var store = new Store<int>(allocator, 0);
        Fiber left = Fiber.Create(store, "left", TestGuest.CallLoop, 1, FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1)));
        Assert.Same(driver, left.Driver);
        return (kept, new WeakReference(store));
    }

    [FiberFact]
    public void Code_awaiting_a_run_that_waited_runs_inside_its_driver_and_an_abandoned_store_there_is_still_finalized()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var host = new TaskCompletionSource<long>(); // continuations inline: the run goes on inside SetResult
        (Fiber waited, FiberDriver driver, ConfiguredValueTaskAwaitable<long>.ConfiguredValueTaskAwaiter awaiter) = StartWaitedRun(store, host);
        bool? finalized = null;
        bool? reused = null;
        long result = 0;
        awaiter.UnsafeOnCompleted(() =>
        {
            result = awaiter.GetResult();
            // This runs inside the host task's SetResult, under the driver's own frames (its continuation on the host
            // task and its run's state machine), as code after `await fiber.RunAsync()` does. Under Wine the test
            // framework ran whole later tests here.
            // Another fiber's run that waits and ends in here (its own chain, nested in this one) must not make this
            // driver look free. (Not disposed here: its driver would fill this thread's spare slot and hide a wrong
            // answer for this one.)
            var innerHost = new TaskCompletionSource<long>();
            Fiber inner = Fiber.Create(store, "inner", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(innerHost.Task)));
            ValueTask<long> innerRun = inner.RunAsync();
            innerHost.SetResult(1); // no SynchronizationContext in here: the inner run ends inline
            innerRun.GetAwaiter().GetResult();
            waited.Dispose();
            WeakReference abandoned = AbandonStore(allocator, driver, out bool tookIt);
            reused = tookIt;
            finalized = CollectAbandoned(allocator, abandoned);
        });

        CompleteInline(host, 1);

        Assert.Equal(1, result);
        Assert.True(finalized);
        Assert.False(reused); // the driver whose frames are below is not handed to the next fiber
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
    }

    [FiberFact]
    public void A_fiber_disposed_by_the_code_awaiting_its_run_hands_its_driver_on_once_that_code_has_returned()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var host = new TaskCompletionSource<long>(); // continuations inline: the run goes on inside SetResult
        (Fiber waited, FiberDriver driver, ConfiguredValueTaskAwaitable<long>.ConfiguredValueTaskAwaiter awaiter) = StartWaitedRun(store, host);
        Fiber? inside = null;
        awaiter.UnsafeOnCompleted(() =>
        {
            // As `using Fiber f = ...; await f.RunAsync();` (and Store.RunFiberAsync) end: read, then dispose, inline.
            _ = awaiter.GetResult();
            waited.Dispose();
            // Kept undisposed to the end, so its own driver does not fill the spare slot meanwhile.
            inside = Fiber.Create(store, "inside", TestGuest.CallLoop, 1, FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1)));
        });

        CompleteInline(host, 1);

        Assert.NotSame(driver, inside!.Driver); // not while its frames are below
        using Fiber after = Fiber.Create(store, "after", TestGuest.CallLoop, 1, FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1)));
        Assert.Same(driver, after.Driver); // but as soon as they have returned: no driver allocated per scoped run
        Assert.Equal(1, after.RunAsync().GetAwaiter().GetResult());
        inside.Dispose();
    }

    [FiberFact]
    public void A_fiber_that_waits_inside_code_awaiting_a_waited_run_keeps_no_abandoned_store_alive()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var host = new TaskCompletionSource<long>(); // continuations inline: the run goes on inside SetResult
        Fiber first = Fiber.Create(store, "first", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(host.Task)));
        ValueTask<long> run = first.RunAsync();
        Assert.False(run.IsCompleted);
        bool? finalized = null;
        long result = 0;
        ConfiguredValueTaskAwaitable<long>.ConfiguredValueTaskAwaiter awaiter = run.ConfigureAwait(false).GetAwaiter();
        awaiter.UnsafeOnCompleted(() =>
        {
            // Below here: the first run's state machine, which reading its result just released. A pooled one went
            // back to its pool right there, the next run that waits took it, and the frame below kept that run's fiber
            // and Store alive (seen under Wine, where xunit v3 ran later tests in such a chain).
            result = awaiter.GetResult();
            WeakReference abandoned = AbandonWaitingFiber(allocator);
            finalized = CollectAbandoned(allocator, abandoned);
        });

        CompleteInline(host, 1);

        Assert.Equal(1, result);
        Assert.True(finalized);
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AbandonWaitingFiber(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 0);
        var never = new TaskCompletionSource<long>();
        Fiber fiber = Fiber.Create(store, "waiting", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(never.Task)));
        Assert.False(fiber.RunAsync().IsCompleted); // its run waits, for ever
        return new WeakReference(store);
    }

    /// <summary>Starts a fiber whose one host call waits for <paramref name="host"/>: the fiber, its driver and the
    /// awaiter of its run, which has not completed.</summary>
    private static (Fiber Waited, FiberDriver Driver, ConfiguredValueTaskAwaitable<long>.ConfiguredValueTaskAwaiter Awaiter) StartWaitedRun(Store<int> store, TaskCompletionSource<long> host)
    {
        Fiber waited = Fiber.Create(store, "waited", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(host.Task)));
        FiberDriver driver = waited.Driver!;
        ValueTask<long> run = waited.RunAsync();
        Assert.False(run.IsCompleted);
        return (waited, driver, run.ConfigureAwait(false).GetAwaiter());
    }

    /// <summary>Completes <paramref name="host"/> with no SynchronizationContext set, so its continuations run inline
    /// (the test runner sets one, under which a task's continuations are posted instead).</summary>
    private static void CompleteInline(TaskCompletionSource<long> host, long value)
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            host.SetResult(value);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    [FiberFact]
    public void A_run_that_waited_and_was_polled_to_its_end_hands_its_driver_to_the_next_fiber()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var host = new TaskCompletionSource<long>();
        Fiber waited = Fiber.Create(store, "waited", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => new ValueTask<long>(host.Task)));
        FiberDriver driver = waited.Driver!;
        ValueTask<long> run = waited.RunAsync();
        Assert.False(run.IsCompleted);
        CompleteInline(host, 1); // the run ends inline, with nobody awaiting it
        Assert.True(run.IsCompletedSuccessfully);
        Assert.Equal(1, run.Result);
        waited.Dispose(); // outside the run's frames: the driver moves on

        using Fiber next = Fiber.Create(store, "next", TestGuest.CallLoop, 1, Ready);
        Assert.Same(driver, next.Driver);
        Assert.Equal(1, next.RunAsync().Result);
        Assert.Equal(FiberState.Completed, waited.State);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AbandonStore(PoolingAllocator allocator, FiberDriver previous, out bool reused)
    {
        var store = new Store<int>(allocator, 0);
        Fiber left = Fiber.Create(store, "left", TestGuest.CallLoop, 1, Ready);
        reused = ReferenceEquals(left.Driver, previous);
        return new WeakReference(store);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Fiber Kept, WeakReference Store) AbandonAfterKeepingAnEndedHandle(PoolingAllocator allocator)
    {
        Fiber kept;
        FiberDriver driver;
        using (var done = new Store<int>(allocator, 0))
        {
            kept = Fiber.Create(done, "kept", TestGuest.CallLoop, 1, Ready);
            driver = kept.Driver!;
            Assert.Equal(1, kept.RunAsync().Result);
        }
        var store = new Store<int>(allocator, 0);
        Fiber left = Fiber.Create(store, "left", TestGuest.CallLoop, 1, Ready);
        Assert.Same(driver, left.Driver);
        return (kept, new WeakReference(store));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AbandonAfterARun(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "abandoned", TestGuest.CallLoop, 1, Ready);
        Assert.Equal(1, fiber.RunAsync().Result);
        // A second fiber left unrun holds a stack: only the finalizer gives it back.
        _ = Fiber.Create(store, "left", TestGuest.CallLoop, 1, Ready);
        return new WeakReference(store);
    }

    /// <summary>Collects until the abandoned <paramref name="store"/> is gone and its finalizer has counted it (at most 50
    /// rounds); true when both happened.</summary>
    private static bool CollectAbandoned(PoolingAllocator allocator, WeakReference store)
    {
        for (int i = 0; i < 50 && (store.IsAlive || allocator.AbandonedStores == 0); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return !store.IsAlive && allocator.AbandonedStores == 1;
    }

    private static void AssertFinalized(PoolingAllocator allocator, WeakReference store)
    {
        Assert.True(CollectAbandoned(allocator, store), "the abandoned Store was not finalized");
        Assert.Equal(0, allocator.Stacks.GetStatistics().InUse);
    }

    private static void RunOne(Store<int> store)
    {
        using Fiber fiber = Fiber.Create(store, "steady", TestGuest.CallLoop, 1, Ready);
        ValueTask<long> run = fiber.RunAsync();
        Assert.True(run.IsCompletedSuccessfully);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(5);
        }
        Assert.True(condition());
    }
}
