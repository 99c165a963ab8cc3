namespace Allocator;

/// <summary>A stack checked out of a <see cref="StackPool"/>: where it is, plus the checkout it belongs to.</summary>
/// <remarks>Stacks grow down: execution starts at <see cref="Top"/>; the guard page lies just below <see cref="Bottom"/>.</remarks>
public readonly record struct PooledStack
{
    internal PooledStack(int poolId, int index, uint generation, nint bottom, nuint size)
    {
        PoolId = poolId;
        Index = index;
        Generation = generation;
        Bottom = bottom;
        Size = size;
    }

    /// <summary>The pool that handed it out.</summary>
    public int PoolId { get; }

    /// <summary>Slot number inside the pool.</summary>
    public int Index { get; }

    /// <summary>Which checkout of that slot this is; a returned slot's old generation is stale.</summary>
    public uint Generation { get; }

    /// <summary>Lowest usable address; the guard page ends here.</summary>
    public nint Bottom { get; }

    /// <summary>One past the highest usable address: the initial stack pointer.</summary>
    public nint Top => Bottom + (nint)Size;

    /// <summary>Usable bytes.</summary>
    public nuint Size { get; }

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Generation != 0;
}
