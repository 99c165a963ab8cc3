using System.Diagnostics;
using Allocator.Pooling;

namespace Allocator.Stores;

/// <summary>The Store's lock, kept inline in its <see cref="StoreCore"/>: a spin lock that knows its holder, so the
/// holder may enter again (as with <c>Monitor</c>).</summary>
/// <remarks>
/// <para>Why not a <c>Monitor</c> on an object: entering and leaving one costs about 13 ns here, this about 5 (one
/// compare-and-swap; leaving is a plain release store), and every Store member enters it. Why not
/// <see cref="SpinLock"/>: it is not reentrant, and a Store raises events under its lock (a refused token, an
/// exhausted pool) whose <see cref="System.Diagnostics.Tracing.EventListener"/> callbacks run synchronously on the
/// same thread; a listener that touched the same Store would spin on itself forever.</para>
/// <para>Entering is one compare-and-swap, leaving a release store. Critical sections are short (bookkeeping plus a
/// lock-free pool call; the longest, a Store's end, resets its slots), so a waiter spins, then yields, then sleeps.</para>
/// </remarks>
internal struct StoreLock
{
    private int _owner; // the holder's managed thread id; 0 when free
    private int _depth; // entries by the holder beyond the first; only the holder touches it

    public readonly bool IsHeldByCurrentThread => Volatile.Read(in _owner) == CurrentThreadId;

    /// <summary>The managed thread id (see <see cref="ManagedThreadIds"/>).</summary>
    private static int CurrentThreadId => ManagedThreadIds.Current;

    public void Enter()
    {
        int me = CurrentThreadId;
        if (Interlocked.CompareExchange(ref _owner, me, 0) != 0)
        {
            EnterContended(me);
        }
    }

    public void Exit()
    {
        Debug.Assert(IsHeldByCurrentThread, "Only the holder leaves.");
        if (_depth > 0)
        {
            _depth--;
            return;
        }
        Volatile.Write(ref _owner, 0);
    }

    private void EnterContended(int me)
    {
        if (Volatile.Read(ref _owner) == me)
        {
            _depth++;
            return;
        }
        SpinWait spin = default;
        do
        {
            spin.SpinOnce();
        }
        while (Volatile.Read(ref _owner) != 0 || Interlocked.CompareExchange(ref _owner, me, 0) != 0);
    }
}
