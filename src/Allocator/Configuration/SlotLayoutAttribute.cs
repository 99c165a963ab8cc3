namespace Allocator.Configuration;

/// <summary>Declares that a <c>partial struct</c> describes the layout of one pool slot. The Allocator.Generators
/// source generator lays out the struct's <see cref="SlotRegionAttribute"/> regions and adds offset and size
/// constants, a constructor over a slot's base address and typed accessors for each region.</summary>
/// <remarks>Layouts are computed for 4096-byte pages (<see cref="PageSize"/>); <see cref="SlotPoolOptions.Validate"/>
/// still checks the real page size at run time.</remarks>
/// <example>
/// <code>
/// [SlotLayout]
/// [SlotRegion("Globals", typeof(VmGlobals))]
/// [SlotRegion("Tables", typeof(nint), Count = 64, Alignment = 64)]
/// [SlotRegion("Scratch", Size = 16384, GuardBytes = 4096)]
/// public partial struct VmContext;
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class SlotLayoutAttribute : Attribute
{
    /// <summary>The page size the generator assumes when it rounds a layout to pages.</summary>
    public const int PageSize = 4096;

    /// <summary>Total slot size in bytes, a page multiple at least as large as the regions need. Zero (the default)
    /// takes what the regions need, rounded up to a page.</summary>
    public long SlotSize { get; set; }
}
