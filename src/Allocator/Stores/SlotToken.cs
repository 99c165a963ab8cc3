using Allocator.Stores;

namespace Allocator;

/// <summary>Proof that a Store checked out an instance or memory slot; hand it back with
/// <see cref="Store{T}.ReturnSlot"/>, or let the Store return it when it ends.</summary>
/// <remarks>Opaque, like <see cref="StackToken"/>: it carries nothing a pool would accept.</remarks>
public readonly struct SlotToken : IEquatable<SlotToken>
{
    internal SlotToken(SlotLease lease) => Lease = lease;

    internal SlotLease? Lease { get; }

    /// <summary>The Store that checked the slot out (0 for <c>default</c>).</summary>
    public long StoreId => Lease?.StoreId ?? 0;

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Lease is not null;

    /// <inheritdoc />
    public bool Equals(SlotToken other) => ReferenceEquals(Lease, other.Lease);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SlotToken other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Lease?.GetHashCode() ?? 0;

    /// <inheritdoc />
    public override string ToString() => Lease is null ? "SlotToken(none)" : $"SlotToken(Store {StoreId}, {Lease.Pool.Name} slot)";

    /// <summary>Same checkout.</summary>
    public static bool operator ==(SlotToken left, SlotToken right) => left.Equals(right);

    /// <summary>Different checkouts.</summary>
    public static bool operator !=(SlotToken left, SlotToken right) => !left.Equals(right);
}
