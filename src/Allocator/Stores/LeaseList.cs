using System.Diagnostics;

namespace Allocator.Stores;

/// <summary>The leases a Store holds, as an intrusive doubly linked list: O(1) add and remove, no allocation
/// beyond the lease itself. Not thread-safe: the Store's lock guards it.</summary>
internal struct LeaseList<TLease>
    where TLease : Lease
{
    private Lease? _head;

    public int Count { get; private set; }

    /// <summary>Any listed lease (the most recently added), or null when the list is empty.</summary>
    public readonly TLease? First => (TLease?)_head;

    public void Add(TLease lease)
    {
        Debug.Assert(lease.Previous is null && lease.Next is null && lease.IsHeld);
        lease.Next = _head;
        if (_head is not null)
        {
            _head.Previous = lease;
        }
        _head = lease;
        Count++;
    }

    /// <summary>Unlists <paramref name="lease"/>; ending its checkout is the caller's step.</summary>
    public void Remove(TLease lease)
    {
        Debug.Assert(lease.IsHeld, "Only held leases are listed.");
        if (lease.Previous is null)
        {
            Debug.Assert(ReferenceEquals(_head, lease));
            _head = lease.Next;
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
        Count--;
    }

    /// <summary>A copy of the list, so callers can remove while they walk (cold paths only: it allocates unless
    /// the list is empty).</summary>
    public readonly TLease[] ToArray()
    {
        if (Count == 0)
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
