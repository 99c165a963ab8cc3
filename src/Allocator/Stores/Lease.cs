using System.Diagnostics;
using Allocator.Pooling;

namespace Allocator.Stores;

/// <summary>The single record of one checkout: the Store that owns it and the pool resource. Tokens and fibers hold
/// a reference to it and nothing else, so there is no second record to disagree with.</summary>
/// <remarks>
/// <para>Leases of one Store form an intrusive list (no dictionary, no per-checkout node).</para>
/// <para>A lease object belongs to one pool slot and is reused by every checkout of that slot (see
/// <see cref="LeaseShelf{TLease}"/>), so a steady stream of checkouts allocates nothing. What makes an old token copy
/// fail is <see cref="Generation"/>: odd while a checkout is on, bumped when it ends and again when the next one
/// begins, never repeated. A token carries the generation of its checkout and names it only while the lease still
/// shows that generation.</para>
/// <para>Only the holder of the pool slot writes the lease (under its Store's lock); anyone may read the generation,
/// which is one aligned word, so a reader racing a reuse sees either the old or the new value and neither matches a
/// stale token.</para>
/// <para>Because an old token copy may keep a reused lease reachable for as long as its owner likes, nothing a token
/// can reach may reference a Store: slot leases and raw stack leases (and the lists that link them) never do. Only a
/// fiber's stack lease references its Store, which it must (a fiber, or the host task it waits for, keeps its Store
/// alive), and no token ever points at one: fiber leases sit on a shelf of their own.</para>
/// </remarks>
internal abstract class Lease
{
    private ulong _generation;

    /// <summary>The Store that holds the current checkout; 0 once the lease is back on its shelf.</summary>
    public long StoreId { get; private set; }

    /// <summary>Odd while a checkout is on; a token of that checkout carries this value.</summary>
    public ulong Generation => Volatile.Read(ref _generation);

    /// <summary>True from checkout until the resource goes back (or into the Store's cache).</summary>
    public bool IsHeld => (Volatile.Read(ref _generation) & 1) == 1;

    public Lease? Previous { get; set; }

    public Lease? Next { get; set; }

    /// <summary>True when this lease still shows the checkout a token of <paramref name="storeId"/> with
    /// <paramref name="generation"/> was given.</summary>
    public bool Names(long storeId, ulong generation) => Generation == generation && StoreId == storeId;

    /// <summary>A new checkout: the generation turns odd, and becomes one no earlier checkout had.</summary>
    protected void BeginCheckout(long storeId)
    {
        Debug.Assert(!IsHeld && Previous is null && Next is null);
        StoreId = storeId;
        Volatile.Write(ref _generation, _generation + 1);
    }

    /// <summary>The checkout is over: every token of it is refused from now on, and no later checkout has its
    /// generation.</summary>
    public void EndCheckout()
    {
        Debug.Assert(IsHeld);
        Volatile.Write(ref _generation, _generation + 1);
    }

    /// <summary>Back on the shelf: forgets the Store, so a shelved lease keeps nothing alive.</summary>
    protected void ForgetStore()
    {
        Debug.Assert(!IsHeld);
        StoreId = 0;
    }
}

/// <summary>A stack lease; <see cref="Holder"/> is the fiber running on it, or null for a raw checkout.</summary>
internal sealed class StackLease : Lease
{
    private IStackLeaseOwner? _store;

    /// <summary>A lease for the shelf of one stack slot, for fibers or for raw checkouts (never both: see the
    /// remarks on <see cref="Lease"/>); <see cref="Begin"/> gives it its first checkout.</summary>
    public StackLease(bool forFiber)
    {
        ForFiber = forFiber;
        Owner = string.Empty;
    }

    /// <summary>A held lease in one step (tests that stand in for a Store).</summary>
    public StackLease(IStackLeaseOwner store, long storeId, in PooledStack stack, string owner, IStackHolder? holder)
        : this(forFiber: holder is not null)
    {
        Begin(store, storeId, stack, owner, holder);
    }

    /// <summary>True for a lease that only fibers check out (it references its Store while out); false for one that
    /// only raw checkouts use (tokens point at it, so it references no Store).</summary>
    public bool ForFiber { get; }

    public PooledStack Stack { get; private set; }

    public string Owner { get; private set; }

    public IStackHolder? Holder { get; private set; }

#pragma warning disable CS0169 // never read: every checkout writes this lease, which may lie just before another's
    private CacheLineTailPadding _tailPadding; // declared last: laid out last (see CacheLineTailPadding)
#pragma warning restore CS0169

    /// <summary>Checks this lease out to <paramref name="store"/> for <paramref name="stack"/>: a fresh pool checkout,
    /// or the one the Store kept cached (the same pool checkout gets a new lease generation).</summary>
    public void Begin(IStackLeaseOwner store, long storeId, in PooledStack stack, string owner, IStackHolder? holder)
    {
        Debug.Assert(Stack.Index == stack.Index || !Stack.IsValid, "A lease belongs to one stack slot.");
        Debug.Assert(ForFiber == holder is not null, "Fiber and raw checkouts never share a lease.");
        // Only a fiber's lease references its Store (see the remarks on Lease); a raw one goes back through a token.
        // A raw lease's field is null already (it is never set, and Shelve clears it): written only for fibers, so a
        // raw checkout saves a write barrier.
        Debug.Assert(ForFiber || _store is null);
        if (ForFiber)
        {
            _store = store;
        }
        Stack = stack;
        Owner = owner;
        Holder = holder;
        BeginCheckout(storeId);
    }

    /// <summary>Drops every reference a shelved lease would otherwise keep alive (Store, fiber, label).</summary>
    public void Shelve()
    {
        if (IsHeld)
        {
            EndCheckout();
        }
        ForgetStore();
        _store = null;
        Holder = null;
        Owner = string.Empty;
    }

    /// <summary>Gives the stack back through its Store: called once, when nothing can run on the stack any more.
    /// <paramref name="deferred"/>: the return waited for a host task that outlived the fiber's cancel. A lease that
    /// is no longer held (revoked by the abandoned Store's finalizer) has no Store to go back to: nothing happens.</summary>
    /// <remarks>Exactly once per checkout is the holder's duty (the fiber driver's ownership word); the lease is
    /// reused by the slot's next checkout, possibly for another Store, so the holder also names its checkout by
    /// <paramref name="generation"/> (what <see cref="Lease.Generation"/> was when it got the lease), and a call that
    /// comes late changes nothing instead of returning the next checkout.</remarks>
    public void Return(ulong generation, bool deferred = false) => _store?.ReturnStackLease(this, generation, deferred);
}

/// <summary>An instance or memory slot lease.</summary>
internal sealed class SlotLease(SlotPool pool) : Lease
{
    public SlotPool Pool { get; } = pool;

    public PooledSlot Slot { get; private set; }

#pragma warning disable CS0169 // never read: every checkout writes this lease, which may lie just before another's
    private CacheLineTailPadding _tailPadding; // declared last: laid out last (see CacheLineTailPadding)
#pragma warning restore CS0169

    public void Begin(long storeId, PooledSlot slot)
    {
        Debug.Assert(Slot.Index == slot.Index || !Slot.IsValid, "A lease belongs to one slot.");
        Slot = slot;
        BeginCheckout(storeId);
    }

    public void Shelve()
    {
        if (IsHeld)
        {
            EndCheckout();
        }
        ForgetStore();
    }
}

/// <summary>What a stack lease needs of its Store (a non-generic view of <c>Store&lt;T&gt;</c>).</summary>
internal interface IStackLeaseOwner
{
    /// <summary>Returns the lease's stack: to the Store's cache or the pool while the Store lives, straight to the
    /// pool once it has ended. The last fiber stack of an ended Store completes its release (slots, cached stack).</summary>
    void ReturnStackLease(StackLease lease, ulong generation, bool deferred);
}
