using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Zeroed stacks reset in batches: with nothing kept resident a run of neighbouring stacks goes back to the
/// OS in one discard (their guard pages included, which stay guards); with a kept top each stack gets its own. Either
/// way a stack handed out again reads zero wherever the last tenant wrote, however deep, and a pool that runs dry
/// resets its pending stacks before it reports exhaustion.</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class StackBatchedResetTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    // Read as each test's instance is made, before the test may change it. (A static field was read when the class
    // was first used, which could be inside a test that had just turned it off: every later test of the process then
    // ran with discards that never span guards, and the coalescing went untested.)
    private readonly bool _spansGuards = VirtualMemory.DiscardSpansGuards;
    private readonly List<(VirtualMemoryOperation Operation, nuint Size)> _calls = new();

    public void Dispose()
    {
        VirtualMemoryFaults.Hook = null;
        VirtualMemory.DiscardSpansGuards = _spansGuards;
    }

    private static StackPool Pool(nuint keepResident, int batch = 4, int maxStacks = 4) => TestPools.Stacks(new StackPoolOptions
    {
        MaxStacks = maxStacks,
        StackSize = 4 * Page,
        ZeroOnReturn = true,
        KeepResident = keepResident,
        DecommitBatchSize = batch,
    });

    private void Record(VirtualMemoryOperation? fail = null) => VirtualMemoryFaults.Hook = (operation, size) =>
    {
        lock (_calls)
        {
            _calls.Add((operation, size));
        }
        return operation == fail ? 12 : 0;
    };

    private List<nuint> Discards() => _calls.Where(c => c.Operation == VirtualMemoryOperation.Discard).Select(c => c.Size).ToList();

    /// <summary>Writes the whole stack, the deepest byte (just above the guard) included.</summary>
    private static void FillDeep(PooledStack stack) => new Span<byte>((void*)stack.Bottom, (int)stack.Size).Fill(0xAB);

    private static bool ReadsZero(PooledStack stack) => new Span<byte>((void*)stack.Bottom, (int)stack.Size).IndexOfAnyExcept((byte)0) < 0;

    private static PooledStack[] RentAll(StackPool pool, int count) => Enumerable.Range(0, count).Select(_ => pool.Rent()).ToArray();

    /// <summary>Rents <paramref name="count"/> stacks and writes every byte of each, as a tenant that went deep would.</summary>
    private static PooledStack[] RentWritten(StackPool pool, int count)
    {
        PooledStack[] stacks = RentAll(pool, count);
        foreach (PooledStack stack in stacks)
        {
            FillDeep(stack);
        }
        return stacks;
    }

    private static void ReturnAll(StackPool pool, IEnumerable<PooledStack> stacks)
    {
        foreach (PooledStack stack in stacks)
        {
            pool.ReturnAccepted(stack);
        }
    }

    [Fact]
    public void Neighbours_returned_in_one_batch_cost_one_discard_and_read_zero_when_handed_out_again()
    {
        using StackPool pool = Pool(keepResident: 0);
        PooledStack[] stacks = RentAll(pool, 4);
        Assert.Equal([0, 1, 2, 3], stacks.Select(s => s.Index).Order());
        foreach (PooledStack stack in stacks)
        {
            FillDeep(stack);
        }
        Record();
        foreach (PooledStack stack in stacks.Take(3))
        {
            pool.ReturnAccepted(stack);
        }
        Assert.Empty(_calls); // pending: not reset, and not free either
        Assert.Equal(4, pool.InUse);
        pool.ReturnAccepted(stacks[3]); // the fourth return resets the batch

        nuint stride = Page + 4 * Page;
        // From stack 0's bottom to stack 3's top, the three guards between them included (one call), where a discard
        // cannot span a guard (Windows) one per stack.
        Assert.Equal(_spansGuards ? [3 * stride + 4 * Page] : [4 * Page, 4 * Page, 4 * Page, 4 * Page], Discards());
        Assert.Equal(0, pool.InUse);
        VirtualMemoryFaults.Hook = null;
        PooledStack[] again = RentAll(pool, 4);
        Assert.All(again, stack => Assert.True(ReadsZero(stack)));
    }

    [Fact]
    public void Two_runs_of_neighbours_in_one_batch_cost_one_discard_each()
    {
        using StackPool pool = Pool(keepResident: 0, batch: 3);
        PooledStack[] stacks = RentWritten(pool, 4);
        Record();
        // Stacks 0 and 1, then 3: two runs, whatever order they come back in.
        ReturnAll(pool, stacks.Where(s => s.Index != 2).OrderByDescending(s => s.Index));
        nuint stride = Page + 4 * Page;
        Assert.Equal(_spansGuards ? [stride + 4 * Page, 4 * Page] : [4 * Page, 4 * Page, 4 * Page], Discards());
        VirtualMemoryFaults.Hook = null;
        pool.ReturnAccepted(stacks.Single(s => s.Index == 2));
        pool.FlushPendingResets();
        Assert.All(RentAll(pool, 4), stack => Assert.True(ReadsZero(stack)));
    }

    [Fact]
    public void Without_zeroing_a_returned_stack_is_free_at_once_whatever_the_batch_size()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 4, StackSize = 4 * Page, DecommitBatchSize = 4 });
        PooledStack stack = pool.Rent();
        Record();
        pool.ReturnAccepted(stack);
        Assert.Equal(0, pool.InUse); // not held back for a batch: there is nothing to reset
        Assert.Empty(_calls);
    }

    [LinuxFact]
    public void The_guards_inside_a_coalesced_discard_stay_guards()
    {
        using StackPool pool = Pool(keepResident: 0);
        PooledStack[] stacks = RentAll(pool, 4);
        foreach (PooledStack stack in stacks)
        {
            FillDeep(stack);
            pool.ReturnAccepted(stack);
        }
        PooledStack[] again = RentAll(pool, 4);
        foreach (PooledStack stack in again)
        {
            Assert.False(MemoryProbe.IsReadable(stack.Bottom - 1), $"the guard below stack {stack.Index} became readable");
            Assert.True(MemoryProbe.IsReadable(stack.Bottom));
            Assert.True(ReadsZero(stack));
        }
    }

    [Fact]
    public void The_guards_between_neighbours_stay_inaccessible_after_a_batched_reset_of_stacks_and_of_memory_slots()
    {
        // On Windows a discard commits its range read-write again: spanning a guard there would open it.
        using StackPool stacks = Pool(keepResident: 0);
        PooledStack[] rented = RentAll(stacks, 4);
        foreach (PooledStack stack in rented)
        {
            FillDeep(stack);
            stacks.ReturnAccepted(stack);
        }
        foreach (PooledStack stack in RentAll(stacks, 4))
        {
            Assert.False(PageAccess.IsReadable(stack.Bottom - 1), $"the guard below stack {stack.Index} became readable");
            Assert.True(ReadsZero(stack));
        }

        using SlotPool memories = TestPools.Slots(SlotKind.Memory, new SlotPoolOptions { MaxSlots = 4, SlotSize = 4 * Page, GuardSize = Page, DecommitBatchSize = 4 });
        PooledSlot[] slots = Enumerable.Range(0, 4).Select(_ => memories.Rent(accessible: 2 * Page)).ToArray();
        foreach (PooledSlot slot in slots)
        {
            new Span<byte>((void*)slot.BaseAddress, (int)(2 * Page)).Fill(0xCD);
            memories.ReturnAccepted(slot);
        }
        foreach (PooledSlot slot in Enumerable.Range(0, 4).Select(_ => memories.Rent(accessible: 2 * Page)))
        {
            Assert.True(PageAccess.IsReadable(slot.BaseAddress + (nint)Page));
            Assert.False(PageAccess.IsReadable(slot.BaseAddress + (nint)(2 * Page)), $"beyond slot {slot.Index}'s accessible bytes became readable");
            Assert.False(PageAccess.IsReadable(slot.BaseAddress + (nint)(4 * Page)), $"the guard after slot {slot.Index} became readable");
        }
    }

    [Fact]
    public void Without_discards_across_guards_each_stack_of_a_batch_is_discarded_on_its_own()
    {
        // Windows' discard commits its whole range read-write again, which across a guard would make it usable.
        VirtualMemory.DiscardSpansGuards = false;
        using StackPool pool = Pool(keepResident: 0);
        PooledStack[] stacks = RentWritten(pool, 4);
        Record();
        ReturnAll(pool, stacks);
        Assert.Equal([4 * Page, 4 * Page, 4 * Page, 4 * Page], Discards());
        VirtualMemoryFaults.Hook = null;
        Assert.All(RentAll(pool, 4), stack => Assert.True(ReadsZero(stack)));
    }

    [Fact]
    public void With_a_kept_top_each_stack_keeps_it_zeroed_in_place_and_discards_the_deep_rest()
    {
        using StackPool pool = Pool(keepResident: Page);
        PooledStack[] stacks = RentWritten(pool, 4);
        Record();
        ReturnAll(pool, stacks);
        // The kept tops lie between the discarded parts of neighbours: one call per stack, for the part below its top.
        Assert.Equal([3 * Page, 3 * Page, 3 * Page, 3 * Page], Discards());
        VirtualMemoryFaults.Hook = null;
        PooledStack[] again = RentAll(pool, 4);
        foreach (PooledStack stack in again)
        {
            Assert.True(ReadsZero(stack));
        }
    }

    [LinuxFact]
    public void With_a_kept_top_the_top_stays_resident_and_the_rest_is_given_back()
    {
        using StackPool pool = Pool(keepResident: Page);
        PooledStack[] stacks = RentWritten(pool, 4);
        ReturnAll(pool, stacks);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Page, pool.ResidentBytes(i));
        }
    }

    [Fact]
    public void A_pool_that_runs_dry_resets_its_pending_stacks_before_reporting_exhaustion()
    {
        using StackPool pool = Pool(keepResident: 0, batch: 2, maxStacks: 2);
        PooledStack a = pool.Rent(), b = pool.Rent();
        FillDeep(a);
        pool.ReturnAccepted(a); // pending: the batch is not full
        Assert.Equal(2, pool.InUse);
        PooledStack c = pool.Rent(); // nothing free: the pending batch is reset, then a goes out again
        Assert.Equal(a.Index, c.Index);
        Assert.True(ReadsZero(c));
        Assert.Equal(0, pool.Exhaustions);
        Assert.Null(pool.TryRent());
        Assert.Equal(1, pool.Exhaustions);
        pool.ReturnAccepted(b);
        pool.ReturnAccepted(c);
        pool.FlushPendingResets();
        Assert.Equal(0, pool.InUse);
    }

    [Fact]
    public void A_failed_coalesced_discard_leaves_the_whole_batch_pending_and_a_later_checkout_resets_it()
    {
        using StackPool pool = Pool(keepResident: 0);
        PooledStack[] stacks = RentWritten(pool, 4);
        Record(fail: VirtualMemoryOperation.Discard);
        foreach (PooledStack stack in stacks.Take(3))
        {
            pool.ReturnAccepted(stack);
        }
        Assert.Throws<VirtualMemoryException>(() => pool.Return(stacks[3]));
        Assert.Equal(4, pool.InUse); // none freed unreset
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(stacks[3])); // the return itself counted
        VirtualMemoryFaults.Hook = null;
        PooledStack[] again = RentAll(pool, 4); // the first checkout finds nothing free and resets the batch
        Assert.All(again, stack => Assert.True(ReadsZero(stack)));
    }

    [Fact]
    public void Dispose_releases_the_memory_with_stacks_still_pending_in_a_batch_and_waits_for_one_still_out()
    {
        StackPool pool = Pool(keepResident: 0);
        PooledStack[] stacks = RentAll(pool, 3);
        pool.ReturnAccepted(stacks[0]);
        pool.ReturnAccepted(stacks[1]); // both pending: the batch of 4 is not full
        pool.Dispose();
        Assert.False(pool.IsReleased); // stacks[2] is still out: a fiber may run on it
        pool.ReturnAccepted(stacks[2]);
        Assert.True(pool.IsReleased);
        Assert.Equal(0, pool.InUse);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void A_batch_size_outside_one_to_MaxStacks_is_refused_by_name(int batch)
    {
        var options = new StackPoolOptions { MaxStacks = 4, StackSize = 4 * Page, ZeroOnReturn = true, DecommitBatchSize = batch };
        var ex = Assert.Throws<PoolConfigurationException>(options.Validate);
        Assert.Contains("StackPoolOptions.DecommitBatchSize", ex.Message);
    }
}
