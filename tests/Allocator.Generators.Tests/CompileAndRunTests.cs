using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Generators.Tests.Layouts;

namespace Allocator.Generators.Tests;

/// <summary>Uses layouts generated for this very project (the generator runs as its analyzer) against real pools.</summary>
public class CompileAndRunTests
{
    [Fact]
    public void GeneratedSizesMatchTheRuntime()
    {
        Assert.Equal(TestVmContext.GlobalsSize, Unsafe.SizeOf<VmGlobals>());
        Assert.Equal(TestVmContext.OverlaySize, Unsafe.SizeOf<Overlay>());
        Assert.Equal(TestVmContext.PackedSize, Unsafe.SizeOf<Packed>());
        Assert.Equal(TestVmContext.SizedSize, Unsafe.SizeOf<Sized>());
        Assert.Equal(TestVmContext.FourSize, Unsafe.SizeOf<FourInts>());
        Assert.Equal(TestVmContext.NestedSize, Unsafe.SizeOf<Nested>());
        Assert.Equal(TestVmContext.OriginSize, Unsafe.SizeOf<Point>());
        Assert.Equal(TestVmContext.ModesSize, 3 * Unsafe.SizeOf<Mode>());
        Assert.Equal(32 * sizeof(long), TestVmContext.TableSize);
    }

    [Fact]
    public void RegionsAreAlignedDisjointAndInsideTheSlot()
    {
        (int Offset, int Size, int Alignment)[] regions =
        {
            (TestVmContext.GlobalsOffset, TestVmContext.GlobalsSize, 8),
            (TestVmContext.OverlayOffset, TestVmContext.OverlaySize, 8),
            (TestVmContext.PackedOffset, TestVmContext.PackedSize, 1),
            (TestVmContext.SizedOffset, TestVmContext.SizedSize, 4),
            (TestVmContext.FourOffset, TestVmContext.FourSize, 4),
            (TestVmContext.NestedOffset, TestVmContext.NestedSize, 2),
            (TestVmContext.OriginOffset, TestVmContext.OriginSize, 4),
            (TestVmContext.ModesOffset, TestVmContext.ModesSize, 1),
            (TestVmContext.TableOffset, TestVmContext.TableSize, 64),
            (TestVmContext.HeapOffset, TestVmContext.HeapSize, 4096),
            (TestVmContext.HeapGuardOffset, TestVmContext.HeapGuardSize, 4096),
        };
        for (int i = 0; i < regions.Length; i++)
        {
            Assert.Equal(0, regions[i].Offset % regions[i].Alignment);
            Assert.True(regions[i].Offset + regions[i].Size <= TestVmContext.SlotSize);
            for (int j = i + 1; j < regions.Length; j++)
            {
                Assert.True(regions[i].Offset + regions[i].Size <= regions[j].Offset, $"region {i} overlaps region {j}");
            }
        }
        Assert.Equal(0, TestVmContext.SlotSize % TestVmContext.PageSize);
        Assert.Equal(TestVmContext.HeapGuardOffset, TestVmContext.AccessibleSize);
        Assert.Equal(TestVmContext.SlotSize, TestVmContext.HeapGuardOffset + TestVmContext.HeapGuardSize);
    }

    [Fact]
    public void GeneratedOptionsCarryTheConfiguration()
    {
        PoolingAllocatorOptions options = TestPools.CreateOptions();
        Assert.Equal(4, options.Stacks.MaxStacks);
        Assert.Equal((nuint)(64 * 1024), options.Stacks.StackSize);
        Assert.True(options.Stacks.ZeroOnReturn);
        Assert.Equal(4, options.Instances.MaxSlots);
        Assert.Equal((nuint)TestVmContext.SlotSize, options.Instances.SlotSize);
        Assert.Equal(2, options.Instances.MaxUnusedWarmSlots);
        Assert.Equal(1, options.Instances.DecommitBatchSize); // not set: the record's default
        // The layout's guard goes to the pool, which keeps it inaccessible inside every slot.
        Assert.Equal(new[] { new SlotGuardRange((nuint)TestVmContext.HeapGuardOffset, (nuint)TestVmContext.HeapGuardSize) }, options.Instances.GuardRanges);
        Assert.Equal(2, options.Memories.MaxSlots);
        Assert.Equal((nuint)(64 * 1024), options.Memories.SlotSize);
        Assert.False(options.CacheStackInStore);
        // Unset values keep the records' defaults.
        PoolingAllocatorOptions defaults = new();
        Assert.Equal(defaults.Memories.GuardSize, options.Memories.GuardSize);
        Assert.Equal(defaults.Stacks.KeepResident, options.Stacks.KeepResident);
        options.Validate();
    }

    [Fact]
    public void WritesThroughAccessorsLandInTheCheckedOutSlot()
    {
        using PoolingAllocator allocator = TestPools.CreateAllocator();
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutInstance(accessibleBytes: TestVmContext.AccessibleSize);
        var context = TestVmContext.Of(store, slot);
        nint b = store.GetSlotAddress(slot);
        Assert.Equal(b, context.SlotBase);

        context.Globals.Fuel = 1_000_000;
        context.Globals.Mode = 7;
        context.Overlay.Whole = 0x1122334455667788;
        context.Packed.Value = -5;
        context.Four[3] = 44;
        context.Nested.After = 300;
        context.Origin = new Point(3, 4);
        context.Modes[2] = Mode.Running;
        context.Table[31] = 31;
        context.Heap[^1] = 0xAB;

        Assert.Equal(1_000_000, Marshal.ReadInt64(b + TestVmContext.GlobalsOffset));
        Assert.Equal(7, Marshal.ReadByte(b + TestVmContext.GlobalsOffset + 12));
        Assert.Equal(0x11223344, Marshal.ReadInt32(b + TestVmContext.OverlayOffset + 4));
        Assert.Equal(-5, Marshal.ReadInt64(b + TestVmContext.PackedOffset + 1));
        Assert.Equal(44, Marshal.ReadInt32(b + TestVmContext.FourOffset + 12));
        Assert.Equal(300, Marshal.ReadInt16(b + TestVmContext.NestedOffset + 10));
        Assert.Equal(4, Marshal.ReadInt32(b + TestVmContext.OriginOffset + 4));
        Assert.Equal((byte)Mode.Running, Marshal.ReadByte(b + TestVmContext.ModesOffset + 2));
        Assert.Equal(31, Marshal.ReadInt64(b + TestVmContext.TableOffset + 31 * sizeof(long)));
        Assert.Equal(0xAB, Marshal.ReadByte(b + TestVmContext.HeapOffset + TestVmContext.HeapSize - 1));
        Assert.Equal(TestVmContext.TableCount, context.Table.Length);
        Assert.Equal(TestVmContext.HeapSize, context.Heap.Length);

        // A second view over the same slot sees the same data, and so does the Store's own view of it.
        Assert.Equal(1_000_000, new TestVmContext(b).Globals.Fuel);
        Assert.Equal(0xAB, store.GetSlotMemory(slot)[TestVmContext.HeapOffset + TestVmContext.HeapSize - 1]);
        store.ReturnSlot(slot);
        Assert.Equal(0, allocator.GetInstanceStatistics().InUse);
    }

    [Fact]
    public void StoreSlotsWorkThroughTheLayoutAndTheCheckedPattern()
    {
        using PoolingAllocator allocator = TestPools.CreateAllocator();
        var store = new Store<string>(allocator, "data");
        SlotToken instance = store.CheckoutInstance();
        var context = TestVmContext.Of(store, instance);
        context.Globals.Flags = 42;
        Assert.Equal(42, context.Globals.Flags);

        // The pattern ALLOC100/ALLOC101 must accept (this project builds with warnings as errors).
        StackToken stack = store.CheckoutStack("fiber");
        try
        {
            Assert.NotEqual(0, store.GetStackBounds(stack).Top);
        }
        finally
        {
            store.ReturnStack(stack);
        }
        Assert.Equal("data", store.IntoData());
        Assert.Equal(0, allocator.GetInstanceStatistics().InUse);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [Fact]
    public void ConstructorRejectsBadBases()
    {
        Assert.Throws<ArgumentException>(() => new TestVmContext(0));
        Assert.Throws<ArgumentException>(() => new TestVmContext(4096 + 8));
    }

    [Fact]
    public void OfRejectsSlotsWithTooFewAccessibleBytes()
    {
        Assert.True(TestVmContext.AccessibleSize > 4096);
        using PoolingAllocator allocator = TestPools.CreateAllocator();
        using var store = new Store<int>(allocator, 0);
        Assert.Throws<ArgumentNullException>(() => TestVmContext.Of<int>(null!, default));

        SlotToken small = store.CheckoutInstance(accessibleBytes: TestVmContext.AccessibleSize - 4096);
        ArgumentException error = Assert.Throws<ArgumentException>(() => TestVmContext.Of(store, small));
        Assert.Contains($"has {TestVmContext.AccessibleSize - 4096} read-write bytes but TestVmContext needs {TestVmContext.AccessibleSize}", error.Message);
        Assert.Equal("slot", error.ParamName);

        // Exactly AccessibleSize is enough: the trailing guard stays inaccessible.
        SlotToken exact = store.CheckoutInstance(accessibleBytes: TestVmContext.AccessibleSize);
        Assert.Equal(store.GetSlotAddress(exact), TestVmContext.Of(store, exact).SlotBase);
    }

    [Fact]
    public void OfRejectsTokensTheStoreDoesNotHold()
    {
        using PoolingAllocator allocator = TestPools.CreateAllocator();
        using var store = new Store<int>(allocator, 0);
        using var other = new Store<int>(allocator, 0);
        SlotToken foreign = other.CheckoutInstance();
        Assert.Throws<InvalidTokenException>(() => TestVmContext.Of(store, foreign));
        Assert.Throws<InvalidTokenException>(() => TestVmContext.Of(store, default));
    }
}
