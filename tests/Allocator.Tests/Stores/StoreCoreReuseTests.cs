using System.Runtime.CompilerServices;
using Allocator.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Stores;

/// <summary>A Store's bookkeeping (<see cref="StoreCore"/>: lock, lease lists, counts, cached stack, tracker) is reused
/// by the next Store once the Store has released everything. What must hold: an ended Store whose core serves another
/// Store changes nothing of it, even when called while that Store works on another thread; an ended Store kept alive
/// keeps nothing of the next one alive (an abandoned one is still finalized); and Stores created on one thread and
/// ended on another still allocate only themselves.</summary>
public sealed class StoreCoreReuseTests
{
    [Fact]
    public void The_next_store_on_the_thread_takes_the_core_of_an_ended_one()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        var first = new Store<int>(allocator, 1);
        StoreCore core = first.Core;
        first.ReturnStack(first.CheckoutStack("cached"));
        first.CheckoutMemory();
        first.IntoData();
        Assert.Same(StoreCore.Ended, first.Core); // let go of, so it keeps nothing of the next Store alive

        using var second = new Store<int>(allocator, 2);
        Assert.Same(core, second.Core);
        Assert.Equal(0, second.StacksCheckedOut);
        Assert.Equal(0, second.SlotsCheckedOut);
        Assert.Equal(0, allocator.Stacks.InUse); // the first Store's cached stack went back with it
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_ended_store_changes_nothing_of_the_store_that_took_its_core(bool consumed)
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        var ended = new Store<int>(allocator, 1);
        StackToken oldStack = ended.CheckoutStack("old");
        SlotToken oldSlot = ended.CheckoutMemory();
        ended.ReturnStack(oldStack);
        if (consumed)
        {
            ended.IntoData();
        }
        else
        {
            ended.Dispose();
        }
        using var current = new Store<int>(allocator, 2);
        StackToken stack = current.CheckoutStack("current");
        SlotToken slot = current.CheckoutMemory();

        Type notLive = consumed ? typeof(InvalidOperationException) : typeof(ObjectDisposedException);
        Assert.Throws(notLive, () => ended.CheckoutStack("late"));
        Assert.Throws(notLive, () => ended.CheckoutMemory());
        Assert.Throws(notLive, () => ended.ReturnStack(stack));
        Assert.Throws(notLive, () => ended.TryReturnStack(stack));
        Assert.Throws(notLive, () => ended.ReturnSlot(slot));
        Assert.Throws(notLive, () => ended.ReturnSlot(oldSlot));
        Assert.Throws(notLive, () => ended.GetStackBounds(stack));
        Assert.Throws(notLive, () => ended.IntoData());
        Assert.Throws(notLive, () => _ = ended.Data);
        AssertTheEndedHoldsNothingAndTheCurrentReturnsItsOwn(ended, current, stack, slot);
        Assert.Equal(2, current.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
    }

    [Fact]
    public async Task Calls_on_an_ended_store_racing_the_store_that_took_its_core_change_nothing()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        // The late calls go through the lock the current Store uses (as calls that read the field before the swap).
        (Store<int> ended, Store<int> current) = EndedStillReachingTheCoreOfTheNext(allocator);
        using var disposeCurrent = current;
        using var stop = new CancellationTokenSource();
        int lateCalls = 0;
        Task late = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Throws<InvalidOperationException>(() => ended.CheckoutStack("late"));
                Assert.Equal(0, ended.StacksCheckedOut);
                ended.Dispose();
                Interlocked.Increment(ref lateCalls);
            }
        });
        while (Volatile.Read(ref lateCalls) < 100 && !late.IsCompleted)
        {
            Thread.Yield();
        }
        for (int i = 0; i < 20_000 && !late.IsCompleted; i++)
        {
            StackToken token = current.CheckoutStack("current");
            Assert.Equal(1, current.StacksCheckedOut);
            current.ReturnStack(token);
        }
        stop.Cancel();
        await late;
        Assert.True(Volatile.Read(ref lateCalls) >= 100);
        Assert.Equal(0, current.StacksCheckedOut);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [Fact]
    public void A_late_call_that_entered_the_reused_lock_before_the_swap_still_changes_nothing()
    {
        // The window the Ended swap cannot close: a call that read the old core before its Store let go of it and
        // enters the lock once the core serves the next Store. It must find its own Store ended and go.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        (Store<int> ended, Store<int> current) = EndedStillReachingTheCoreOfTheNext(allocator);
        using var disposeCurrent = current;
        StackToken held = current.CheckoutStack("current");
        SlotToken slot = current.CheckoutMemory();

        Assert.Throws<InvalidOperationException>(() => ended.CheckoutStack("late"));
        Assert.Throws<InvalidOperationException>(() => ended.ReturnStack(held));
        Assert.Throws<InvalidOperationException>(() => ended.ReturnSlot(slot));
        // The counts in the core are the current Store's, not the ended one's.
        AssertTheEndedHoldsNothingAndTheCurrentReturnsItsOwn(ended, current, held, slot);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Fact]
    public void An_ended_store_kept_alive_keeps_no_later_store_of_its_core_alive()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        var kept = new Store<int>(allocator, 1);
        kept.CheckoutMemory();
        kept.IntoData();
        WeakReference abandoned = CheckOutAndForget(allocator, kept.Core);

        TestAllocators.CollectUntilAbandoned(allocator);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.False(abandoned.IsAlive);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        GC.KeepAlive(kept);
    }

    [Fact]
    public void Stores_created_on_one_thread_and_ended_on_another_allocate_only_themselves()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        using var ender = new BlockingCollectionThread();
        const int Stores = 100;
        long least = long.MaxValue;
        for (int batch = 0; batch < 5; batch++)
        {
            long allocated = 0;
            for (int i = 0; i < Stores; i++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var store = new Store<int>(allocator, i);
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                ender.Run(() =>
                {
                    store.ReturnStack(store.CheckoutStack("elsewhere"));
                    store.IntoData();
                });
            }
            least = Math.Min(least, allocated);
        }
        Assert.Equal(Stores * StoreSize(allocator), least);
    }

    [Fact]
    public async Task Stores_churned_across_threads_with_late_calls_on_ended_ones_leave_every_pool_empty()
    {
        // Cores move between threads (a Store ended elsewhere hands its core to that thread, or to the shared spares)
        // while late calls hit ended Stores; every checkout must still come back exactly once.
        const int Threads = 4;
        const int PerThread = 2_000;
        // At most 4 makers + 8 waiting + 2 enders hold a stack (cached) and an instance at once.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 16, cache: true, slots: 16);
        var handOff = new System.Collections.Concurrent.BlockingCollection<Store<int>>(boundedCapacity: 8);
        var ended = new System.Collections.Concurrent.ConcurrentQueue<Store<int>>();
        int lateRefusals = 0;
        Task[] makers = [.. Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                var store = new Store<int>(allocator, i);
                store.ReturnStack(store.CheckoutStack("churn"));
                store.CheckoutInstance();
                if (i % 2 == 0)
                {
                    handOff.Add(store); // ended on another thread
                }
                else
                {
                    Assert.Equal(i, store.IntoData());
                    ended.Enqueue(store);
                }
                if (ended.TryDequeue(out Store<int>? late))
                {
                    try
                    {
                        late.CheckoutStack("late");
                    }
                    catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
                    {
                        Interlocked.Increment(ref lateRefusals);
                    }
                    Assert.Equal(0, late.StacksCheckedOut);
                    Assert.Equal(0, late.SlotsCheckedOut);
                }
            }
        }))];
        Task[] enders = [.. Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            foreach (Store<int> store in handOff.GetConsumingEnumerable())
            {
                store.Dispose();
                ended.Enqueue(store);
            }
        }))];
        await Task.WhenAll(makers);
        handOff.CompleteAdding();
        await Task.WhenAll(enders);

        Assert.True(lateRefusals > 0);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        foreach (Store<int> store in ended)
        {
            Assert.Same(StoreCore.Ended, store.Core);
        }
    }

    [Fact]
    public void Cores_beyond_the_threads_spare_and_the_shared_ones_are_dropped_and_shared_ones_serve_any_thread()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        // On a thread of its own: 20 Stores live at once, then all ended there. The first core becomes the thread's
        // spare, the shared places fill up (8), and the rest are left to the collector: handing back into a full
        // shared array must simply stop. (Other test classes run in parallel and share those places.)
        StoreCore[] handedBack = NewThread.Run(() =>
        {
            Store<int>[] stores = [.. Enumerable.Range(0, 20).Select(i => new Store<int>(allocator, i))];
            StoreCore[] cores = [.. stores.Select(s => s.Core)];
            foreach (Store<int> store in stores)
            {
                store.Dispose();
                Assert.Same(StoreCore.Ended, store.Core);
            }
            return cores;
        });
        Assert.Equal(20, handedBack.Distinct().Count());

        // Another new thread, with no spare of its own, takes shared ones.
        StoreCore[] taken = NewThread.Run(() =>
        {
            Store<int>[] stores = [.. Enumerable.Range(0, 8).Select(i => new Store<int>(allocator, i))];
            StoreCore[] cores = [.. stores.Select(s => s.Core)];
            foreach (Store<int> store in stores)
            {
                store.Dispose();
            }
            return cores;
        });
        Assert.NotEmpty(taken.Intersect(handedBack));
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    /// <summary>A Store ended by IntoData, and the next one on this thread, which took its core; the ended one is made to
    /// point at that core again, as a late call that read the field before the swap to <see cref="StoreCore.Ended"/>
    /// sees it.</summary>
    private static (Store<int> Ended, Store<int> Current) EndedStillReachingTheCoreOfTheNext(PoolingAllocator allocator)
    {
        var ended = new Store<int>(allocator, 1);
        StoreCore core = ended.Core;
        ended.IntoData();
        var current = new Store<int>(allocator, 2);
        Assert.Same(core, current.Core);
        FieldInfoSetter.SetCore(ended, core);
        return (ended, current);
    }

    /// <summary>The ended Store reports nothing out and its Dispose does nothing; the current one still holds its stack
    /// and slot, and returns them.</summary>
    private static void AssertTheEndedHoldsNothingAndTheCurrentReturnsItsOwn(Store<int> ended, Store<int> current, StackToken stack, SlotToken slot)
    {
        Assert.Equal(0, ended.StacksCheckedOut);
        Assert.Equal(0, ended.SlotsCheckedOut);
        ended.Dispose();
        Assert.Equal(1, current.StacksCheckedOut);
        Assert.Equal(1, current.SlotsCheckedOut);
        current.ReturnStack(stack);
        current.ReturnSlot(slot);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CheckOutAndForget(PoolingAllocator allocator, StoreCore expected)
    {
        var store = new Store<int>(allocator, 9);
        Assert.NotSame(expected, store.Core); // the kept one let go of the core this Store took
        store.CheckoutStack("held");
        store.CheckoutMemory();
        return new WeakReference(store);
    }

    private static long StoreSize(PoolingAllocator allocator)
    {
        new Store<int>(allocator, 0).Dispose(); // this thread's spare core from here on
        long before = GC.GetAllocatedBytesForCurrentThread();
        var store = new Store<int>(allocator, 0);
        long size = GC.GetAllocatedBytesForCurrentThread() - before;
        store.Dispose();
        return size;
    }

    /// <summary>Puts an old core back into an ended Store, as a late call that read it before the swap sees it.</summary>
    private static class FieldInfoSetter
    {
        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_core")]
        private static extern ref StoreCore CoreField(Store<int> store);

        public static void SetCore(Store<int> store, StoreCore core) => CoreField(store) = core;
    }

    /// <summary>One thread that runs what it is given, one item at a time, and waits for it.</summary>
    private sealed class BlockingCollectionThread : IDisposable
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(Action Work, ManualResetEventSlim Done)> _work = new();
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _done = new();
        private Exception? _failure;

        public BlockingCollectionThread()
        {
            _thread = new Thread(() =>
            {
                foreach ((Action work, ManualResetEventSlim done) in _work.GetConsumingEnumerable())
                {
                    try
                    {
                        work();
                    }
                    catch (Exception ex)
                    {
                        _failure = ex;
                    }
                    done.Set();
                }
            });
            _thread.Start();
        }

        public void Run(Action work)
        {
            _done.Reset();
            _work.Add((work, _done));
            _done.Wait();
            if (_failure is { } failure)
            {
                throw new InvalidOperationException("the other thread failed", failure);
            }
        }

        public void Dispose()
        {
            _work.CompleteAdding();
            _thread.Join();
            _done.Dispose();
            _work.Dispose();
        }
    }
}
