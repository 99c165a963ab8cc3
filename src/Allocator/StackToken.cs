namespace Allocator;

/// <summary>Proof that a Store checked out a stack; hand it back with <c>Store.ReturnStack</c>.</summary>
/// <remarks>The lease number is unique per checkout within a Store, so a copy of an old token is refused even when
/// the Store has kept the same physical stack cached and handed it out again.</remarks>
public readonly record struct StackToken
{
    internal StackToken(long storeId, long lease, PooledStack stack)
    {
        StoreId = storeId;
        Lease = lease;
        Stack = stack;
    }

    /// <summary>The Store that owns the stack.</summary>
    public long StoreId { get; }

    /// <summary>Which checkout of that Store this is.</summary>
    public long Lease { get; }

    /// <summary>The stack's location (bottom, top, size).</summary>
    public PooledStack Stack { get; }

    /// <summary>False for <c>default</c>.</summary>
    public bool IsValid => Lease != 0;
}
