using Allocator.Native;

namespace Allocator.Tests.Pools;

public sealed unsafe class SlotPoolTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    private static SlotPool NewPool(int slots = 4, int warm = 0, int batch = 1, nuint keep = 0) =>
        new("memories", new SlotPoolOptions { MaxSlots = slots, SlotSize = 16 * Page, GuardSize = 4 * Page, KeepResident = keep, MaxUnusedWarmSlots = warm, DecommitBatchSize = batch });

    [Fact]
    public void Contents_are_reset_before_reuse()
    {
        using SlotPool pool = NewPool(slots: 1, keep: 2 * Page);
        PooledSlot slot = pool.Rent();
        new Span<byte>((void*)slot.BaseAddress, (int)slot.Capacity).Fill(0xEE);
        pool.Return(slot);
        PooledSlot again = pool.Rent();
        Assert.Equal(slot.BaseAddress, again.BaseAddress);
        Assert.True(new Span<byte>((void*)again.BaseAddress, (int)again.Capacity).IndexOfAnyExcept((byte)0) < 0);
        pool.Return(again);
    }

    [Fact]
    public void A_key_gets_back_the_slot_it_used_last()
    {
        using SlotPool pool = NewPool(slots: 4, warm: 2);
        PooledSlot a = pool.Rent("module-a");
        PooledSlot b = pool.Rent("module-b");
        pool.Return(a);
        pool.Return(b);
        PooledSlot other = pool.Rent("module-c");
        Assert.NotEqual(a.Index, other.Index);
        Assert.NotEqual(b.Index, other.Index);
        PooledSlot a2 = pool.Rent("module-a");
        PooledSlot b2 = pool.Rent("module-b");
        Assert.Equal(a.Index, a2.Index);
        Assert.Equal(b.Index, b2.Index);
        Assert.Equal(2, pool.GetStatistics().AffinityHits);
        pool.Return(a2);
        pool.Return(b2);
        pool.Return(other);
    }

    [Fact]
    public void Warm_slots_are_bounded_and_the_oldest_key_is_forgotten_first()
    {
        using SlotPool pool = NewPool(slots: 3, warm: 1);
        PooledSlot a = pool.Rent("a");
        PooledSlot b = pool.Rent("b");
        pool.Return(a);
        pool.Return(b); // only one warm slot allowed: "a" is forgotten
        SlotPoolStatistics stats = pool.GetStatistics();
        Assert.Equal(1, stats.WarmFree);
        PooledSlot a2 = pool.Rent("a");
        Assert.Equal(0, pool.GetStatistics().AffinityHits);
        PooledSlot b2 = pool.Rent("b");
        Assert.Equal(b.Index, b2.Index);
        Assert.Equal(1, pool.GetStatistics().AffinityHits);
        pool.Return(a2);
        pool.Return(b2);
    }

    [Fact]
    public void When_no_cold_slot_is_left_a_warm_slot_of_another_key_is_reused()
    {
        using SlotPool pool = NewPool(slots: 1, warm: 1);
        PooledSlot a = pool.Rent("a");
        pool.Return(a);
        PooledSlot b = pool.Rent("b");
        Assert.Equal(a.Index, b.Index);
        pool.Return(b);
    }

    [Fact]
    public void Resets_are_batched_and_an_empty_pool_flushes_the_batch()
    {
        using SlotPool pool = NewPool(slots: 2, batch: 2);
        PooledSlot a = pool.Rent();
        new Span<byte>((void*)a.BaseAddress, 8).Fill(9);
        PooledSlot b = pool.Rent();
        pool.Return(a);
        Assert.Equal(1, pool.GetStatistics().PendingReset);
        // b is out and a waits for its batch: the checkout must reset a now rather than fail.
        PooledSlot c = pool.Rent();
        Assert.Equal(a.Index, c.Index);
        Assert.Equal(0, ((byte*)c.BaseAddress)[0]);
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        pool.Return(b);
        pool.Return(c);
        Assert.Equal(0, pool.GetStatistics().PendingReset); // the second return completed a batch of two
        Assert.Equal(0, pool.InUse);
    }

    [Fact]
    public void Flushing_resets_the_pending_batch_before_it_is_full()
    {
        using SlotPool pool = NewPool(slots: 4, batch: 4);
        PooledSlot a = pool.Rent();
        new Span<byte>((void*)a.BaseAddress, 8).Fill(9);
        pool.Return(a);
        Assert.Equal(1, pool.GetStatistics().PendingReset);
        pool.FlushPendingResets();
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        PooledSlot again = pool.Rent();
        Assert.Equal(a.Index, again.Index);
        Assert.Equal(0, ((byte*)again.BaseAddress)[0]);
        pool.Return(again);
    }

    [Fact]
    public void Grow_makes_more_of_a_memory_accessible_and_shrinking_is_refused()
    {
        using SlotPool pool = NewPool(slots: 1);
        PooledSlot slot = pool.Rent(accessibleBytes: 2 * Page);
        Assert.Equal(2 * Page, pool.GetAccessibleBytes(slot));
        pool.Grow(slot, 8 * Page);
        ((byte*)slot.BaseAddress)[(int)(8 * Page) - 1] = 3;
        Assert.Equal(8 * Page, pool.GetAccessibleBytes(slot));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Grow(slot, Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Grow(slot, 17 * Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Grow(slot, 8 * Page + 1));
        Assert.Equal(8 * Page, pool.GetAccessibleBytes(slot));
        pool.Return(slot);
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
        pool.Return(slot);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => pool.Return(slot)).Reason);
        PooledSlot next = pool.Rent();
        Assert.Equal(InvalidTokenReason.Stale, Assert.Throws<InvalidTokenException>(() => pool.Return(slot)).Reason);
        Assert.Equal(InvalidTokenReason.Unknown, Assert.Throws<InvalidTokenException>(() => pool.Return(default)).Reason);
        Assert.Equal(1, pool.InUse);
        pool.Return(next);
        Assert.Equal(0, pool.InUse);
    }

    [Support.LinuxFact]
    public void Memory_beyond_keep_resident_is_given_back()
    {
        using SlotPool pool = NewPool(slots: 1, keep: 4 * Page);
        PooledSlot slot = pool.Rent();
        new Span<byte>((void*)slot.BaseAddress, (int)slot.Capacity).Fill(1);
        Assert.Equal((ulong)(16 * Page), pool.GetStatistics().ResidentBytes);
        pool.Return(slot);
        Assert.Equal((ulong)(4 * Page), pool.GetStatistics().ResidentBytes);
    }
}
