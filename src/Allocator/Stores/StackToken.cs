using Allocator.Stores;

namespace Allocator;

/// <summary>Proof that a Store checked out a stack; hand it back with <see cref="Store{T}.ReturnStack"/>.</summary>
/// <remarks>Opaque: it names one checkout of one Store and carries nothing a pool would accept. Lease objects are
/// reused from checkout to checkout, but each checkout has its own generation, which the token carries: a copy of an
/// old token is refused even when the same lease (or the same stack) has been handed out again.</remarks>
public readonly struct StackToken : IEquatable<StackToken>
{
    private readonly ulong _generation;
    private readonly string? _owner;

    internal StackToken(StackLease lease)
    {
        Lease = lease;
        StoreId = lease.StoreId;
        _generation = lease.Generation;
        _owner = lease.Owner;
    }

    internal StackLease? Lease { get; }

    /// <summary>The Store that checked the stack out (0 for <c>default</c>).</summary>
    public long StoreId { get; }

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Lease is not null;

    /// <summary>True while the checkout this token names is on (its lease shows the token's generation).</summary>
    internal bool NamesCurrentCheckout => Lease is { } lease && lease.Names(StoreId, _generation);

    /// <inheritdoc />
    public bool Equals(StackToken other) => ReferenceEquals(Lease, other.Lease) && _generation == other._generation;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is StackToken other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Lease is null ? 0 : HashCode.Combine(Lease, _generation);

    /// <inheritdoc />
    public override string ToString() => Lease is null ? "StackToken(none)" : $"StackToken(Store {StoreId}, '{_owner}')";

    /// <summary>Same checkout.</summary>
    public static bool operator ==(StackToken left, StackToken right) => left.Equals(right);

    /// <summary>Different checkouts.</summary>
    public static bool operator !=(StackToken left, StackToken right) => !left.Equals(right);
}
