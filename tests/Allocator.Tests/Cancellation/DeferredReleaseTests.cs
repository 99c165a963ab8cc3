using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Fibers;
using Allocator.Stores;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Cancellation;

/// <summary>An asynchronous host function may hold guest pointers and write through them after the run that called it
/// has given up. Until its task ends, the fiber's stack and every slot of the Store stay checked out (owned, never
/// handed to anyone else); then they go back through the one release path, counted as deferred returns.</summary>
public sealed class DeferredReleaseTests
{
    private const int LateWriteOffset = 3 * sizeof(long);
    private const long LateWriteValue = 0xBEEF;

    /// <summary>What the pools looked like at the moment the host function wrote into guest memory.</summary>
    private readonly record struct AtWrite(int MemoriesInUse, int StacksInUse, bool NextTenantRefused);

    [FiberFact]
    public async Task A_write_200_ms_after_a_cancel_lands_in_memory_still_owned_and_unreused_which_goes_back_afterwards()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        var store = new Store<int>(allocator, 42);
        SlotToken memory = store.CheckoutMemory();
        var runGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var wrote = new TaskCompletionSource<AtWrite>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "late-writer", TestGuest.WriteAfterCall, store.GetSlotAddress(memory),
            LateWriter(allocator, runGaveUp.Task, wrote));
        using var cts = new CancellationTokenSource();
        ValueTask<long> run = fiber.RunAsync(cts.Token);
        // The host function has started and waits (for the gate and 200 ms): cancel now. (A timer here raced the start
        // of the host call on a loaded machine: fired first, it ended the fiber before any host task existed.)
        Assert.Equal(FiberState.Suspended, fiber.State);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.AsTask());
        runGaveUp.SetResult();

        // The run has given up; the host function has not written yet. Everything it may write to stays ours.
        Assert.False(wrote.Task.IsCompleted);
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.Memories.InUse);
        StacksCheckedOutException refused = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Contains("host call is still running", refused.Message);
        Assert.Equal(42, store.Data); // IntoData left the Store intact

        AtWrite atWrite = await wrote.Task.WaitAsync(CancellationAssert.Timeout);

        Assert.Equal(new AtWrite(MemoriesInUse: 1, StacksInUse: 1, NextTenantRefused: true), atWrite);
        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled, "the guest to unwind");
        // The guest unwound through HOST_CANCELLED on its own stack, touching its memory on the way: still its own.
        Assert.Equal(LateWriteValue, Marshal.ReadInt64(store.GetSlotAddress(memory), LateWriteOffset));
        Assert.Equal(1, Marshal.ReadInt64(store.GetSlotAddress(memory), 2 * sizeof(long)));
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.DeferredReturns);
        Assert.Equal(42, store.IntoData()); // the Store lived on: now it may be consumed
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public async Task Dispose_during_a_running_host_task_marks_the_store_dead_and_completes_the_release_when_the_task_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory();
        store.CheckoutInstance();
        var runGaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var wrote = new TaskCompletionSource<AtWrite>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "disposed-under-host", TestGuest.WriteAfterCall, store.GetSlotAddress(memory),
            LateWriter(allocator, runGaveUp.Task, wrote));
        ValueTask<long> run = fiber.RunAsync();
        Assert.Equal(FiberState.Suspended, fiber.State);

        store.Dispose();

        // Dispose returned at once: the Store is dead, but what the host task can write to is still checked out, and
        // the Store keeps its bookkeeping (its core) until the release completes: no other Store gets it meanwhile.
        StoreCore core = store.Core;
        Assert.NotSame(StoreCore.Ended, core);
        using (var next = new Store<int>(allocator, 1))
        {
            Assert.NotSame(core, next.Core);
        }
        Assert.Throws<ObjectDisposedException>(() => store.CheckoutMemory());
        Assert.Throws<ObjectDisposedException>(() => Fiber.Create(store, "late", TestGuest.CallLoop, 1, FiberHostFunctions.Empty));
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.Memories.InUse);
        Assert.Equal(1, allocator.Instances.InUse);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.AsTask().WaitAsync(CancellationAssert.Timeout));
        runGaveUp.SetResult();

        AtWrite atWrite = await wrote.Task.WaitAsync(CancellationAssert.Timeout);

        Assert.Equal(new AtWrite(MemoriesInUse: 1, StacksInUse: 1, NextTenantRefused: true), atWrite);
        await CancellationAssert.EventuallyAsync(() => allocator.Memories.InUse == 0 && allocator.Instances.InUse == 0 && allocator.Stacks.InUse == 0,
            "the deferred release");
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(3, allocator.DeferredReturns); // the stack, the memory and the instance slot
        // The last stack back ran the release and handed the core back (right after leaving its lock).
        await CancellationAssert.EventuallyAsync(() => ReferenceEquals(store.Core, StoreCore.Ended), "the core to be handed back");
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
        store.Dispose(); // idempotent
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_abandoned_store_is_not_finalized_while_a_host_task_can_still_write_to_it(bool cancelFirst)
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        var wrote = new TaskCompletionSource<AtWrite>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AbandonWithRunningHostTask(allocator, release.Task, wrote, cancelFirst);

        // Nothing references the Store but the host task (through the fiber's continuation): collections while it
        // runs must neither finalize the Store nor give back what the task may write to.
        for (int i = 0; i < 5; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Equal(1, allocator.Memories.InUse);
        Assert.Equal(1, allocator.Stacks.InUse);
        release.SetResult();

        AtWrite atWrite = await wrote.Task.WaitAsync(CancellationAssert.Timeout);

        Assert.Equal(new AtWrite(MemoriesInUse: 1, StacksInUse: 1, NextTenantRefused: true), atWrite);
        await CancellationAssert.EventuallyAsync(() =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return allocator.AbandonedStores == 1 && allocator.Memories.InUse == 0 && allocator.Stacks.InUse == 0;
        }, "the finalizer to release the Store once the host task ended");
        Assert.Equal(cancelFirst ? 1 : 0, allocator.DeferredReturns);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
    }

    [FiberFact]
    public async Task A_finalizer_that_catches_a_fiber_on_the_CPU_leaves_its_stack_and_the_slots_to_that_run()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2);
        var store = new Store<int>(allocator, 0);
        store.CheckoutMemory();
        using var counters = new GuestCounters();
        var hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => 0));
        Fiber fiber = Fiber.Create(store, "busy-at-finalization", TestGuest.HonoursCancel, counters.Address, hosts);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => counters.HostCalls > 1000, CancellationAssert.Timeout));

        // What the finalizer does, while guest code is on the CPU (a resurrected or otherwise racing reference).
        store.ReleaseAbandoned();

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.Memories.InUse); // the guest may be using it right now
        fiber.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse); // the run's end completed the release
        Assert.Equal(1, counters.CancelsSeen);
    }

    /// <summary>A host function that waits 200 ms (and for <paramref name="gate"/>, so the test sees the run give up
    /// first on any machine), then writes into guest memory through the pointer the guest passed, ignoring its
    /// cancellation token on purpose, and reports what the pools looked like at that moment.</summary>
    private static FiberHostFunctions LateWriter(PoolingAllocator allocator, Task gate, TaskCompletionSource<AtWrite> wrote) => new(async call =>
    {
        await Task.WhenAll(Task.Delay(200), gate).ConfigureAwait(false);
        bool nextTenantRefused;
        try
        {
            using var next = new Store<int>(allocator, 0);
            next.CheckoutMemory();
            nextTenantRefused = false;
        }
        catch (PoolExhaustedException)
        {
            nextTenantRefused = true;
        }
        Marshal.WriteInt64((nint)call[0], LateWriteOffset, LateWriteValue);
        wrote.SetResult(new AtWrite(allocator.Memories.InUse, allocator.Stacks.InUse, nextTenantRefused));
        return 5;
    });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonWithRunningHostTask(PoolingAllocator allocator, Task gate, TaskCompletionSource<AtWrite> wrote, bool cancelFirst)
    {
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory();
        Fiber fiber = Fiber.Create(store, "abandoned-under-host", TestGuest.WriteAfterCall, store.GetSlotAddress(memory),
            LateWriter(allocator, gate, wrote));
        _ = fiber.RunAsync().AsTask();
        Assert.Equal(FiberState.Suspended, fiber.State);
        if (cancelFirst)
        {
            fiber.Cancel();
            Assert.Equal(FiberState.Cancelling, fiber.State);
        }
    }
}
