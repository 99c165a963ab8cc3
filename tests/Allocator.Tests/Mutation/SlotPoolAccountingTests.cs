using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>A slot pool's statistics field by field after known sequences, the accessible prefix across reuse at
/// other sizes (probed page by page), and the exact edges of accessible ranges and interior guards.</summary>
public sealed class SlotPoolAccountingTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    private static SlotPool NewPool(SlotKind kind = SlotKind.Memory, int slots = 3, int warm = 0, int batch = 1, nuint keep = 0, SlotGuardRange[]? guards = null) =>
        TestPools.Slots(kind, new SlotPoolOptions
        {
            MaxSlots = slots,
            SlotSize = 16 * Page,
            GuardSize = 4 * Page,
            KeepResident = keep,
            MaxUnusedWarmSlots = warm,
            DecommitBatchSize = batch,
            GuardRanges = guards ?? [],
        });

    [Fact]
    public void Statistics_count_every_field_exactly()
    {
        using SlotPool pool = NewPool(slots: 3, warm: 1, batch: 2);
        Assert.Equal(new SlotPoolStatistics(3, 0, 0, 0, 0, 0, 0, 0, 0, 0), pool.GetStatistics());

        PooledSlot a = pool.Rent("a", 4 * Page), b = pool.Rent("b", 4 * Page), c = pool.Rent(null, 4 * Page);
        Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        pool.ReturnAccepted(a); // pending: batch of two not full
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(a));
        SlotPoolStatistics mid = pool.GetStatistics();
        Assert.Equal(new SlotPoolStatistics(Capacity: 3, InUse: 2, Peak: 3, WarmFree: 0, PendingReset: 1, AffinityHits: 0, TotalCheckouts: 3,
            Exhaustions: 1, RefusedReturns: 1, ResidentBytes: 0), mid);
        Assert.Equal(2, pool.InUse);
        Assert.Equal(3, pool.TotalCheckouts);
        Assert.Equal(1, pool.Exhaustions);
        Assert.Equal(1, pool.RefusedReturns);

        pool.ReturnAccepted(b); // the batch is full: a and b are reset and freed warm; one warm slot allowed
        Assert.Equal((1, 0), (pool.GetStatistics().WarmFree, pool.GetStatistics().PendingReset));
        PooledSlot b2 = pool.Rent("b", 4 * Page);
        Assert.Equal(b.Index, b2.Index);
        Assert.Equal(1, pool.AffinityHits);
        PooledSlot a2 = pool.Rent("a", 4 * Page); // "a" was forgotten: a cold slot, no hit
        Assert.Equal(1, pool.AffinityHits);
        Assert.Equal(new SlotPoolStatistics(3, 3, 3, 0, 0, 1, 5, 1, 1, 0), pool.GetStatistics());
        pool.ReturnAccepted(a2);
        pool.ReturnAccepted(b2);
        pool.ReturnAccepted(c);
        pool.FlushPendingResets();
        SlotPoolStatistics end = pool.GetStatistics();
        Assert.Equal((0, 3, 0, 5L), (end.InUse, end.Peak, end.PendingReset, end.TotalCheckouts));
    }

    [Fact]
    public void Resident_bytes_count_what_tenants_touched_and_drop_after_the_reset()
    {
        using SlotPool pool = NewPool(slots: 2, keep: Page);
        PooledSlot slot = pool.Rent(null, 4 * Page);
        unsafe
        {
            new Span<byte>((void*)slot.BaseAddress, (int)(3 * Page)).Fill(1);
        }
        Assert.Equal((ulong)(3 * Page), pool.GetStatistics().ResidentBytes);
        pool.ReturnAccepted(slot);
        Assert.Equal((ulong)Page, pool.GetStatistics().ResidentBytes);
    }

    [Theory]
    [InlineData(4, 2)]
    [InlineData(2, 4)]
    [InlineData(4, 4)]
    [InlineData(16, 0)]
    [InlineData(0, 16)]
    public void A_reused_slot_is_accessible_exactly_up_to_what_its_new_tenant_asked_for(int firstPages, int secondPages)
    {
        using SlotPool pool = NewPool(slots: 1);
        PooledSlot first = pool.Rent(null, (nuint)firstPages * Page);
        AssertAccessiblePages(pool, first, firstPages);
        pool.ReturnAccepted(first);
        PooledSlot second = pool.Rent(null, (nuint)secondPages * Page);
        Assert.Equal(first.Index, second.Index);
        Assert.Equal((nuint)secondPages * Page, pool.GetAccessibleBytes(second));
        AssertAccessiblePages(pool, second, secondPages);
        pool.ReturnAccepted(second);
    }

    [Fact]
    public void Growing_opens_exactly_the_new_pages_and_keeps_interior_guards_closed()
    {
        using SlotPool pool = NewPool(slots: 1, guards: [new SlotGuardRange(6 * Page, 2 * Page)]);
        PooledSlot slot = pool.Rent(null, 2 * Page);
        Assert.Equal(2 * Page, pool.Grow(slot, 2 * Page)); // same size: allowed, nothing changes
        Assert.Equal(2 * Page, pool.Grow(slot, 7 * Page));
        Assert.Equal(7 * Page, pool.GetAccessibleBytes(slot));
        bool[] readable = Enumerable.Range(0, 16).Select(p => MemoryProbe.IsReadable(slot.BaseAddress + p * (nint)Page)).ToArray();
        Assert.Equal([true, true, true, true, true, true, false, false, false, false, false, false, false, false, false, false], readable);
        Assert.Equal(7 * Page, pool.Grow(slot, 10 * Page));
        readable = Enumerable.Range(0, 16).Select(p => MemoryProbe.IsReadable(slot.BaseAddress + p * (nint)Page)).ToArray();
        Assert.Equal([true, true, true, true, true, true, false, false, true, true, false, false, false, false, false, false], readable);
        ArgumentOutOfRangeException shrink = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Grow(slot, 10 * Page - Page));
        Assert.Contains($"{10 * Page} bytes are accessible already", shrink.Message);
        pool.ReturnAccepted(slot);
        Assert.Throws<InvalidTokenException>(() => pool.Grow(slot, 12 * Page));
    }

    [Fact]
    public void Accessible_ranges_are_judged_at_their_exact_edges()
    {
        using SlotPool pool = NewPool(slots: 1, guards: [new SlotGuardRange(4 * Page, Page)]);
        PooledSlot slot = pool.Rent(null, 8 * Page);
        nint at(nuint offset) => slot.BaseAddress + (nint)offset;

        Assert.Equal(at(0), pool.GetAccessibleRange(slot, 0, 4 * Page));          // up to the guard
        Assert.Equal(at(5 * Page), pool.GetAccessibleRange(slot, 5 * Page, 3 * Page)); // from the guard's end to the bound
        Assert.Equal(at(8 * Page), pool.GetAccessibleRange(slot, 8 * Page, 0));   // empty range at the bound
        Assert.Equal(at(4 * Page - 1), pool.GetAccessibleRange(slot, 4 * Page - 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 4 * Page - 1, 2)); // one byte into the guard
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 5 * Page - 1, 1)); // last byte of the guard
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 0, 8 * Page));     // spans the guard
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 5 * Page, 3 * Page + 1)); // one past the bound
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 8 * Page + 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 6 * Page, nuint.MaxValue)); // no wrap-around

        Assert.Equal(4 * Page, pool.NextGuardAtOrAfter(0));
        Assert.Equal(4 * Page, pool.NextGuardAtOrAfter(4 * Page));
        Assert.Equal(4 * Page, pool.NextGuardAtOrAfter(5 * Page - 1));
        Assert.Equal(16 * Page, pool.NextGuardAtOrAfter(5 * Page));
        pool.ReturnAccepted(slot);
    }

    [Fact]
    public void Pools_are_named_by_kind_in_errors()
    {
        using SlotPool instances = NewPool(SlotKind.Instance, slots: 1);
        using SlotPool memories = NewPool(SlotKind.Memory, slots: 1);
        Assert.Equal("instances", instances.Name);
        Assert.Equal("memories", memories.Name);
        PooledSlot i = instances.Rent(), m = memories.Rent();
        PoolExhaustedException exhausted = Assert.Throws<PoolExhaustedException>(() => instances.Rent());
        Assert.Contains("SlotPoolOptions(instances).MaxSlots", exhausted.Message);
        Assert.Equal([$"instances slot {i.Index}: Store 0"], instances.DescribeCheckouts());
        Assert.Equal([$"memories slot {m.Index}: Store 0"], memories.DescribeCheckouts());
        instances.ReturnAccepted(i);
        memories.ReturnAccepted(m);
        Assert.Empty(instances.DescribeCheckouts());
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => memories.GetAccessibleBytes(m)).Reason);
    }

    [Fact]
    public void A_disposed_pool_refuses_checkouts_and_releases_its_memory_with_the_last_return()
    {
        SlotPool pool = NewPool(slots: 3, warm: 1, batch: 3);
        PooledSlot a = pool.Rent("a"), b = pool.Rent(), c = pool.Rent();
        pool.ReturnAccepted(a); // pending in the batch
        pool.ReturnAccepted(c);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        Assert.False(pool.IsReleased);
        Assert.True(pool.IsCheckedOut(b));
        pool.ReturnAccepted(b);
        Assert.True(pool.IsReleased);
        Assert.Equal(0, pool.InUse);
        pool.Dispose();
    }

    private static void AssertAccessiblePages(SlotPool pool, PooledSlot slot, int pages)
    {
        for (int p = 0; p < 16; p++)
        {
            Assert.True(MemoryProbe.IsReadable(slot.BaseAddress + p * (nint)Page) == p < pages, $"page {p} of {pages} accessible");
        }
    }
}
