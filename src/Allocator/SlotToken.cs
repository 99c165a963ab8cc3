namespace Allocator;

/// <summary>Proof that a Store checked out an instance or memory slot.</summary>
public readonly record struct SlotToken
{
    internal SlotToken(long storeId, long lease, SlotKind kind, PooledSlot slot)
    {
        StoreId = storeId;
        Lease = lease;
        Kind = kind;
        Slot = slot;
    }

    /// <summary>The Store that owns the slot.</summary>
    public long StoreId { get; }

    /// <summary>Which checkout of that Store this is.</summary>
    public long Lease { get; }

    /// <summary>Instance or memory.</summary>
    public SlotKind Kind { get; }

    /// <summary>The slot's location.</summary>
    public PooledSlot Slot { get; }

    /// <summary>False for <c>default</c>.</summary>
    public bool IsValid => Lease != 0;
}
