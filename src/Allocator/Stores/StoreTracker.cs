namespace Allocator.Stores;

/// <summary>What the finalizer of an abandoned Store calls (a non-generic view of <c>Store&lt;T&gt;</c>).</summary>
internal interface IAbandonableStore
{
    /// <summary>Gives back what a Store dropped without Dispose or IntoData still holds.</summary>
    void ReleaseAbandoned();
}

/// <summary>The finalizable half of a Store: attached with the Store's first checkout, so a Store that never checks
/// anything out costs the GC nothing. While attached it lives exactly as long as its Store (each references the
/// other); its finalizer is what reclaims an abandoned Store.</summary>
/// <remarks>A Store that ends normally suppresses its tracker's finalizer and hands it to the allocator's
/// <see cref="StoreTrackerShelf"/>; the next Store re-registers it. Allocating a finalizable object takes the runtime's
/// slow allocation path and its finalization-queue registration; re-registering a suppressed one only clears a header
/// bit.</remarks>
internal sealed class StoreTracker
{
    private IAbandonableStore? _store;

    /// <summary>Attaches to <paramref name="store"/> (the tracker must be fresh or come off the shelf).</summary>
    public void Attach(IAbandonableStore store, bool fromShelf)
    {
        _store = store;
        if (fromShelf)
        {
            GC.ReRegisterForFinalize(this);
        }
    }

    /// <summary>The Store ended normally: no finalizer may run for it any more.</summary>
    public void Detach()
    {
        GC.SuppressFinalize(this);
        _store = null;
    }

    ~StoreTracker()
    {
        try
        {
            _store?.ReleaseAbandoned();
        }
        catch (Exception ex) when (ex is InvalidTokenException or ObjectDisposedException or VirtualMemoryException)
        {
            // A finalizer must not throw; whatever could not be returned stays out, and teardown reports it.
        }
    }
}

/// <summary>Detached trackers waiting for the next Store: a few places taken and filled by compare-and-swap, so Stores
/// on any thread share them without a lock. When all places are full a tracker is simply dropped (its finalizer is
/// suppressed, so the GC frees it like any object).</summary>
internal sealed class StoreTrackerShelf
{
    private readonly StoreTracker?[] _places = new StoreTracker?[Math.Clamp(Environment.ProcessorCount * 2, 4, 64)];

    /// <summary>A tracker attached to <paramref name="store"/>: one from the shelf, or a new one.</summary>
    public StoreTracker Attach(IAbandonableStore store)
    {
        StoreTracker?[] places = _places;
        for (int i = 0; i < places.Length; i++)
        {
            StoreTracker? candidate = Volatile.Read(ref places[i]);
            if (candidate is not null && Interlocked.CompareExchange(ref places[i], null, candidate) == candidate)
            {
                candidate.Attach(store, fromShelf: true);
                return candidate;
            }
        }
        var created = new StoreTracker();
        created.Attach(store, fromShelf: false);
        return created;
    }

    /// <summary>Detaches <paramref name="tracker"/> from its ended Store and shelves it for the next one.</summary>
    public void Detach(StoreTracker tracker)
    {
        tracker.Detach();
        StoreTracker?[] places = _places;
        for (int i = 0; i < places.Length; i++)
        {
            if (Volatile.Read(ref places[i]) is null && Interlocked.CompareExchange(ref places[i], tracker, null) is null)
            {
                return;
            }
        }
    }
}
