using Allocator.Stores;

namespace Allocator;

/// <summary>Proof that a Store checked out a stack; hand it back with <see cref="Store{T}.ReturnStack"/>.</summary>
/// <remarks>Opaque: it names one checkout of one Store and carries nothing a pool would accept. Every checkout gets
/// a new lease, so a copy of an old token is refused even when the Store hands the same stack out again.</remarks>
public readonly struct StackToken : IEquatable<StackToken>
{
    internal StackToken(StackLease lease) => Lease = lease;

    internal StackLease? Lease { get; }

    /// <summary>The Store that checked the stack out (0 for <c>default</c>).</summary>
    public long StoreId => Lease?.StoreId ?? 0;

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Lease is not null;

    /// <inheritdoc />
    public bool Equals(StackToken other) => ReferenceEquals(Lease, other.Lease);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is StackToken other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Lease?.GetHashCode() ?? 0;

    /// <inheritdoc />
    public override string ToString() => Lease is null ? "StackToken(none)" : $"StackToken(Store {StoreId}, '{Lease.Owner}')";

    /// <summary>Same checkout.</summary>
    public static bool operator ==(StackToken left, StackToken right) => left.Equals(right);

    /// <summary>Different checkouts.</summary>
    public static bool operator !=(StackToken left, StackToken right) => !left.Equals(right);
}
