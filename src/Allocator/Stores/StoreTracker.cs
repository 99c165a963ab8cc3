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
/// <remarks>
/// <para>A Store that ends normally detaches its tracker and leaves it as its thread's spare, for the next Store
/// that thread attaches one to. The spare stays registered for finalization: it is reachable (from the thread), so
/// its finalizer cannot run, and once attached again it is exactly as before. Nothing is suppressed and
/// re-registered per Store (together about 15 ns), and no finalizable object is allocated per Store (about 28 ns, a
/// slow allocation path, and finalization-queue work for the GC). A tracker that becomes unreachable while detached
/// (its thread ended, or a second spare was dropped) finalizes with no Store: it does nothing.</para>
/// </remarks>
internal sealed class StoreTracker
{
    [ThreadStatic]
    private static StoreTracker? t_spare;

    private IAbandonableStore? _store;

    private StoreTracker()
    {
    }

    /// <summary>A tracker attached to <paramref name="store"/>: this thread's spare, or a new one.</summary>
    public static StoreTracker AttachTo(IAbandonableStore store)
    {
        StoreTracker? tracker = t_spare;
        if (tracker is null)
        {
            tracker = new StoreTracker();
        }
        else
        {
            t_spare = null;
        }
        tracker._store = store;
        return tracker;
    }

    /// <summary>The Store ended normally: this tracker no longer reclaims it, and becomes this thread's spare (or,
    /// when the thread has one, is dropped without a finalizer run).</summary>
    public void Detach()
    {
        _store = null;
        if (t_spare is null)
        {
            t_spare = this;
        }
        else
        {
            GC.SuppressFinalize(this);
        }
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
