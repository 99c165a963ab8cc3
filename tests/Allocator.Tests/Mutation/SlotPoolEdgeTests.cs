using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>Slot pool edges: guards given out of order, a disposed pool with every slot out, refusals with their
/// messages, and an image that starts past the slot's first page, mapped and then dropped.</summary>
public sealed class SlotPoolEdgeTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void Interior_guards_given_out_of_order_are_found_in_address_order()
    {
        using SlotPool pool = TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
        {
            MaxSlots = 1,
            SlotSize = 16 * Page,
            GuardRanges = [new SlotGuardRange(10 * Page, Page), new SlotGuardRange(4 * Page, Page)],
        });
        Assert.Equal(4 * Page, pool.NextGuardAtOrAfter(0));
        Assert.Equal(10 * Page, pool.NextGuardAtOrAfter(5 * Page));
        PooledSlot slot = pool.Rent();
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + 4 * (nint)Page));
        Assert.True(MemoryProbe.IsReadable(slot.BaseAddress + 5 * (nint)Page));
        Assert.False(MemoryProbe.IsReadable(slot.BaseAddress + 10 * (nint)Page));
        pool.ReturnAccepted(slot);
    }

    [Fact]
    public void A_disposed_pool_with_every_slot_out_refuses_as_disposed_not_exhausted()
    {
        SlotPool pool = TestPools.Slots(SlotKind.Instance, new SlotPoolOptions { MaxSlots = 1, SlotSize = Page });
        PooledSlot slot = pool.Rent();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        Assert.Equal(0, pool.Exhaustions);
        pool.ReturnAccepted(slot);
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void Refusals_say_which_slot_and_which_range()
    {
        using SlotPool pool = TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
        {
            MaxSlots = 1,
            SlotSize = 8 * Page,
            GuardRanges = [new SlotGuardRange(2 * Page, Page)],
        });
        PooledSlot slot = pool.Rent();
        ArgumentOutOfRangeException outside = Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, 7 * Page, 2 * Page));
        Assert.Contains($"[{7 * Page}, {7 * Page}+{2 * Page}) is outside the {8 * Page} accessible bytes of the slot.", outside.Message);
        ArgumentOutOfRangeException guard = Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetAccessibleRange(slot, Page, 2 * Page));
        Assert.Contains($"[{Page}, {Page}+{2 * Page}) overlaps the guard range [{2 * Page}, {3 * Page}), which is never accessible.", guard.Message);
        pool.ReturnAccepted(slot);
        InvalidTokenException stale = Assert.Throws<InvalidTokenException>(() => pool.GetAccessibleRange(slot, 0, 1));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, stale.Reason);
        Assert.Contains($"memories slot {slot.Index} is no longer this checkout's", stale.Message);
    }

    [Fact]
    public unsafe void An_image_starting_past_the_first_page_is_mapped_at_its_offset_and_dropped_there()
    {
        var options = TestAllocators.SmallOptions() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = 16 * Page, KeepResident = 0 },
        };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 1);
        using MemoryImage image = MemoryImage.Create([new MemoryImageSegment(3 * Page + 8, new byte[] { 1, 2, 3 })]);
        Assert.Equal(3 * Page, image.Start);

        SlotToken first = store.CheckoutMemoryFromImage(image, 8 * Page);
        Span<byte> memory = store.GetSlotMemory(first);
        Assert.Equal([1, 2, 3], memory.Slice((int)(3 * Page) + 8, 3).ToArray());
        Assert.Equal(-1, memory[..(int)(3 * Page)].IndexOfAnyExcept((byte)0));
        memory[(int)(3 * Page) + 8] = 9; // copy-on-write: the image keeps its byte
        store.ReturnSlot(first);

        // The same slot without the image: the mapping is dropped and the range reads as zeros.
        SlotToken plain = store.CheckoutMemory(accessibleBytes: 8 * Page);
        Assert.Equal(-1, store.GetSlotMemory(plain).IndexOfAnyExcept((byte)0));
        store.ReturnSlot(plain);

        SlotToken again = store.CheckoutMemoryFromImage(image, 8 * Page);
        Assert.Equal([1, 2, 3], store.GetSlotMemory(again).Slice((int)(3 * Page) + 8, 3).ToArray());
        store.ReturnSlot(again);
    }
}
