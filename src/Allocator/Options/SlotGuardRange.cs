namespace Allocator;

/// <summary>A page-aligned range inside every slot that stays inaccessible, e.g. a guard between two regions of a
/// generated slot layout.</summary>
/// <param name="Offset">Bytes from the slot base; a page multiple.</param>
/// <param name="Length">Bytes; a non-zero page multiple.</param>
public readonly record struct SlotGuardRange(nuint Offset, nuint Length)
{
    /// <summary>One past the last guarded byte.</summary>
    public nuint End => Offset + Length;
}
