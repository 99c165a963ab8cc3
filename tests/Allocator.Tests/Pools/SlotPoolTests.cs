using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

public sealed unsafe class SlotPoolTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    private static SlotPool NewPool(int slots = 4, int warm = 0, int batch = 1, nuint keep = 0) =>
        TestPools.Slots(SlotKind.Memory, new SlotPoolOptions { MaxSlots = slots, SlotSize = 16 * Page, GuardSize = 4 * Page, KeepResident = keep, MaxUnusedWarmSlots = warm, DecommitBatchSize = batch });

    [Fact]
    public void Contents_are_reset_before_reuse()
    {
        using SlotPool pool = NewPool(slots: 1, keep: 2 * Page);
        PooledSlot slot = pool.Rent();
        new Span<byte>((void*)slot.BaseAddress, (int)pool.Options.SlotSize).Fill(0xEE);
        pool.ReturnAccepted(slot);
        PooledSlot again = pool.Rent();
        Assert.Equal(slot.BaseAddress, again.BaseAddress);
        Assert.True(new Span<byte>((void*)again.BaseAddress, (int)pool.Options.SlotSize).IndexOfAnyExcept((byte)0) < 0);
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void A_key_gets_back_the_slot_it_used_last()
    {
        using SlotPool pool = NewPool(slots: 4, warm: 2);
        PooledSlot a = pool.Rent("module-a");
        PooledSlot b = pool.Rent("module-b");
        pool.ReturnAccepted(a);
        pool.ReturnAccepted(b);
        PooledSlot other = pool.Rent("module-c");
        Assert.NotEqual(a.Index, other.Index);
        Assert.NotEqual(b.Index, other.Index);
        PooledSlot a2 = pool.Rent("module-a");
        PooledSlot b2 = pool.Rent("module-b");
        Assert.Equal(a.Index, a2.Index);
        Assert.Equal(b.Index, b2.Index);
        Assert.Equal(2, pool.GetStatistics().AffinityHits);
        pool.ReturnAccepted(a2);
        pool.ReturnAccepted(b2);
        pool.ReturnAccepted(other);
    }

    [Fact]
    public void Warm_slots_are_bounded_and_the_oldest_key_is_forgotten_first()
    {
        using SlotPool pool = NewPool(slots: 3, warm: 1);
        PooledSlot a = pool.Rent("a");
        PooledSlot b = pool.Rent("b");
        pool.ReturnAccepted(a);
        pool.ReturnAccepted(b); // only one warm slot allowed: "a" is forgotten
        SlotPoolStatistics stats = pool.GetStatistics();
        Assert.Equal(1, stats.WarmFree);
        PooledSlot a2 = pool.Rent("a");
        Assert.Equal(0, pool.GetStatistics().AffinityHits);
        PooledSlot b2 = pool.Rent("b");
        Assert.Equal(b.Index, b2.Index);
        Assert.Equal(1, pool.GetStatistics().AffinityHits);
        pool.ReturnAccepted(a2);
        pool.ReturnAccepted(b2);
    }

    [Fact]
    public void When_no_cold_slot_is_left_a_warm_slot_of_another_key_is_reused()
    {
        using SlotPool pool = NewPool(slots: 1, warm: 1);
        PooledSlot a = pool.Rent("a");
        pool.ReturnAccepted(a);
        PooledSlot b = pool.Rent("b");
        Assert.Equal(a.Index, b.Index);
        pool.ReturnAccepted(b);
    }

    [Fact]
    public void Resets_are_batched_and_an_empty_pool_flushes_the_batch()
    {
        using SlotPool pool = NewPool(slots: 2, batch: 2);
        PooledSlot a = pool.Rent();
        new Span<byte>((void*)a.BaseAddress, 8).Fill(9);
        PooledSlot b = pool.Rent();
        pool.ReturnAccepted(a);
        Assert.Equal(1, pool.GetStatistics().PendingReset);
        // b is out and a waits for its batch: the checkout must reset a now rather than fail.
        PooledSlot c = pool.Rent();
        Assert.Equal(a.Index, c.Index);
        Assert.Equal(0, ((byte*)c.BaseAddress)[0]);
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        pool.ReturnAccepted(b);
        pool.ReturnAccepted(c);
        Assert.Equal(0, pool.GetStatistics().PendingReset); // the second return completed a batch of two
        Assert.Equal(0, pool.InUse);
    }

    [Fact]
    public void Flushing_resets_the_pending_batch_before_it_is_full()
    {
        using SlotPool pool = NewPool(slots: 4, batch: 4);
        PooledSlot a = pool.Rent();
        // The other slots stay out, so the next checkout is a's wherever the thread runs (a freed slot is parked on
        // the core that freed it; a thread that moved to another core took a cold slot instead, and this failed).
        PooledSlot[] others = [pool.Rent(), pool.Rent(), pool.Rent()];
        new Span<byte>((void*)a.BaseAddress, 8).Fill(9);
        pool.ReturnAccepted(a);
        Assert.Equal(1, pool.GetStatistics().PendingReset);
        pool.FlushPendingResets();
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        PooledSlot again = pool.Rent();
        Assert.Equal(a.Index, again.Index);
        Assert.Equal(0, ((byte*)again.BaseAddress)[0]);
        foreach (PooledSlot other in others)
        {
            pool.ReturnAccepted(other);
        }
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void Grow_makes_more_of_a_memory_accessible_and_shrinking_is_refused()
    {
        // Sizes are checked where users hand them in, the Store; the pool itself refuses shrinking.
        using PoolingAllocator allocator = TestAllocators.Small(slots: 2);
        Assert.Equal(16 * Page, allocator.Options.Memories.SlotSize);
        using var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory(accessibleBytes: 2 * Page);
        Assert.Equal(2 * Page, store.GetAccessibleBytes(memory));
        store.GrowMemory(memory, 8 * Page);
        ((byte*)store.GetSlotAddress(memory))[(int)(8 * Page) - 1] = 3;
        Assert.Equal(8 * Page, store.GetAccessibleBytes(memory));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(memory, Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(memory, 17 * Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(memory, 8 * Page + 1));
        Assert.Equal(8 * Page, store.GetAccessibleBytes(memory));
        store.ReturnSlot(memory);
        Assert.Equal(0, allocator.Memories.InUse);

        using SlotPool pool = NewPool(slots: 1);
        PooledSlot slot = pool.Rent(accessible: 2 * Page);
        pool.Grow(slot, 8 * Page);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Grow(slot, Page));
        Assert.Equal(8 * Page, pool.GetAccessibleBytes(slot));
        pool.ReturnAccepted(slot);
    }

    [Fact]
    public void Exhaustion_and_bad_tokens_leave_the_pool_consistent()
    {
        using SlotPool pool = NewPool(slots: 1);
        PooledSlot slot = pool.Rent();
        var ex = Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        Assert.Equal("memories", ex.Pool);
        Assert.Equal("SlotPoolOptions(memories).MaxSlots", ex.Limit);
        Assert.Equal(1, ex.ConfiguredValue);
        pool.ReturnAccepted(slot);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(slot));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => pool.GetAccessibleBytes(slot)).Reason);
        PooledSlot next = pool.Rent();
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(slot));
        Assert.Equal(InvalidTokenReason.Stale, Assert.Throws<InvalidTokenException>(() => pool.Grow(slot, 16 * Page)).Reason);
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(default));
        Assert.Equal(3, pool.GetStatistics().RefusedReturns);
        Assert.True(pool.IsCheckedOut(next));
        Assert.Equal(1, pool.InUse);
        pool.ReturnAccepted(next);
        Assert.Equal(0, pool.InUse);
    }

    [LinuxFact]
    public void Memory_beyond_keep_resident_is_given_back()
    {
        using SlotPool pool = NewPool(slots: 1, keep: 4 * Page);
        PooledSlot slot = pool.Rent();
        new Span<byte>((void*)slot.BaseAddress, (int)pool.Options.SlotSize).Fill(1);
        Assert.Equal((ulong)(16 * Page), pool.GetStatistics().ResidentBytes);
        pool.ReturnAccepted(slot);
        Assert.Equal((ulong)(4 * Page), pool.GetStatistics().ResidentBytes);
    }
}
