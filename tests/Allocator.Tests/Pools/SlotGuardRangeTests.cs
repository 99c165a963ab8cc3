using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Interior guards (e.g. between regions of a generated layout) stay inaccessible in every slot.</summary>
public sealed unsafe class SlotGuardRangeTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    private static SlotPool NewPool(nuint keep, int maxSlots = 2) => TestPools.Slots(SlotKind.Instance, new SlotPoolOptions
    {
        MaxSlots = maxSlots,
        SlotSize = 8 * Page,
        KeepResident = keep,
        GuardRanges = [new SlotGuardRange(2 * Page, Page), new SlotGuardRange(5 * Page, 2 * Page)],
    });

    [LinuxFact]
    public void Guard_pages_inside_a_slot_are_inaccessible_and_the_rest_is_read_write()
    {
        using SlotPool pool = NewPool(keep: 0);
        PooledSlot slot = pool.Rent();
        bool[] readable = Enumerable.Range(0, 8).Select(p => MemoryProbe.IsReadable(slot.BaseAddress + (nint)((nuint)p * Page))).ToArray();
        Assert.Equal(new[] { true, true, false, true, true, false, false, true }, readable);
        pool.ReturnAccepted(slot);
    }

    [LinuxFact]
    public void Growing_into_a_guard_keeps_it_guarded()
    {
        using SlotPool pool = NewPool(keep: 0);
        PooledSlot slot = pool.Rent(accessible: Page);
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + (nint)Page));
        pool.Grow(slot, 6 * Page);
        Assert.True(MemoryProbe.IsReadable(slot.BaseAddress + (nint)Page));
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + (nint)(2 * Page)));
        Assert.True(MemoryProbe.IsReadable(slot.BaseAddress + (nint)(4 * Page)));
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + (nint)(5 * Page)));
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + (nint)(7 * Page)));
        pool.ReturnAccepted(slot);
    }

    [Fact]
    public void Keep_resident_reset_steps_over_guards_and_zeroes_the_rest()
    {
        // Keeping the whole slot resident means zeroing it in place: the guards inside must be skipped, not touched.
        // One slot, so the next checkout is the same one wherever the thread runs (a returned slot is parked on the
        // core that returned it: with two, a thread that moved to the other core got the other slot, and this failed).
        using SlotPool pool = NewPool(keep: 8 * Page, maxSlots: 1);
        PooledSlot slot = pool.Rent();
        nuint[] open = [0, 1, 3, 4, 7];
        foreach (nuint p in open)
        {
            new Span<byte>((void*)(slot.BaseAddress + (nint)(p * Page)), (int)Page).Fill(0x77);
        }
        pool.ReturnAccepted(slot);
        PooledSlot again = pool.Rent();
        Assert.Equal(slot.Index, again.Index);
        foreach (nuint p in open)
        {
            Assert.True(new Span<byte>((void*)(again.BaseAddress + (nint)(p * Page)), (int)Page).IndexOfAnyExcept((byte)0) < 0);
        }
        pool.ReturnAccepted(again);
    }

    [Theory]
    [InlineData(1, 1)]          // not page aligned
    [InlineData(0, 0)]          // empty
    [InlineData(7, 2)]          // runs past the slot
    [InlineData(-1, -1)]        // overlapping pair
    public void Bad_guard_ranges_are_refused(int offsetPages, int lengthPages)
    {
        IReadOnlyList<SlotGuardRange> ranges = offsetPages switch
        {
            -1 => [new SlotGuardRange(Page, 2 * Page), new SlotGuardRange(2 * Page, Page)],
            1 when lengthPages == 1 => [new SlotGuardRange(Page + 8, Page)],
            _ => [new SlotGuardRange((nuint)offsetPages * Page, (nuint)lengthPages * Page)],
        };
        var options = new SlotPoolOptions { SlotSize = 8 * Page, GuardRanges = ranges };
        var ex = Assert.Throws<PoolConfigurationException>(() => options.Validate("instances"));
        Assert.Equal("SlotPoolOptions(instances).GuardRanges", ex.Field);
        // The allocator refuses them the same way, before it reserves anything.
        ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(new PoolingAllocatorOptions { Instances = options }));
        Assert.Equal("SlotPoolOptions(instances).GuardRanges", ex.Field);
    }
}
