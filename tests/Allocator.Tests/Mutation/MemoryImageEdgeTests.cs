using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>MemoryImage's edges: empty images, the file spanning only the image's pages, the segment bounds, private
/// copies of the caller's bytes, exact restores of a partial range, and pool registration (refused once disposed,
/// and no pool kept alive by an image).</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class MemoryImageEdgeTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    private const ulong Max = OptionRules.MaxRegionBytes;
    private static readonly nuint MaxBytes = unchecked((nuint)Max);

    [Fact]
    public void Empty_images_span_nothing_and_map_no_file()
    {
        foreach (MemoryImage image in new[]
        {
            MemoryImage.Create(ReadOnlySpan<byte>.Empty),
            MemoryImage.Create(Array.Empty<MemoryImageSegment>()),
            MemoryImage.Create([new MemoryImageSegment(5 * Page, ReadOnlyMemory<byte>.Empty)]),
        })
        {
            using (image)
            {
                Assert.Equal(0u, image.Size);
                Assert.False(image.IsCopyOnWrite);
                Assert.Null(image.File);
            }
        }
    }

    [LinuxFact]
    public void Both_public_constructors_map_copy_on_write_and_the_file_spans_only_the_image_pages()
    {
        using MemoryImage fromBytes = MemoryImage.Create([1, 2, 3]);
        Assert.True(fromBytes.IsCopyOnWrite);
        Assert.Equal(Page, fromBytes.File!.Size);

        using MemoryImage sparse = MemoryImage.Create([new MemoryImageSegment(3 * Page + 5, new byte[] { 9 })]);
        Assert.True(sparse.IsCopyOnWrite);
        Assert.Equal((3 * Page, 4 * Page, 4 * Page), (sparse.Start, sparse.End, sparse.Size));
        Assert.Equal(Page, sparse.File!.Size);
    }

    [Fact]
    public void Null_segments_are_refused_by_name()
    {
        Assert.Equal("segments", Assert.Throws<ArgumentNullException>(() => MemoryImage.Create((IEnumerable<MemoryImageSegment>)null!)).ParamName);
    }

    [Fact]
    public void Segments_may_end_exactly_at_the_largest_slot_and_not_a_byte_beyond()
    {
        using (MemoryImage atEnd = MemoryImage.Create([new MemoryImageSegment(MaxBytes, ReadOnlyMemory<byte>.Empty)], copyOnWrite: false))
        {
            Assert.Equal(0u, atEnd.Size);
        }
        using (MemoryImage lastByte = MemoryImage.Create([new MemoryImageSegment(MaxBytes - 1, new byte[] { 1 })], copyOnWrite: false))
        {
            Assert.Equal(MaxBytes, lastByte.Size);
        }
        ArgumentOutOfRangeException beyond = Assert.Throws<ArgumentOutOfRangeException>(
            () => MemoryImage.Create([new MemoryImageSegment(MaxBytes - 1, new byte[] { 1, 2 })], copyOnWrite: false));
        Assert.Equal("segments", beyond.ParamName);
        Assert.StartsWith($"A segment of 2 bytes at offset {Max - 1} ends beyond {Max} bytes, the largest memory slot.", beyond.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(
            () => MemoryImage.Create([new MemoryImageSegment(MaxBytes + 1, ReadOnlyMemory<byte>.Empty)], copyOnWrite: false));
    }

    [Fact]
    public void The_image_keeps_its_own_copy_of_the_callers_bytes()
    {
        byte[] bytes = [1, 2, 3, 4];
        using MemoryImage image = MemoryImage.Create([new MemoryImageSegment(8, bytes)], copyOnWrite: false);
        bytes.AsSpan().Fill(0xEE);
        byte[] slot = new byte[Page];
        fixed (byte* b = slot)
        {
            image.CopyInto((nint)b);
            Assert.Equal([1, 2, 3, 4], slot[8..12]);
            slot.AsSpan().Fill(0xFF);
            image.RestoreInto((nint)b, 0, 16);
        }
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0], slot[..16]);
    }

    [Fact]
    public void A_restore_writes_exactly_the_asked_range()
    {
        byte[] data = Enumerable.Range(1, 100).Select(i => (byte)i).ToArray();
        using MemoryImage image = MemoryImage.Create([new MemoryImageSegment(10, data)], copyOnWrite: false);
        byte[] slot = new byte[Page];
        slot.AsSpan().Fill(0xFF);
        fixed (byte* b = slot)
        {
            image.RestoreInto((nint)b, 50, 200);
        }
        Assert.Equal(-1, slot.AsSpan(0, 50).IndexOfAnyExcept((byte)0xFF));
        Assert.Equal(data[40..], slot[50..110]);
        Assert.Equal(-1, slot.AsSpan(110, 90).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, slot.AsSpan(200).IndexOfAnyExcept((byte)0xFF));
    }

    [Fact]
    public void A_restore_past_one_gibibyte_copies_exactly_the_overlap()
    {
        const nuint offset = 1u << 30; // start + end past 2^31: a length computed from their sum is negative as an int
        byte[] data = [1, 2, 3, 4];
        using MemoryImage image = MemoryImage.Create([new MemoryImageSegment(offset + 8, data)], copyOnWrite: false);
        byte[] slot = new byte[64];
        slot.AsSpan().Fill(0xFF);
        fixed (byte* b = slot)
        {
            image.RestoreInto((nint)b - (nint)offset, offset, offset + 16); // a slot whose byte 2^30 is slot[0]
        }
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0], slot[..16]);
        Assert.Equal(-1, slot.AsSpan(16).IndexOfAnyExcept((byte)0xFF));
    }

    private static SlotPool Pool() => TestPools.Slots(SlotKind.Memory, new SlotPoolOptions { MaxSlots = 1, SlotSize = Page });

    [Fact]
    public void A_disposed_image_refuses_pools()
    {
        using SlotPool pool = Pool();
        var image = MemoryImage.Create([1]);
        Assert.True(image.TryRegisterPool(pool));
        image.Dispose();
        Assert.False(image.TryRegisterPool(pool));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Registered(MemoryImage image, bool unregister)
    {
        SlotPool pool = Pool();
        Assert.True(image.TryRegisterPool(pool));
        if (unregister)
        {
            image.UnregisterPool(pool);
        }
        return new WeakReference(pool);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_image_keeps_no_pool_alive_once_unregistered_or_disposed(bool unregister)
    {
        using var image = MemoryImage.Create([1]);
        WeakReference pool = Registered(image, unregister);
        if (!unregister)
        {
            image.Dispose();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(pool.IsAlive);
        GC.KeepAlive(image);
    }
}
