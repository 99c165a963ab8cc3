using System.Diagnostics;

namespace Allocator.Stores;

/// <summary>The leases a Store holds, as an intrusive doubly linked list: O(1) add and remove, no allocation.
/// Not thread-safe: the Store's lock guards it.</summary>
/// <remarks>Just the head, no count: it is one word in the Store (which is allocated per request), and every hot
/// check is "empty or not"; counting walks the list (cold paths).</remarks>
internal struct LeaseList<TLease>
    where TLease : Lease
{
    private Lease? _head;

    public readonly bool IsEmpty => _head is null;

    /// <summary>The number of leases listed (walks the list).</summary>
    public readonly int Count
    {
        get
        {
            int count = 0;
            for (Lease? lease = _head; lease is not null; lease = lease.Next)
            {
                count++;
            }
            return count;
        }
    }

    /// <summary>Any listed lease (the most recently added), or null when the list is empty.</summary>
    public readonly TLease? First => (TLease?)_head;

    /// <remarks>Into an empty list (the common case: one fiber, one slot of a kind) it writes the head only: a
    /// lease's links are null while it is unlisted, and each reference store is a write barrier call.</remarks>
    public void Add(TLease lease)
    {
        Debug.Assert(lease.Previous is null && lease.Next is null && lease.IsHeld);
        if (_head is { } head)
        {
            lease.Next = head;
            head.Previous = lease;
        }
        _head = lease;
    }

    /// <summary>Unlists <paramref name="lease"/>; ending its checkout is the caller's step.</summary>
    public void Remove(TLease lease)
    {
        Debug.Assert(lease.IsHeld, "Only held leases are listed.");
        if (lease.Previous is null)
        {
            Debug.Assert(ReferenceEquals(_head, lease));
            // The last lease out writes a constant null, which needs no write barrier (the next lease's would).
            if (lease.Next is null)
            {
                _head = null;
            }
            else
            {
                _head = lease.Next;
            }
        }
        else
        {
            lease.Previous.Next = lease.Next;
        }
        if (lease.Next is not null)
        {
            lease.Next.Previous = lease.Previous;
        }
        lease.Previous = null;
        lease.Next = null;
    }

    /// <summary>A copy of the list, so callers can remove while they walk (cold paths only: it allocates unless
    /// the list is empty).</summary>
    public readonly TLease[] ToArray()
    {
        // Stryker disable once Block : an empty list gives an empty array either way; this only skips allocating one.
        if (IsEmpty)
        {
            return [];
        }
        var all = new TLease[Count];
        int i = 0;
        for (Lease? lease = _head; lease is not null; lease = lease.Next)
        {
            all[i++] = (TLease)lease;
        }
        return all;
    }
}
