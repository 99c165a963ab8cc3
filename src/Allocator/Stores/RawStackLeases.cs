using System.Diagnostics;

namespace Allocator.Stores;

/// <summary>The leases of raw stack checkouts, one per stack slot, created on the slot's first raw checkout and kept
/// in place for good: out or not, a slot's raw lease is always found here, so a Store keeps no list of them (only a
/// count) and a checkout or return writes nothing here.</summary>
/// <remarks>
/// <para>Why: the reference-linked list a Store kept of its raw leases, and taking a lease off a shelf and putting it
/// back, cost five write barriers per stack get+return; a count costs none. The price is paid only on cold paths: a
/// Store that ends (or is finalized) with raw stacks still out finds them with <see cref="HeldBy"/>, one pass over
/// the slots.</para>
/// <para>Keeping a held lease reachable from here is safe because a raw lease never references its Store (see the
/// remarks on <see cref="Lease"/>): the allocator cannot keep an abandoned Store alive through it. Fiber leases do
/// reference their Store while out, so they keep their own shelf, which holds a lease only while it is shelved.</para>
/// <para>Places are written once, by the slot's first raw checkout (the pool's atomics order it before any later
/// holder's read), and only read after that, so they need no padding: no line here is ever written in steady state.</para>
/// </remarks>
internal sealed class RawStackLeases(int slots)
{
    private readonly StackLease?[] _places = new StackLease?[slots];

    /// <summary>Slot <paramref name="index"/>'s raw lease, created the first time. Only the slot's current pool
    /// checkout may call this.</summary>
    public StackLease Get(int index) => _places[index] ?? Create(index);

    /// <summary>Slot <paramref name="index"/>'s raw lease, or null when that slot never had a raw checkout.</summary>
    public StackLease? Peek(int index) => Volatile.Read(ref _places[index]);

    /// <summary>The raw leases <paramref name="storeId"/> holds now. Exact only under that Store's lock: its own
    /// leases change only under it, and Store ids never repeat, so no other lease can show this id.</summary>
    public StackLease[] HeldBy(long storeId, int count)
    {
        var held = new StackLease[count];
        int found = 0;
        // Stryker disable once Logical,Equality : with the count right (asserted below) the scan finds exactly count leases, so going on past the last one only costs time.
        for (int i = 0; i < _places.Length && found < count; i++)
        {
            if (Peek(i) is { } lease && lease.StoreId == storeId && lease.IsHeld)
            {
                held[found++] = lease;
            }
        }
        Debug.Assert(found == count, "The Store's count of raw stacks out matches its leases.");
        // Stryker disable once Conditional,Equality : found is count unless the Store's count is wrong (a bug the assert reports); the slice only keeps a release build from handing out nulls then.
        return found == count ? held : held[..found];
    }

    private StackLease Create(int index)
    {
        var lease = new StackLease(forFiber: false);
        Volatile.Write(ref _places[index], lease);
        return lease;
    }
}
