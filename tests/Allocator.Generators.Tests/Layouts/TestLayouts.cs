using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Configuration;

namespace Allocator.Generators.Tests.Layouts;

// Region types of different layout shapes, so the compile-and-run test checks the generator's sizes against the
// runtime's own.

public struct VmGlobals
{
    public long Fuel;
    public int Flags;
    public byte Mode;
}

[StructLayout(LayoutKind.Explicit)]
public struct Overlay
{
    [FieldOffset(0)] public long Whole;
    [FieldOffset(4)] public int High;
    [FieldOffset(9)] public byte Tail;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct Packed
{
    public byte Tag;
    public long Value;
}

[StructLayout(LayoutKind.Sequential, Size = 24)]
public struct Sized
{
    public int Only;
}

[InlineArray(4)]
public struct FourInts
{
    private int _element;
}

public struct Nested
{
    public Packed Inner;
    public short After;
}

public record struct Point(int X, int Y);

public enum Mode : byte
{
    Idle,
    Running,
}

[SlotLayout]
[SlotRegion("Globals", typeof(VmGlobals))]
[SlotRegion("Overlay", typeof(Overlay))]
[SlotRegion("Packed", typeof(Packed))]
[SlotRegion("Sized", typeof(Sized))]
[SlotRegion("Four", typeof(FourInts))]
[SlotRegion("Nested", typeof(Nested))]
[SlotRegion("Origin", typeof(Point))]
[SlotRegion("Modes", typeof(Mode), Count = 3)]
[SlotRegion("Table", typeof(long), Count = 32, Alignment = 64)]
[SlotRegion("Heap", Size = 8192, Alignment = 4096, GuardBytes = 4096)]
public partial struct TestVmContext;

[PoolingConfiguration(
    TotalStacks = 4, StackSize = 64 * 1024, ZeroStacksOnReturn = true,
    InstanceCount = 4, InstanceLayout = typeof(TestVmContext), MaxUnusedWarmInstances = 2,
    MemoryCount = 2, MemorySize = 64 * 1024,
    CacheStackInStore = false)]
public static partial class TestPools;
