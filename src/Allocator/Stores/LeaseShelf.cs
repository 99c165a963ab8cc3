using System.Diagnostics;

namespace Allocator.Stores;

/// <summary>The lease objects of one pool, one place per slot, so a checkout reuses its slot's lease instead of
/// allocating one.</summary>
/// <remarks>A place holds its lease only while the slot is not checked out. The checkout that takes a slot from the
/// pool owns its place until it gives the slot back, and the pool's own atomics order one owner's writes before the
/// next owner's reads, so places need no lock and no atomics. While out, the lease is referenced only by its Store,
/// tokens and the fiber: the shelf never keeps a Store alive, so an abandoned Store is still finalized.</remarks>
internal sealed class LeaseShelf<TLease>(int slots)
    where TLease : Lease
{
    private readonly TLease?[] _waiting = new TLease?[slots];

    /// <summary>Takes slot <paramref name="index"/>'s lease, or null the first time (the caller creates it). Only
    /// the slot's current pool checkout may call this.</summary>
    public TLease? Take(int index)
    {
        TLease? lease = _waiting[index];
        _waiting[index] = null;
        return lease;
    }

    /// <summary>Puts a shelved lease back in its place; call before the slot goes back to the pool, since the next
    /// checkout may take it the moment it is free.</summary>
    public void Put(int index, TLease lease)
    {
        Debug.Assert(!lease.IsHeld && lease.StoreId == 0, "Only a shelved lease goes back.");
        _waiting[index] = lease;
    }
}
