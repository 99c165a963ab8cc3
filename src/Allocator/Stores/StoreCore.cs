using System.Diagnostics;

namespace Allocator.Stores;

/// <summary>What a Store writes on its checkouts and returns: its lock, its lease lists and counts, the stack it
/// keeps cached and its finalizer tracker. Kept apart from the Store object and reused by later Stores, so a request
/// allocates a small Store that nobody writes on the hot path, and this padded object is allocated once per thread.</summary>
/// <remarks>
/// <para>Why apart: a Store is allocated per request, and Stores one thread creates in a row lie back to back. Written
/// words in the Store then shared a cache line with the next Store, which another thread may run (the 2-thread stack
/// row measured 0.29-0.34x at half of the layouts). Padding the Store itself fixed that at 48 bytes per request; here
/// the padding is paid once per thread (<see cref="CacheLineTailPadding"/>).</para>
/// <para>Reuse: a Store hands its core back once it has released everything (<see cref="OwnerId"/> 0), after its lock
/// is left. The Store keeps the reference, so a late call on the ended Store may still enter the lock, now another
/// Store's: it then finds its own state not live and goes before touching anything here (every Store member checks
/// its state under the lock before it uses the lists). That costs the new owner a wait, never its bookkeeping.</para>
/// <para>A thread keeps one spare; a few more wait in a small shared array for threads that create Stores which others
/// end. Beyond that a core is simply collected.</para>
/// </remarks>
internal sealed class StoreCore
{
    private const int SharedSpares = 8;

    [ThreadStatic]
    private static StoreCore? t_spare;

    private static readonly StoreCore?[] s_sharedSpares = new StoreCore?[SharedSpares];

    // Fields, not properties: the lock and the lists are structs changed in place.
    public StoreLock Lock;
    public int RawStacksOut; // raw stacks out: a count, no list (their leases stay in the allocator's RawStackLeases)
    public LeaseList<StackLease> FiberStacks;
    public LeaseList<SlotLease> Slots;
    public StackLease? CachedStack; // its checkout ended (shelved state), but the Store keeps the pool's checkout
    public StoreTracker? Tracker;
    public bool ReleasePending; // the Store ended while fibers held stacks: the last one back releases the rest
    public long OwnerId; // the Id of the Store served; 0 once it has released everything (ids start at 1)
    private bool _handBack; // released under the lock; the releasing caller hands the core back once it has left it
#pragma warning disable CS0169 // never read: it keeps the next object's first words off the line of the lock and lists
    private CacheLineTailPadding _tailPadding; // declared last: laid out last (see CacheLineTailPadding)
#pragma warning restore CS0169

    private StoreCore()
    {
    }

    /// <summary>What an ended Store holds once it has handed its core back: it never serves a Store, so its lists stay
    /// empty and its counts 0, and a late call on an ended Store enters its lock, finds its state not live and goes.
    /// The ended Store must not keep its old core: that would keep the core's next Store (through its leases and
    /// tracker) reachable, and an abandoned one would never be finalized.</summary>
    public static StoreCore Ended { get; } = new();

    /// <summary>This thread's spare core, a shared one, or a new one, now serving the Store <paramref name="ownerId"/>.</summary>
    public static StoreCore Rent(long ownerId)
    {
        StoreCore? core = t_spare;
        if (core is not null)
        {
            t_spare = null;
        }
        else
        {
            core = TakeShared() ?? new StoreCore();
        }
        Debug.Assert(core.OwnerId == 0 && core != Ended);
        core.AssertEmpty();
        Volatile.Write(ref core.OwnerId, ownerId);
        return core;
    }

    /// <summary>Under the lock, once the owner has released everything: the core serves nobody from now on, and the
    /// caller that released it hands it back (<see cref="TakeHandBack"/>, then <see cref="HandBack"/>).</summary>
    public void Detach()
    {
        Debug.Assert(Lock.IsHeldByCurrentThread && this != Ended);
        AssertEmpty();
        OwnerId = 0;
        _handBack = true;
    }

    /// <summary>Under the lock: true exactly once after <see cref="Detach"/>, for the caller that is to hand it back.</summary>
    public bool TakeHandBack()
    {
        Debug.Assert(Lock.IsHeldByCurrentThread);
        bool handBack = _handBack;
        _handBack = false;
        return handBack;
    }

    /// <summary>After its Store has left the lock and let go of it: makes this core the thread's spare (or a shared
    /// one).</summary>
    public void HandBack()
    {
        Debug.Assert(OwnerId == 0 && this != Ended);
        AssertEmpty();
        if (t_spare is null)
        {
            t_spare = this;
            return;
        }
        for (int i = 0; i < SharedSpares; i++)
        {
            if (Volatile.Read(ref s_sharedSpares[i]) is null && Interlocked.CompareExchange(ref s_sharedSpares[i], this, null) is null)
            {
                return;
            }
        }
    }

    /// <summary>Debug builds: nothing of a Store is left in the core as it changes hands.</summary>
    [Conditional("DEBUG")]
    private void AssertEmpty() => Debug.Assert(RawStacksOut == 0 && FiberStacks.IsEmpty && Slots.IsEmpty
        && CachedStack is null && Tracker is null && !ReleasePending, "A core changes hands empty.");

    private static StoreCore? TakeShared()
    {
        for (int i = 0; i < SharedSpares; i++)
        {
            if (Volatile.Read(ref s_sharedSpares[i]) is { } core && Interlocked.CompareExchange(ref s_sharedSpares[i], null, core) == core)
            {
                return core;
            }
        }
        return null;
    }
}
