namespace Allocator.Configuration;

/// <summary>One named region of a <see cref="SlotLayoutAttribute"/> slot. Regions are placed in declaration order,
/// each at the next offset that meets its alignment, unless <see cref="Offset"/> pins it.</summary>
/// <remarks>A typed region gets a <c>ref T</c> accessor (or <c>Span&lt;T&gt;</c> when <see cref="Count"/> is set);
/// an untyped one gets a <c>Span&lt;byte&gt;</c> of <see cref="Size"/> bytes. The type must be unmanaged.</remarks>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public sealed class SlotRegionAttribute : Attribute
{
    /// <summary>A byte region; set <see cref="Size"/>.</summary>
    /// <param name="name">The accessor's name; a C# identifier unique within the layout.</param>
    public SlotRegionAttribute(string name)
    {
        Name = name;
    }

    /// <summary>A region holding <paramref name="type"/> (or <see cref="Count"/> of them).</summary>
    /// <param name="name">The accessor's name; a C# identifier unique within the layout.</param>
    /// <param name="type">An unmanaged type.</param>
    public SlotRegionAttribute(string name, Type type)
    {
        Name = name;
        Type = type;
    }

    /// <summary>The accessor's name.</summary>
    public string Name { get; }

    /// <summary>The element type, or null for a byte region.</summary>
    public Type? Type { get; }

    /// <summary>Bytes in the region. Required for a byte region; for a typed region it defaults to the type's size
    /// (times <see cref="Count"/>) and may only be larger.</summary>
    public long Size { get; set; }

    /// <summary>For a typed region, how many elements it holds, exposed as a <c>Span&lt;T&gt;</c>. Zero (the default)
    /// means a single value exposed as <c>ref T</c>.</summary>
    public int Count { get; set; }

    /// <summary>Alignment of the region's offset in bytes: a power of two up to the page size. Defaults to the
    /// type's natural alignment, or 8 for a byte region.</summary>
    public int Alignment { get; set; }

    /// <summary>Bytes kept free after the region, a page multiple. The guard starts at the first page boundary at or
    /// after the region's end; no region may overlap it.</summary>
    public long GuardBytes { get; set; }

    /// <summary>Fixed offset from the slot base. Negative (the default) places the region after the previous one.</summary>
    public long Offset { get; set; } = -1;
}
