using Allocator.Stores;

namespace Allocator;

/// <summary>Proof that a Store checked out an instance or memory slot; hand it back with
/// <see cref="Store{T}.ReturnSlot"/>, or let the Store return it when it ends.</summary>
/// <remarks>Opaque, like <see cref="StackToken"/>: it carries nothing a pool would accept, and the generation of its
/// checkout, so an old copy is refused after its lease has been reused.</remarks>
public readonly struct SlotToken : IEquatable<SlotToken>
{
    private readonly ulong _generation;

    internal SlotToken(SlotLease lease)
    {
        Lease = lease;
        StoreId = lease.StoreId;
        _generation = lease.Generation;
    }

    internal SlotLease? Lease { get; }

    /// <summary>The Store that checked the slot out (0 for <c>default</c>).</summary>
    public long StoreId { get; }

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Lease is not null;

    /// <summary>True while the checkout this token names is on (its lease shows the token's generation).</summary>
    internal bool NamesCurrentCheckout => Lease is { } lease && lease.Names(StoreId, _generation);

    /// <inheritdoc />
    public bool Equals(SlotToken other) => ReferenceEquals(Lease, other.Lease) && _generation == other._generation;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SlotToken other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Lease is null ? 0 : HashCode.Combine(Lease, _generation);

    /// <inheritdoc />
    public override string ToString() => Lease is null ? "SlotToken(none)" : $"SlotToken(Store {StoreId}, {Lease.Pool.Name} slot)";

    /// <summary>Same checkout.</summary>
    public static bool operator ==(SlotToken left, SlotToken right) => left.Equals(right);

    /// <summary>Different checkouts.</summary>
    public static bool operator !=(SlotToken left, SlotToken right) => !left.Equals(right);
}
