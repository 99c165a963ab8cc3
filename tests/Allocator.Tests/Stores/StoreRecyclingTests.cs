using System.Runtime.CompilerServices;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>Leases and finalizer trackers are reused across checkouts and Stores (issue 9: a Store in steady state
/// allocates only itself). What must still hold: a stale, double or foreign token is refused, with the right reason
/// and no change, even after the very lease object it points at went to another checkout; an abandoned Store whose
/// tracker was a spare is still finalized; and the Store side allocates nothing per checkout.</summary>
public sealed class StoreRecyclingTests
{
    [Fact]
    public void A_stack_token_copy_is_refused_after_its_lease_went_to_another_store()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        using var first = new Store<int>(allocator, 1);
        using var second = new Store<int>(allocator, 2);
        StackToken old = first.CheckoutStack("old");
        (nint, nint) oldBounds = first.GetStackBounds(old);
        first.ReturnStack(old);

        StackToken current = second.CheckoutStack("current");
        Assert.Same(old.Lease, current.Lease); // the one stack's lease, reused: only the generation tells them apart
        Assert.NotEqual(old, current);

        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => first.ReturnStack(old)).Reason);
        Assert.Equal(InvalidTokenReason.WrongOwner, Assert.Throws<InvalidTokenException>(() => second.ReturnStack(old)).Reason);
        Assert.False(first.TryReturnStack(old));
        Assert.False(second.TryReturnStack(old));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => first.GetStackBounds(old)).Reason);
        Assert.Equal($"StackToken(Store {first.Id}, 'old')", old.ToString()); // still names its own checkout

        // Nothing changed: the second Store still holds the stack, and returns it once.
        Assert.Equal(1, second.StacksCheckedOut);
        Assert.Equal(oldBounds, second.GetStackBounds(current));
        second.ReturnStack(current);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => second.ReturnStack(current)).Reason);
    }

    [Fact]
    public void A_double_return_is_refused_after_the_same_store_reused_the_lease()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: true);
        using var store = new Store<int>(allocator, 1);
        StackToken old = store.CheckoutStack("a");
        store.ReturnStack(old); // into the Store's cache: same pool checkout, same lease, new generation next time
        StackToken current = store.CheckoutStack("b");
        Assert.Same(old.Lease, current.Lease);

        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => store.ReturnStack(old)).Reason);
        Assert.Equal(1, store.StacksCheckedOut);
        store.ReturnStack(current);
        Assert.Equal(0, store.StacksCheckedOut);
    }

    [Fact]
    public void A_slot_token_copy_is_refused_and_reaches_no_memory_after_its_lease_went_to_another_store()
    {
        PoolingAllocatorOptions options = TestAllocators.SmallOptions();
        using var allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = options.Stacks,
            Instances = options.Instances,
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = options.Memories.SlotSize, GuardSize = options.Memories.GuardSize },
        });
        using var first = new Store<int>(allocator, 1);
        using var second = new Store<int>(allocator, 2);
        SlotToken old = first.CheckoutMemory();
        first.ReturnSlot(old);
        SlotToken current = second.CheckoutMemory(accessibleBytes: 2 * (nuint)Environment.SystemPageSize);
        Assert.Same(old.Lease, current.Lease);

        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => first.ReturnSlot(old)).Reason);
        Assert.Equal(InvalidTokenReason.WrongOwner, Assert.Throws<InvalidTokenException>(() => second.ReturnSlot(old)).Reason);
        Assert.Throws<InvalidTokenException>(() => first.GrowMemory(old, 4 * (nuint)Environment.SystemPageSize));
        Assert.Throws<InvalidTokenException>(() => first.TryGrowMemory(old, 4 * (nuint)Environment.SystemPageSize));
        Assert.Throws<InvalidTokenException>(() => first.GetSlotMemory(old));
        Assert.Throws<InvalidTokenException>(() => first.GetAccessibleBytes(old));
        Assert.Throws<InvalidTokenException>(() => first.GetSlotAddress(old));

        Assert.Equal(2 * (nuint)Environment.SystemPageSize, second.GetAccessibleBytes(current));
        Assert.Equal(1, second.SlotsCheckedOut);
        second.ReturnSlot(current);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(0, allocator.GetMemoryStatistics().RefusedReturns);
    }

    [Fact]
    public void A_stale_copy_racing_the_reuse_of_its_lease_is_always_refused_and_never_returns_the_new_checkout()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        using var owner = new Store<int>(allocator, 1);
        using var reuser = new Store<int>(allocator, 2);
        const int Rounds = 2000;
        int accepted = 0;
        for (int round = 0; round < Rounds; round++)
        {
            StackToken stale = owner.CheckoutStack("stale");
            owner.ReturnStack(stale);
            using var go = new Barrier(2);
            var attacker = new Thread(() =>
            {
                go.SignalAndWait();
                for (int i = 0; i < 20; i++)
                {
                    if (owner.TryReturnStack(stale) || reuser.TryReturnStack(stale))
                    {
                        Interlocked.Increment(ref accepted);
                    }
                }
            });
            attacker.Start();
            go.SignalAndWait();
            StackToken fresh = reuser.CheckoutStack("fresh");
            attacker.Join();
            Assert.Equal(1, reuser.StacksCheckedOut);
            reuser.ReturnStack(fresh);
        }
        Assert.Equal(0, accepted);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
    }

    [Fact]
    public void An_abandoned_store_whose_tracker_was_a_spare_is_still_finalized()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        // Stores that end normally leave their tracker, detached but still registered, as the thread's spare...
        for (int i = 0; i < 4; i++)
        {
            var ended = new Store<int>(allocator, i);
            ended.CheckoutMemory();
            ended.ReturnStack(ended.CheckoutStack("cached"));
            ended.IntoData();
        }
        // ...and the next Store attaches it, and is then dropped.
        CheckOutAndForget(allocator);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(1, allocator.Memories.InUse);

        TestAllocators.CollectUntilAbandoned(allocator);

        Assert.Equal(1, allocator.AbandonedStores); // the four ended ones are not counted
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_returned_slot_lease_waits_on_its_shelf_naming_no_store(bool byIntoData)
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false, slots: 2);
        var store = new Store<int>(allocator, 1);
        SlotToken token = store.CheckoutMemory();
        SlotLease lease = token.Lease!;
        int index = lease.Slot.Index;
        Assert.Equal(store.Id, lease.StoreId);
        if (byIntoData)
        {
            store.IntoData();
        }
        else
        {
            store.ReturnSlot(token);
        }

        // The slot is free, so its place on the shelf may be looked at: the same lease, shelved.
        SlotLease? shelved = allocator.Shelves.Memories.Take(index);
        Assert.NotNull(shelved);
        Assert.Same(lease, shelved);
        Assert.False(shelved.IsHeld);
        Assert.Equal(0, shelved.StoreId);
        allocator.Shelves.Memories.Put(index, shelved);
        store.Dispose();
    }

    [Fact]
    public void A_store_in_steady_state_allocates_only_itself_and_nothing_per_checkout()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true, slots: 2);
        const int Requests = 200;
        long whole = long.MaxValue;
        long checkouts = long.MaxValue;
        // The smallest of several batches: a batch is exact, but the first ones may include one-time work
        // (a lease or tracker created for the first time, a method's first call).
        for (int batch = 0; batch < 5; batch++)
        {
            (long w, long c) = Requests_(allocator, Requests);
            whole = Math.Min(whole, w);
            checkouts = Math.Min(checkouts, c);
        }
        Assert.Equal(0, checkouts);
        // One Store object per request and nothing else: no lease, no lock object, no finalizer tracker, no core (the
        // Store's size depends on T and the runtime: 48 bytes for Store<int> on x64, with its lock and lists in the
        // thread's reused StoreCore; 136 bytes when the Store carried them with their padding, and 480 bytes of
        // Store-side objects per request before issue 9).
        Assert.Equal(Requests * SizeOfAStore(allocator), whole);
        Assert.InRange(whole / Requests, 1, 56);
    }

    /// <summary>What constructing a Store allocates (the object itself), measured the same way.</summary>
    private static long SizeOfAStore(PoolingAllocator allocator)
    {
        long least = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var store = new Store<int>(allocator, i);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            GC.KeepAlive(store);
        }
        return least;
    }

    private static (long Whole, long Checkouts) Requests_(PoolingAllocator allocator, int requests)
    {
        long checkouts = 0;
        long start = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < requests; i++)
        {
            var store = new Store<int>(allocator, i);
            long before = GC.GetAllocatedBytesForCurrentThread();
            store.CheckoutInstance();
            // The same accessible size every time: a size change costs the pool a protection call, which is not
            // the Store's business here.
            SlotToken memory = store.CheckoutMemory();
            _ = store.GetSlotAddress(memory);
            StackToken stack = store.CheckoutStack("request");
            store.ReturnStack(stack);
            store.ReturnStack(store.CheckoutStack("again"));
            checkouts += GC.GetAllocatedBytesForCurrentThread() - before;
            before = GC.GetAllocatedBytesForCurrentThread();
            store.IntoData();
            checkouts += GC.GetAllocatedBytesForCurrentThread() - before;
        }
        return (GC.GetAllocatedBytesForCurrentThread() - start, checkouts);
    }

    [Fact]
    public void Fiber_stack_checkouts_allocate_nothing_on_the_store_side_and_never_share_a_lease_with_tokens()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: true);
        using var store = new Store<int>(allocator, 1);
        var holder = new IdleHolder();
        long least = long.MaxValue;
        for (int batch = 0; batch < 5; batch++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                // The one stack goes back and forth through the Store's cache between a fiber and a raw checkout.
                StackLease fiber = store.CheckoutStackLease("fiber", holder);
                fiber.Return(fiber.Generation);
                StackToken raw = store.CheckoutStack("raw");
                Assert.NotSame(fiber, raw.Lease);
                store.ReturnStack(raw);
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(1, allocator.Stacks.InUse); // cached in the Store
        Assert.Equal(1, allocator.GetStackStatistics().TotalCheckouts);
    }

    [Fact]
    public void Dispose_of_a_store_without_stacks_out_allocates_nothing()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        long least = long.MaxValue;
        for (int batch = 0; batch < 5; batch++)
        {
            var store = new Store<int>(allocator, 1);
            store.CheckoutInstance();
            store.ReturnStack(store.CheckoutStack("cached"));
            long before = GC.GetAllocatedBytesForCurrentThread();
            store.Dispose();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void A_shelved_lease_keeps_neither_its_store_nor_its_label()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        WeakReference ended = EndAStoreThatHeldTheStack(allocator);
        for (int i = 0; i < 10 && ended.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(ended.IsAlive);
        StackLease? shelved = allocator.Shelves.RawStacks.Peek(0);
        Assert.NotNull(shelved);
        Assert.False(shelved.IsHeld);
        Assert.Equal(0, shelved.StoreId);
        Assert.Null(shelved.Holder);
        Assert.Equal(string.Empty, shelved.Owner);
    }

    [Fact]
    public void An_old_token_copy_keeps_no_store_alive_after_its_lease_went_to_an_abandoned_one()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: true);
        var old = new List<StackToken>();
        for (int i = 0; i < 2; i++)
        {
            var ended = new Store<int>(allocator, i);
            StackToken token = ended.CheckoutStack("old");
            old.Add(token);
            ended.ReturnStack(token);
            ended.IntoData();
        }
        // The one stack's raw lease now serves a Store that is dropped, while the old copies point at that lease.
        WeakReference abandoned = CheckOutTheSameStackAndForget(allocator, old[0]);

        TestAllocators.CollectUntilAbandoned(allocator);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.False(abandoned.IsAlive);
        Assert.Equal(0, allocator.Stacks.InUse);
        GC.KeepAlive(old);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CheckOutTheSameStackAndForget(PoolingAllocator allocator, StackToken old)
    {
        var store = new Store<int>(allocator, 9);
        StackToken held = store.CheckoutStack("held");
        Assert.Same(old.Lease, held.Lease);
        store.CheckoutMemory();
        return new WeakReference(store);
    }

    [Fact]
    public void Store_ids_stay_unique_across_threads_that_take_id_blocks()
    {
        const int Threads = 4;
        const int PerThread = (int)StoreIds.BlockSize * 3 + 7; // several blocks each, and a partial one
        var ids = new long[Threads][];
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int index = t;
            threads[t] = new Thread(() =>
            {
                var mine = new long[PerThread];
                for (int i = 0; i < PerThread; i++)
                {
                    mine[i] = StoreIds.Next();
                }
                ids[index] = mine;
            });
            threads[t].Start();
        }
        foreach (Thread thread in threads)
        {
            thread.Join();
        }
        long[] all = ids.SelectMany(x => x).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.DoesNotContain(0, all); // 0 means "no Store" in a default token
        using PoolingAllocator allocator = TestAllocators.Small();
        using var first = new Store<int>(allocator, 1);
        using var second = new Store<int>(allocator, 2);
        Assert.NotEqual(first.Id, second.Id);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference EndAStoreThatHeldTheStack(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 1);
        store.ReturnStack(store.CheckoutStack("label"));
        store.IntoData();
        return new WeakReference(store);
    }

    private sealed class IdleHolder : IStackHolder
    {
        public string Name => "fiber";

        public bool HostCallOutlivesCancel => false;

        public void ReleaseStack()
        {
        }

        public bool TryRevoke() => true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CheckOutAndForget(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 9);
        store.CheckoutStack("held");
        store.CheckoutMemory();
    }
}
