namespace Allocator;

/// <summary>A slot checked out of a <see cref="SlotPool"/>: where it is, plus the checkout it belongs to.</summary>
public readonly record struct PooledSlot
{
    internal PooledSlot(int poolId, int index, uint generation, nint baseAddress, nuint capacity)
    {
        PoolId = poolId;
        Index = index;
        Generation = generation;
        BaseAddress = baseAddress;
        Capacity = capacity;
    }

    /// <summary>The pool that handed it out.</summary>
    public int PoolId { get; }

    /// <summary>Slot number inside the pool.</summary>
    public int Index { get; }

    /// <summary>Which checkout of that slot this is; a returned slot's old generation is stale.</summary>
    public uint Generation { get; }

    /// <summary>First byte of the slot.</summary>
    public nint BaseAddress { get; }

    /// <summary>Most bytes the slot can make accessible (the configured slot size).</summary>
    public nuint Capacity { get; }

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Generation != 0;
}
