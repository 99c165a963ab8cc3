using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>How a returned slot is reset, call by call: the kept bytes zeroed in place, the rest discarded, an image's
/// pages reverted, written pages restored after a PAGEMAP_SCAN, neighbours coalesced in a batch. Each case records the
/// memory calls the returning thread makes (operation and pages) and checks the next tenant's contents, the
/// neighbouring slots' contents (a reset never reaches them) and the resident bytes.</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class SlotPoolResetTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    /// <summary>Kept-resident pages from which a reset scans for written pages.</summary>
    private static readonly int ScanPages = (int)(WrittenPages.WorthScanningBytes / VirtualMemory.PageSize);

    /// <summary>Pages between two slots' starts: a slot and its trailing guard.</summary>
    private const int GuardPages = 4;

    private readonly List<(VirtualMemoryOperation Operation, nuint Pages)> _calls = new();

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static SlotPool Pool(int keepPages, int slotPages = 16, int slots = 3, int warm = 3, int batch = 1) =>
        TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
        {
            MaxSlots = slots,
            SlotSize = (nuint)slotPages * Page,
            GuardSize = GuardPages * Page,
            KeepResident = (nuint)keepPages * Page,
            MaxUnusedWarmSlots = warm,
            DecommitBatchSize = batch,
        });

    /// <summary>Image bytes from 100 bytes into page 2 up to 200 bytes into page 4: it spans pages [2, 5) and ends
    /// mid-page.</summary>
    private static MemoryImage Image() => MemoryImage.Create([new MemoryImageSegment(2 * Page + 100, ImageBytes())]);

    private static byte[] ImageBytes() => Enumerable.Range(0, 2 * (int)Page + 100).Select(i => (byte)(i * 5 + 3)).ToArray();

    /// <summary>What a fresh tenant of <paramref name="pages"/> pages reads: zeros, with the image's bytes if any.</summary>
    private static byte[] Fresh(int pages, bool image)
    {
        byte[] expected = new byte[pages * (int)Page];
        if (image)
        {
            ImageBytes().CopyTo(expected, 2 * (int)Page + 100);
        }
        return expected;
    }

    /// <summary>Records the memory calls of this thread (other threads' calls are not the reset's), statistics'
    /// residency queries left out; <paramref name="fail"/> fails the n-th call of an operation.</summary>
    private void Record(Func<VirtualMemoryOperation, int, bool>? fail = null)
    {
        int thread = Environment.CurrentManagedThreadId;
        int count = 0;
        lock (_calls)
        {
            _calls.Clear();
        }
        VirtualMemoryFaults.Hook = (operation, size) =>
        {
            if (Environment.CurrentManagedThreadId != thread || operation == VirtualMemoryOperation.Residency)
            {
                return 0;
            }
            lock (_calls)
            {
                _calls.Add((operation, size / Page));
                count = _calls.Count(c => c.Operation == operation);
            }
            return fail is not null && fail(operation, count) ? 12 : 0;
        };
    }

    /// <summary>The calls recorded since <see cref="Record"/>; stops recording.</summary>
    private (VirtualMemoryOperation, nuint)[] Recorded()
    {
        VirtualMemoryFaults.Hook = null;
        lock (_calls)
        {
            var calls = _calls.Select(c => (c.Operation, c.Pages)).ToArray();
            _calls.Clear();
            return calls;
        }
    }

    private static (VirtualMemoryOperation, nuint) Discard(int pages) => (VirtualMemoryOperation.Discard, (nuint)pages);

    private static (VirtualMemoryOperation, nuint) Map(int pages) => (VirtualMemoryOperation.Map, (nuint)pages);

    private static (VirtualMemoryOperation, nuint) Scan(int pages) => (VirtualMemoryOperation.Scan, (nuint)pages);

    private static Span<byte> Memory(PooledSlot slot, int pages) => new((void*)slot.BaseAddress, pages * (int)Page);

    /// <summary>Three slots out (indices 0, 1, 2): the middle one is the one under test, its neighbours hold 0xAA so
    /// that a reset reaching past its slot shows.</summary>
    private static (PooledSlot Below, PooledSlot Middle, PooledSlot Above) RentThree(SlotPool pool, int pages, MemoryImage? image)
    {
        PooledSlot[] slots = Enumerable.Range(0, 3).Select(_ => pool.Rent(TestPools.StoreId, null, (nuint)pages * Page, image))
            .OrderBy(s => s.Index).ToArray();
        Assert.Equal([0, 1, 2], slots.Select(s => s.Index));
        Memory(slots[0], pages).Fill(0xAA);
        Memory(slots[2], pages).Fill(0xAA);
        return (slots[0], slots[1], slots[2]);
    }

    private static void AssertNeighboursIntact(PooledSlot below, PooledSlot above, int pages)
    {
        Assert.True(Memory(below, pages).IndexOfAnyExcept((byte)0xAA) < 0, "the slot below keeps its contents");
        Assert.True(Memory(above, pages).IndexOfAnyExcept((byte)0xAA) < 0, "the slot above keeps its contents");
    }

    /// <summary>Returns the middle slot, reset at once (batch of one) or flushed as a batch of its own.</summary>
    private static void ReturnAndReset(SlotPool pool, PooledSlot slot, bool batched)
    {
        pool.ReturnAccepted(slot);
        if (batched)
        {
            Assert.Equal(1, pool.GetStatistics().PendingReset);
            pool.FlushPendingResets();
        }
    }

    [Theory]
    [InlineData(0, 8, false)]
    [InlineData(1, 8, false)]
    [InlineData(7, 8, false)]
    [InlineData(8, 8, false)]
    [InlineData(12, 8, false)]
    [InlineData(3, 0, false)]
    [InlineData(0, 8, true)]
    [InlineData(1, 8, true)]
    [InlineData(7, 8, true)]
    [InlineData(8, 8, true)]
    [InlineData(12, 8, true)]
    [InlineData(3, 0, true)]
    public void A_plain_slot_keeps_its_kept_pages_zeroed_and_discards_the_rest(int keepPages, int pages, bool batched)
    {
        using SlotPool pool = Pool(keepPages, batch: batched ? 3 : 1);
        var (below, middle, above) = RentThree(pool, pages, image: null);
        Memory(middle, pages).Fill(0xFE);
        int kept = Math.Min(keepPages, pages);
        Record();
        ReturnAndReset(pool, middle, batched);
        Assert.Equal(pages > kept ? [Discard(pages - kept)] : [], Recorded());
        AssertNeighboursIntact(below, above, pages);
        Assert.Equal((ulong)(2 * pages + kept) * Page, pool.GetStatistics().ResidentBytes);

        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page);
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, pages).IndexOfAnyExcept((byte)0) < 0, "the next tenant reads zeros");
    }

    /// <summary>Image [2, 5) in 8 accessible pages: kept bytes that reach into the image are not zeroed there (the
    /// image's pages are discarded, which reverts them), and the kept bytes past the image are zeroed in place.</summary>
    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, false)]
    [InlineData(5, false)]
    [InlineData(6, false)]
    [InlineData(7, false)]
    [InlineData(8, false)]
    [InlineData(0, true)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(5, true)]
    [InlineData(6, true)]
    [InlineData(8, true)]
    public void An_image_slot_reverts_the_image_and_zeroes_the_kept_pages_around_it(int keepPages, bool batched)
    {
        const int pages = 8;
        using SlotPool pool = Pool(keepPages, batch: batched ? 3 : 1);
        using MemoryImage image = Image();
        var (below, middle, above) = RentThree(pool, pages, image);
        Assert.True(Memory(middle, pages).SequenceEqual(Fresh(pages, image: true)));
        Memory(middle, pages).Fill(0xFE);
        Record();
        ReturnAndReset(pool, middle, batched);
        (VirtualMemoryOperation, nuint)[] expected = keepPages <= 2 ? [Discard(pages - keepPages)]
            : keepPages < pages - 3 ? [Discard(3), Discard(3)]
            : keepPages < pages ? [Discard(3), Discard(pages - keepPages)]
            : [Discard(3)];
        Assert.Equal(expected, Recorded());
        AssertNeighboursIntact(below, above, pages);

        Record();
        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page, image);
        Assert.Empty(Recorded()); // still mapped, still accessible: nothing to do
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, pages).SequenceEqual(Fresh(pages, image: true)), "the next tenant reads the image");
    }

    /// <summary>Kept-resident sizes at and around the scanning threshold, and a slot smaller than what is kept:
    /// only a reset that keeps at least <see cref="WrittenPages.WorthScanningBytes"/> scans.</summary>
    [ScanTheory]
    [InlineData(-1, 2, false)]
    [InlineData(0, -1, false)]
    [InlineData(0, 0, false)]
    [InlineData(0, 2, false)]
    [InlineData(-1, 2, true)]
    [InlineData(0, -1, true)]
    [InlineData(0, 0, true)]
    [InlineData(0, 2, true)]
    public void Only_a_reset_that_keeps_enough_scans_for_written_pages(int keepBeyondScan, int pagesBeyondScan, bool batched)
    {
        int keepPages = ScanPages + keepBeyondScan, pages = ScanPages + pagesBeyondScan;
        using SlotPool pool = Pool(keepPages, slotPages: ScanPages + 2, batch: batched ? 3 : 1);
        var (below, middle, above) = RentThree(pool, pages, image: null);
        Memory(middle, pages).Fill(0xFE);
        int kept = Math.Min(keepPages, pages);
        Record();
        ReturnAndReset(pool, middle, batched);
        (VirtualMemoryOperation, nuint)[] expected = kept < ScanPages ? (pages > kept ? [Discard(pages - kept)] : [])
            : pages > kept ? [Scan(pages), Discard(pages - kept)] : [Scan(pages)];
        Assert.Equal(expected, Recorded());
        AssertNeighboursIntact(below, above, pages);
        Assert.Equal((ulong)(2 * pages + kept) * Page, pool.GetStatistics().ResidentBytes);
        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page);
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, pages).IndexOfAnyExcept((byte)0) < 0, "the next tenant reads zeros");
    }

    /// <summary>A scanning reset restores the written pages in place (zeros, or the image's bytes over the image's
    /// pages, the page where the image ends included) and discards nothing when the writes fit the kept pages; pages
    /// only read cost nothing.</summary>
    [ScanTheory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void A_scanning_reset_restores_exactly_the_written_pages(bool withImage, bool batched)
    {
        int pages = 2 * ScanPages;
        using SlotPool pool = Pool(ScanPages, slotPages: pages, batch: batched ? 3 : 1);
        using MemoryImage image = Image();
        var (below, middle, above) = RentThree(pool, pages, withImage ? image : null);
        Span<byte> memory = Memory(middle, pages);
        int[] written = [0, 1, 3, 4, 9, ScanPages + 5, pages - 1];
        foreach (int page in written)
        {
            memory[page * (int)Page + 150] = 0xFE;
        }
        int read = memory[2 * (int)Page + 7] + memory[20 * (int)Page];
        Record();
        ReturnAndReset(pool, middle, batched);
        Assert.Equal([Scan(pages)], Recorded());
        AssertNeighboursIntact(below, above, pages);
        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page, withImage ? image : null);
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, pages).SequenceEqual(Fresh(pages, withImage)), $"the next tenant reads a fresh memory ({read})");
    }

    /// <summary>A tenant that wrote more pages than are kept: the scan stops after the kept number of written pages,
    /// those are restored in place and everything past the scan's end is discarded.</summary>
    [ScanTheory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void A_scan_that_stops_at_the_kept_pages_discards_the_rest(bool withImage, bool batched)
    {
        int pages = 2 * ScanPages + 8;
        using SlotPool pool = Pool(ScanPages, slotPages: pages, batch: batched ? 3 : 1);
        using MemoryImage image = Image();
        var (below, middle, above) = RentThree(pool, pages, withImage ? image : null);
        Span<byte> memory = Memory(middle, pages);
        memory.Fill(0xFE); // the scan stops after the first ScanPages pages
        Record();
        ReturnAndReset(pool, middle, batched);
        Assert.Equal([Scan(pages), Discard(pages - ScanPages)], Recorded());
        AssertNeighboursIntact(below, above, pages);
        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page, withImage ? image : null);
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, pages).SequenceEqual(Fresh(pages, withImage)), "the next tenant reads a fresh memory");
    }

    /// <summary>A pool that keeps no warm slot, or an image disposed while its slot was out: the reset replaces the
    /// image's pages with anonymous memory first, then resets the slot as a plain one, and the image's memory is
    /// released once nothing maps it.</summary>
    [LinuxTheory]
    [InlineData(0, false, false)]
    [InlineData(3, false, false)]
    [InlineData(0, false, true)]
    [InlineData(3, false, true)]
    [InlineData(0, true, false)]
    [InlineData(3, true, false)]
    [InlineData(0, true, true)]
    [InlineData(3, true, true)]
    public void A_slot_that_cannot_stay_warm_for_its_image_drops_it_in_the_reset(int keepPages, bool imageDisposed, bool batched)
    {
        const int pages = 8;
        using SlotPool pool = Pool(keepPages, warm: imageDisposed ? 3 : 0, batch: batched ? 3 : 1);
        MemoryImage image = Image();
        var (below, middle, above) = RentThree(pool, pages, image);
        Memory(middle, pages).Fill(0xFE);
        if (imageDisposed)
        {
            image.Dispose();
        }
        Record();
        ReturnAndReset(pool, middle, batched);
        Assert.Equal([Map(3), Discard(pages - keepPages)], Recorded());
        AssertNeighboursIntact(below, above, pages);
        Assert.Equal((ulong)(2 * pages + keepPages) * Page, pool.GetStatistics().ResidentBytes);
        pool.ReturnAccepted(below);
        pool.ReturnAccepted(above);
        pool.FlushPendingResets();
        image.Dispose();
        Assert.True(image.IsReleased, "no slot maps the image any more");

        PooledSlot again = pool.Rent(TestPools.StoreId, null, (nuint)pages * Page);
        Assert.True(Memory(again, pages).IndexOfAnyExcept((byte)0) < 0, "no byte of the image or its tenant shows");
    }

    /// <summary>A slot whose protection change failed (here: a grow) is dirty: its reset replaces the whole slot
    /// with fresh inaccessible memory, and the next checkout opens exactly what it asks for.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_dirty_slot_is_replaced_whole_and_opened_again_from_nothing(bool batched)
    {
        using SlotPool pool = Pool(keepPages: 2, batch: batched ? 3 : 1);
        var (below, middle, above) = RentThree(pool, 4, image: null);
        Memory(middle, 4).Fill(0xFE);
        Record(fail: (operation, _) => operation == VirtualMemoryOperation.Protect);
        Assert.Throws<VirtualMemoryException>(() => pool.Grow(middle, 8 * Page));
        Assert.Equal([(VirtualMemoryOperation.Protect, (nuint)4)], Recorded());
        Assert.Equal(8 * Page, pool.GetAccessibleBytes(middle)); // an upper bound: the grow may have opened some of it
        Record();
        ReturnAndReset(pool, middle, batched);
        Assert.Equal([Map(16)], Recorded());
        AssertNeighboursIntact(below, above, 4);
        Assert.Equal((ulong)8 * Page, pool.GetStatistics().ResidentBytes);

        Record();
        PooledSlot again = pool.Rent(TestPools.StoreId, null, 2 * Page);
        Assert.Equal([(VirtualMemoryOperation.Protect, (nuint)2)], Recorded());
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, 2).IndexOfAnyExcept((byte)0) < 0);
        Assert.False(MemoryProbe.IsReadable(again.BaseAddress + 2 * (nint)Page), "the slot is open only as far as asked");
        Record();
        ReturnAndReset(pool, again, batched);
        Assert.Equal([], Recorded()); // clean again: two kept pages, nothing beyond them
    }

    private static PooledSlot[] RentAll(SlotPool pool, params int[] pages)
    {
        PooledSlot[] slots = pages.Select(p => pool.Rent(TestPools.StoreId, null, (nuint)p * Page)).OrderBy(s => s.Index).ToArray();
        Assert.Equal(Enumerable.Range(0, pages.Length), slots.Select(s => s.Index));
        for (int i = 0; i < slots.Length; i++)
        {
            Memory(slots[i], pages[i]).Fill(0xFE);
        }
        return slots;
    }

    /// <summary>Neighbours coalesce into one discard only when nothing between them is kept: a slot with no
    /// accessible bytes joins a run (its whole stride is never populated), but an empty run does not start one.</summary>
    [Fact]
    public void Neighbours_coalesce_through_a_slot_with_no_accessible_bytes()
    {
        using SlotPool pool = Pool(keepPages: 0, batch: 3);
        PooledSlot[] slots = RentAll(pool, 4, 0, 4);
        Record();
        foreach (PooledSlot slot in slots)
        {
            pool.ReturnAccepted(slot);
        }
        Assert.Equal([Discard(2 * (16 + GuardPages) + 4)], Recorded());
        Assert.Equal(0UL, pool.GetStatistics().ResidentBytes);
    }

    [Fact]
    public void A_batch_that_starts_with_an_empty_slot_does_not_reach_back_into_it()
    {
        using SlotPool pool = Pool(keepPages: 0, batch: 3);
        PooledSlot[] slots = RentAll(pool, 4, 0, 4);
        Record();
        pool.ReturnAccepted(slots[1]);
        pool.ReturnAccepted(slots[2]);
        pool.FlushPendingResets();
        Assert.Equal([Discard(4)], Recorded());
        Assert.True(Memory(slots[0], 4).IndexOfAnyExcept((byte)0xFE) < 0, "slot 0 is still out and keeps its contents");
    }

    [Fact]
    public void Neighbours_with_kept_pages_are_discarded_one_by_one()
    {
        using SlotPool pool = Pool(keepPages: 1, batch: 3);
        PooledSlot[] slots = RentAll(pool, 4, 4, 4);
        Record();
        foreach (PooledSlot slot in slots)
        {
            pool.ReturnAccepted(slot);
        }
        Assert.Equal([Discard(3), Discard(3), Discard(3)], Recorded());
        Assert.Equal((ulong)3 * Page, pool.GetStatistics().ResidentBytes);
        PooledSlot[] again = RentAllClean(pool, 3, 4);
        Assert.All(again, slot => Assert.True(Memory(slot, 4).IndexOfAnyExcept((byte)0) < 0));
    }

    private static PooledSlot[] RentAllClean(SlotPool pool, int count, int pages) =>
        Enumerable.Range(0, count).Select(_ => pool.Rent(TestPools.StoreId, null, (nuint)pages * Page)).ToArray();

    /// <summary>Warm slots of an image that starts at the slot's first byte, nothing kept: the image's pages are
    /// reverted by the same discard that resets the rest, so neighbours still coalesce into one.</summary>
    [LinuxFact]
    public void Neighbours_mapping_an_image_at_their_start_coalesce_when_nothing_is_kept()
    {
        using SlotPool pool = Pool(keepPages: 0, batch: 2);
        using MemoryImage image = MemoryImage.Create(Enumerable.Range(0, (int)Page + 5).Select(i => (byte)(i % 251 + 1)).ToArray());
        PooledSlot[] slots = Enumerable.Range(0, 2).Select(_ => pool.Rent(TestPools.StoreId, null, 4 * Page, image)).OrderBy(s => s.Index).ToArray();
        Assert.Equal([0, 1], slots.Select(s => s.Index));
        foreach (PooledSlot slot in slots)
        {
            Memory(slot, 4).Fill(0xFE);
        }
        Record();
        pool.ReturnAccepted(slots[0]);
        pool.ReturnAccepted(slots[1]);
        Assert.Equal([Discard(16 + GuardPages + 4)], Recorded());
        PooledSlot again = pool.Rent(TestPools.StoreId, null, 4 * Page, image);
        byte[] expected = new byte[4 * Page];
        Enumerable.Range(0, (int)Page + 5).Select(i => (byte)(i % 251 + 1)).ToArray().CopyTo(expected, 0);
        Assert.True(Memory(again, 4).SequenceEqual(expected), "the image again, zeros past it");
    }

    /// <summary>A slot that needs the full reset splits the batch: the run before it is discarded first, the run after
    /// it separately.</summary>
    [Fact]
    public void A_dirty_slot_in_a_batch_splits_the_runs_around_it()
    {
        using SlotPool pool = Pool(keepPages: 0, batch: 3);
        PooledSlot[] slots = RentAll(pool, 4, 4, 4);
        Record(fail: (operation, _) => operation == VirtualMemoryOperation.Protect);
        Assert.Throws<VirtualMemoryException>(() => pool.Grow(slots[1], 8 * Page));
        Record();
        foreach (PooledSlot slot in slots)
        {
            pool.ReturnAccepted(slot);
        }
        Assert.Equal([Discard(4), Map(16), Discard(4)], Recorded());
        Assert.Equal(0UL, pool.GetStatistics().ResidentBytes);
    }

    /// <summary>A batch that fails part-way frees exactly the slots reset before the failure; the failed slot and
    /// those after it stay pending and are reset by the next flush.</summary>
    [Theory]
    [InlineData(false, 1, 3)]
    [InlineData(true, 1, 2)]
    [InlineData(false, 2, 1)]
    public void A_batch_failing_part_way_frees_only_the_slots_reset_before(bool failMap, int nth, int pending)
    {
        VirtualMemoryOperation failing = failMap ? VirtualMemoryOperation.Map : VirtualMemoryOperation.Discard;
        using SlotPool pool = Pool(keepPages: 0, batch: 3);
        PooledSlot[] slots = RentAll(pool, 4, 4, 4);
        Record(fail: (operation, _) => operation == VirtualMemoryOperation.Protect);
        Assert.Throws<VirtualMemoryException>(() => pool.Grow(slots[1], 8 * Page));
        pool.ReturnAccepted(slots[0]);
        pool.ReturnAccepted(slots[1]);
        Record(fail: (operation, count) => operation == failing && count == nth);
        Assert.Throws<VirtualMemoryException>(() => pool.Return(slots[2]));
        VirtualMemoryFaults.Hook = null;
        SlotPoolStatistics stats = pool.GetStatistics();
        Assert.Equal((pending, 0), (stats.PendingReset, stats.InUse));
        Record();
        pool.FlushPendingResets();
        Assert.Equal(0, pool.GetStatistics().PendingReset);
        (VirtualMemoryOperation, nuint)[] rest = pending switch
        {
            3 => [Discard(4), Map(16), Discard(4)],
            2 => [Map(16), Discard(4)],
            _ => [Discard(4)],
        };
        Assert.Equal(rest, Recorded());
        PooledSlot[] again = RentAllClean(pool, 3, 4);
        Assert.All(again, slot => Assert.True(Memory(slot, 4).IndexOfAnyExcept((byte)0) < 0));
    }

    /// <summary>A dirty slot that mapped an image forgets it with the whole-slot replacement: the next checkout of the
    /// same image maps it again and reads it, and the image's memory is released once that one is returned.</summary>
    [LinuxFact]
    public void A_dirty_slot_forgets_its_image_and_maps_it_again_for_the_next_tenant()
    {
        using SlotPool pool = Pool(keepPages: 0);
        MemoryImage image = Image();
        var (below, middle, above) = RentThree(pool, 8, image: null);
        pool.ReturnAccepted(middle);
        PooledSlot slot = pool.Rent(TestPools.StoreId, null, 8 * Page, image);
        Assert.Equal(middle.Index, slot.Index);
        Memory(slot, 8).Fill(0xFE);
        Record(fail: (operation, _) => operation == VirtualMemoryOperation.Protect);
        Assert.Throws<VirtualMemoryException>(() => pool.Grow(slot, 12 * Page));
        Record();
        pool.ReturnAccepted(slot);
        Assert.Equal([Map(16)], Recorded());

        Record();
        PooledSlot again = pool.Rent(TestPools.StoreId, null, 8 * Page, image);
        Assert.Equal([(VirtualMemoryOperation.Protect, (nuint)8), Map(3)], Recorded());
        Assert.Equal(middle.Index, again.Index);
        Assert.True(Memory(again, 8).SequenceEqual(Fresh(8, image: true)), "the next tenant reads the image");
        AssertNeighboursIntact(below, above, 8);
        image.Dispose();
        Assert.False(image.IsReleased, "a slot maps it");
        pool.ReturnAccepted(again);
        Assert.True(image.IsReleased, "the slot dropped the disposed image");
    }

    /// <summary>An interior guard below the image: the kept bytes are zeroed around it, the zeroing past the image
    /// steps over it (it lies before the range) and never touches the image's pages.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Kept_bytes_are_zeroed_around_a_guard_that_lies_below_the_image(bool batched)
    {
        using SlotPool pool = TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
        {
            MaxSlots = 2,
            SlotSize = 16 * Page,
            KeepResident = 8 * Page,
            MaxUnusedWarmSlots = 1,
            DecommitBatchSize = batched ? 2 : 1,
            GuardRanges = [new SlotGuardRange(Page, Page)],
        });
        using MemoryImage image = Image();
        PooledSlot slot = pool.Rent(TestPools.StoreId, null, 8 * Page, image);
        Span<byte> memory = Memory(slot, 8);
        memory[..(int)Page].Fill(0xFE);
        memory[(2 * (int)Page)..].Fill(0xFE);
        Record();
        pool.ReturnAccepted(slot);
        if (batched)
        {
            pool.FlushPendingResets();
        }
        Assert.Equal([Discard(3)], Recorded());
        PooledSlot again = pool.Rent(TestPools.StoreId, null, 8 * Page, image);
        Assert.False(MemoryProbe.IsReadable(again.BaseAddress + (nint)Page), "the guard stays closed");
        byte[] expected = Fresh(8, image: true);
        memory = Memory(again, 8);
        Assert.True(memory[..(int)Page].SequenceEqual(expected.AsSpan(0, (int)Page)));
        Assert.True(memory[(2 * (int)Page)..].SequenceEqual(expected.AsSpan(2 * (int)Page)), "the image and zeros past it");
    }

    /// <summary>A checkout whose protection change fails consumes its generation: the next checkout of the slot gets
    /// a new one, past the failed one's.</summary>
    [Fact]
    public void A_failed_checkout_uses_up_its_generation()
    {
        using SlotPool pool = Pool(keepPages: 0, slots: 1, warm: 1);
        PooledSlot first = pool.Rent(TestPools.StoreId, null, 4 * Page);
        pool.ReturnAccepted(first);
        Record(fail: (operation, _) => operation == VirtualMemoryOperation.Protect);
        Assert.Throws<VirtualMemoryException>(() => pool.Rent(TestPools.StoreId, null, 8 * Page));
        Record();
        PooledSlot next = pool.Rent(TestPools.StoreId, null, 8 * Page);
        Assert.Equal([(VirtualMemoryOperation.Protect, (nuint)8)], Recorded()); // the failed one was reset to nothing
        Assert.Equal(first.Index, next.Index);
        Assert.Equal(first.Generation + 4, next.Generation);
        Assert.False(pool.IsCheckedOut(first with { Generation = first.Generation + 2 }), "the failed checkout's generation is not the next tenant's");
    }

    /// <summary>A theory about resets that scan for written pages: PAGEMAP_SCAN needs Linux 6.7+.</summary>
    private sealed class ScanTheoryAttribute : TheoryAttribute
    {
        public ScanTheoryAttribute()
        {
            if (!WrittenPages.IsSupported)
            {
                Skip = "PAGEMAP_SCAN is not available here";
            }
        }
    }
}
