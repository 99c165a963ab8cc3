using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>A batch of returned neighbouring slots is discarded with one <c>madvise</c> (the gaps between them hold
/// only never-populated pages), and a failed one leaves every slot of the batch pending, never free unreset.</summary>
[Collection(SerialCollection.Name)]
public sealed class BatchedResetTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    private readonly List<(VirtualMemoryOperation Operation, nuint Size)> _calls = new();

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static SlotPool Pool() => TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
    {
        MaxSlots = 8,
        SlotSize = 8 * Page,
        GuardSize = 2 * Page,
        DecommitBatchSize = 4,
    });

    private void Record(VirtualMemoryOperation? fail = null) => VirtualMemoryFaults.Hook = (operation, size) =>
    {
        lock (_calls)
        {
            _calls.Add((operation, size));
        }
        return operation == fail ? 12 : 0;
    };

    private static unsafe void Fill(PooledSlot slot, nuint bytes) => new Span<byte>((void*)slot.BaseAddress, (int)bytes).Fill(0xFE);

    private static unsafe bool IsZero(PooledSlot slot, nuint bytes) => new Span<byte>((void*)slot.BaseAddress, (int)bytes).IndexOfAnyExcept((byte)0) < 0;

    [Fact]
    public void Four_neighbours_returned_in_one_batch_cost_one_discard_and_read_zero_again()
    {
        using SlotPool pool = Pool();
        PooledSlot[] slots = Enumerable.Range(0, 4).Select(_ => pool.Rent(accessible: 4 * Page)).ToArray();
        Assert.Equal([0, 1, 2, 3], slots.Select(s => s.Index).Order());
        foreach (PooledSlot slot in slots)
        {
            Fill(slot, 4 * Page);
        }
        Record();
        foreach (PooledSlot slot in slots.Reverse())
        {
            pool.ReturnAccepted(slot); // the fourth return flushes the batch
        }
        // From slot 0's start to slot 3's accessible end; where a discard cannot span a guard (Windows) one per slot.
        Assert.All(_calls, call => Assert.Equal(VirtualMemoryOperation.Discard, call.Operation));
        Assert.Equal(VirtualMemory.DiscardSpansGuards ? [3 * (8 + 2) * Page + 4 * Page] : [4 * Page, 4 * Page, 4 * Page, 4 * Page],
            _calls.Select(call => call.Size));
        VirtualMemoryFaults.Hook = null;
        PooledSlot[] again = Enumerable.Range(0, 4).Select(_ => pool.Rent(accessible: 4 * Page)).ToArray();
        Assert.All(again, slot => Assert.True(IsZero(slot, 4 * Page)));
    }

    [Fact]
    public void Slots_that_are_not_neighbours_get_a_discard_each()
    {
        using SlotPool pool = Pool();
        PooledSlot[] slots = Enumerable.Range(0, 8).Select(_ => pool.Rent(accessible: 2 * Page)).ToArray();
        PooledSlot[] returned = slots.Where(s => s.Index % 2 == 0).ToArray();
        foreach (PooledSlot slot in returned)
        {
            Fill(slot, 2 * Page);
        }
        Record();
        foreach (PooledSlot slot in returned)
        {
            pool.ReturnAccepted(slot);
        }
        Assert.Equal(4, _calls.Count(c => c.Operation == VirtualMemoryOperation.Discard));
        Assert.All(_calls, c => Assert.Equal(2 * Page, c.Size));
    }

    [Fact]
    public void A_failed_coalesced_discard_leaves_the_whole_batch_pending_and_a_later_flush_resets_it()
    {
        using SlotPool pool = Pool();
        PooledSlot[] slots = Enumerable.Range(0, 4).Select(_ => pool.Rent(accessible: 4 * Page)).ToArray();
        foreach (PooledSlot slot in slots)
        {
            Fill(slot, 4 * Page);
        }
        for (int i = 0; i < 3; i++)
        {
            pool.ReturnAccepted(slots[i]);
        }
        Record(fail: VirtualMemoryOperation.Discard);
        Assert.Throws<VirtualMemoryException>(() => pool.Return(slots[3]));
        Assert.Equal(4, pool.GetStatistics().PendingReset);
        VirtualMemoryFaults.Hook = null;
        pool.FlushPendingResets();
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        PooledSlot[] again = Enumerable.Range(0, 4).Select(_ => pool.Rent(accessible: 4 * Page)).ToArray();
        Assert.All(again, slot => Assert.True(IsZero(slot, 4 * Page)));
    }
}
