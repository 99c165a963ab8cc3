using System.Diagnostics;
using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Stores;

namespace Allocator;

/// <summary>Owns user data plus every stack and slot it checks out of a <see cref="PoolingAllocator"/>.</summary>
/// <remarks>
/// <para>Every exit goes through <see cref="ReleaseAll"/>: <see cref="IntoData"/> (only once no stack is out),
/// <see cref="Dispose"/>, and the finalizer of a Store that was dropped without either. The stack cached for reuse is
/// flushed there too, which is exactly what Wasmtime 28's <c>into_data</c> missed. When the Store ends while a fiber
/// still holds its stack (an asynchronous host task outlived the cancel), the release waits: the slots stay checked
/// out, because the host task may write to them, and the last fiber stack to come back runs it.</para>
/// <para>Each checkout is one lease, the only record of it; tokens and fibers point at that lease. Members are
/// thread-safe; one lock guards the bookkeeping, and no pool or fiber code runs under it except returns.</para>
/// </remarks>
public sealed partial class Store<T> : IStackLeaseOwner, IDisposable
{
    private readonly object _lock = new();
    private LeaseList<StackLease> _stacks;
    private LeaseList<SlotLease> _slots;
    private T _data;
    private PooledStack _cachedStack;
    private StoreFinalizer? _finalizer;
    private State _state;
    private bool _releasePending;

    /// <summary>Creates a Store that checks resources out of <paramref name="allocator"/>.</summary>
    public Store(PoolingAllocator allocator, T data)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        Allocator = allocator;
        _data = data;
        Id = StoreIds.Next();
    }

    private enum State { Live, Ending, Consumed, Disposed }

    /// <summary>Unique id, carried by every token this Store hands out.</summary>
    public long Id { get; }

    /// <summary>The allocator the Store draws from.</summary>
    public PoolingAllocator Allocator { get; }

    /// <summary>The user data. Throws once the Store has been consumed or disposed.</summary>
    public ref T Data
    {
        get
        {
            lock (_lock)
            {
                ThrowIfNotLive();
            }
            return ref _data;
        }
    }

    /// <summary>Stacks checked out now (not counting the one kept cached for reuse).</summary>
    public int StacksCheckedOut
    {
        get
        {
            lock (_lock)
            {
                return _stacks.Count;
            }
        }
    }

    /// <summary>Instance and memory slots checked out now.</summary>
    public int SlotsCheckedOut
    {
        get
        {
            lock (_lock)
            {
                return _slots.Count;
            }
        }
    }

    /// <summary>Checks out a raw stack for <paramref name="owner"/> (fibers check theirs out themselves).</summary>
    /// <exception cref="PoolExhaustedException">The stack pool is exhausted.</exception>
    public StackToken CheckoutStack(string owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return new StackToken(CheckoutStackLease(owner, holder: null));
    }

    /// <summary>Returns a raw stack. Throws <see cref="InvalidTokenException"/> for a token of another Store, one
    /// already returned, or one a fiber holds; the Store and the pool are unchanged then.</summary>
    public void ReturnStack(StackToken token)
    {
        if (TryReturnStackCore(token) is { } reason)
        {
            ThrowInvalid(reason, token.ToString(), token.StoreId);
        }
    }

    /// <summary>Returns a raw stack; false (and no change) for a token <see cref="ReturnStack"/> would refuse.</summary>
    public bool TryReturnStack(StackToken token)
    {
        if (TryReturnStackCore(token) is { } reason)
        {
            ThrowHelper.ReportTokenRefused(reason, token, token.StoreId, Id);
            return false;
        }
        return true;
    }

    /// <summary>The usable range of a stack this Store holds: [<c>Bottom</c>, <c>Top</c>), the guard page just below
    /// <c>Bottom</c>; stacks grow down from <c>Top</c>.</summary>
    public (nint Bottom, nint Top) GetStackBounds(StackToken token)
    {
        lock (_lock)
        {
            StackLease lease = HeldStack(token);
            return (lease.Stack.Bottom, lease.Stack.Top);
        }
    }

    /// <summary>Checks out an instance slot, preferring the one <paramref name="affinityKey"/> used last, with
    /// <paramref name="accessibleBytes"/> read-write (default: all; a layout's <c>AccessibleSize</c> leaves its
    /// trailing guard inaccessible).</summary>
    public SlotToken CheckoutInstance(object? affinityKey = null, nuint? accessibleBytes = null) => CheckoutSlot(Allocator.Instances, affinityKey, accessibleBytes);

    /// <summary>Checks out a linear memory slot with <paramref name="accessibleBytes"/> read-write (default: all).</summary>
    public SlotToken CheckoutMemory(object? affinityKey = null, nuint? accessibleBytes = null) => CheckoutSlot(Allocator.Memories, affinityKey, accessibleBytes);

    /// <summary>Returns a slot before the Store ends. Throws <see cref="InvalidTokenException"/> for a foreign or
    /// already returned token.</summary>
    /// <exception cref="VirtualMemoryException">Resetting the slot failed; it is no longer this Store's, and the pool
    /// resets it again before anyone reuses it.</exception>
    public void ReturnSlot(SlotToken token)
    {
        SlotLease lease;
        lock (_lock)
        {
            lease = HeldSlot(token);
            _slots.Remove(lease);
        }
        ReturnToPool(lease);
    }

    /// <summary>First byte of a slot this Store holds (for native guests; read-write only up to
    /// <see cref="GetAccessibleBytes"/>, interior guards never).</summary>
    public nint GetSlotAddress(SlotToken token)
    {
        lock (_lock)
        {
            return HeldSlot(token).Slot.BaseAddress;
        }
    }

    /// <summary>Read-write bytes at the start of a slot this Store holds (interior guard ranges inside them stay
    /// inaccessible). Works at any size, including above 2 GiB.</summary>
    public nuint GetAccessibleBytes(SlotToken token)
    {
        SlotLease lease;
        lock (_lock)
        {
            lease = HeldSlot(token);
        }
        return lease.Pool.GetAccessibleBytes(lease.Slot);
    }

    /// <summary>The read-write bytes of a slot from its start up to its first interior guard.</summary>
    /// <exception cref="InvalidOperationException">That part is 2 GiB or more, which a span cannot cover: use
    /// <see cref="GetSlotMemory(SlotToken, nuint, int)"/>.</exception>
    public Span<byte> GetSlotMemory(SlotToken token)
    {
        SlotLease lease;
        lock (_lock)
        {
            lease = HeldSlot(token);
        }
        nuint accessible = lease.Pool.GetAccessibleBytes(lease.Slot);
        nuint contiguous = Math.Min(accessible, lease.Pool.NextGuardAtOrAfter(0));
        if (contiguous > int.MaxValue)
        {
            throw new InvalidOperationException($"The slot's first {contiguous} accessible bytes do not fit a span; use GetSlotMemory(token, offset, length) for windows of it.");
        }
        return GetSlotMemory(token, 0, (int)contiguous);
    }

    /// <summary>A window of a slot this Store holds: [<paramref name="offset"/>, offset + <paramref name="length"/>)
    /// must be read-write: inside the accessible bytes and clear of interior guards. Any offset works, so memories
    /// larger than 2 GiB are reachable.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is not all read-write.</exception>
    public unsafe Span<byte> GetSlotMemory(SlotToken token, nuint offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        SlotLease lease;
        lock (_lock)
        {
            lease = HeldSlot(token);
        }
        nint address = lease.Pool.GetAccessibleRange(lease.Slot, offset, (nuint)length);
        return new Span<byte>((void*)address, length);
    }

    /// <summary>Makes more of a memory slot read-write (e.g. <c>memory.grow</c>).</summary>
    public void GrowMemory(SlotToken token, nuint accessibleBytes)
    {
        SlotLease lease;
        lock (_lock)
        {
            lease = HeldSlot(token);
        }
        CheckAccessible(lease.Pool, accessibleBytes, nameof(accessibleBytes));
        lease.Pool.Grow(lease.Slot, accessibleBytes);
    }

    /// <summary>Consumes the Store: returns every slot and the cached stack to the pools and yields the data.</summary>
    /// <exception cref="StacksCheckedOutException">Stacks are still checked out (a fiber may be suspended on one, or a
    /// cancelled fiber's host call may still be running, which its owner label then says); the Store is left intact
    /// and usable.</exception>
    public T IntoData()
    {
        List<Exception>? failures;
        T data;
        lock (_lock)
        {
            ThrowIfNotLive();
            if (_stacks.Count > 0)
            {
                throw new StacksCheckedOutException(_stacks.ToArray().Select(DescribeHolder).ToArray());
            }
            _state = State.Consumed;
            failures = ReleaseAll();
            data = _data;
            _data = default!;
        }
        ThrowIfFailed(failures);
        return data;
    }

    /// <summary>Asks every fiber on a stack of this Store to unwind and return it, returns the rest, and frees every
    /// slot. No new checkout succeeds once Dispose has begun.</summary>
    /// <remarks>A fiber whose asynchronous host task is still running keeps its stack until that task ends, and the
    /// slots stay checked out with it (the task may write to them); the release completes when the task ends.</remarks>
    /// <exception cref="AggregateException">A fiber failed to release its stack (that stack stays checked out rather
    /// than being reused under live frames), or a pool refused a return.</exception>
    public void Dispose()
    {
        StackLease[] held;
        lock (_lock)
        {
            if (_state is not State.Live)
            {
                return;
            }
            _state = State.Ending;
            held = _stacks.ToArray();
        }
        List<Exception>? failures = null;
        foreach (StackLease lease in held)
        {
            try
            {
                // Raw stacks (no holder) go back below, under the lock.
                lease.Holder?.ReleaseStack();
            }
            catch (Exception ex)
            {
                (failures ??= new()).Add(ex);
            }
        }
        lock (_lock)
        {
            _state = State.Disposed;
            foreach (StackLease lease in _stacks.ToArray())
            {
                // Raw stacks run nothing of ours: they go straight back. Fiber stacks still out stay out.
                if (lease.Holder is null)
                {
                    _stacks.Remove(lease);
                    Collect(ref failures, ReturnToPool(lease.Stack));
                }
            }
            if (ReleaseUnlessFibersHoldStacks() is { } released)
            {
                (failures ??= new()).AddRange(released);
            }
            _data = default!;
        }
        ThrowIfFailed(failures);
    }

    /// <summary>The finalizer of a Store dropped without <see cref="Dispose"/> or <see cref="IntoData"/>: gives its
    /// stacks and slots back instead of leaking them (the pool would otherwise run dry, as Wasmtime 28's did).</summary>
    /// <remarks>A fiber's stack goes back only after its context has been revoked, so nothing (a user finalizer, a
    /// resurrected reference) can resume on it afterwards. A fiber caught running, or held by a running host task,
    /// keeps its stack, and the slots stay with it: its end returns the stack and completes the release.</remarks>
    internal void ReleaseAbandoned()
    {
        string[] held;
        lock (_lock)
        {
            if (_state is State.Consumed or State.Disposed)
            {
                return;
            }
            _state = State.Disposed;
            held = AllocatorEventSource.Log.IsEnabled() ? DescribeHeld() : [];
            foreach (StackLease lease in _stacks.ToArray())
            {
                if (lease.Holder is null || lease.Holder.TryRevoke())
                {
                    _stacks.Remove(lease);
                    _ = ReturnToPool(lease.Stack);
                }
            }
            _ = ReleaseUnlessFibersHoldStacks();
        }
        Allocator.CountAbandonedStore(Id, held);
    }

    /// <summary>Checks out a stack for a fiber (or a raw one when <paramref name="holder"/> is null).</summary>
    internal StackLease CheckoutStackLease(string owner, IStackHolder? holder)
    {
        lock (_lock)
        {
            ThrowIfNotLive();
            PooledStack stack = _cachedStack;
            _cachedStack = default;
            if (!stack.IsValid)
            {
                stack = Allocator.Stacks.Rent(Id, owner);
            }
            var lease = new StackLease(this, Id, stack, owner, holder);
            _stacks.Add(lease);
            EnsureFinalizer();
            return lease;
        }
    }

    void IStackLeaseOwner.ReturnStackLease(StackLease lease, bool deferred)
    {
        InvalidTokenReason? refused = null;
        lock (_lock)
        {
            if (!lease.IsHeld)
            {
                // Revoked by the finalizer or returned already: the stack is not this lease's to give any more.
                return;
            }
            _stacks.Remove(lease);
            if (deferred)
            {
                Allocator.CountDeferredReturns(1);
            }
            if (_state == State.Live && Allocator.Options.CacheStackInStore && !_cachedStack.IsValid)
            {
                _cachedStack = lease.Stack;
            }
            else
            {
                refused = ReturnToPool(lease.Stack);
            }
            if (_releasePending && _stacks.Count == 0)
            {
                // The Store ended while this fiber's host task ran; now nothing can write to its slots.
                // Stryker disable once Boolean : no stack can come back after the last one (the Store is dead), so nothing reads the flag again.
                _releasePending = false;
                Allocator.CountDeferredReturns(_slots.Count);
                List<Exception>? failures = ReleaseAll();
                Debug.Assert(failures is null, "Held slot leases name their current checkouts.");
            }
        }
        Debug.Assert(refused is null, "A held lease names the stack's current checkout.");
    }

    /// <summary>Under the lock, for an ended Store: runs <see cref="ReleaseAll"/> now, or, while fibers still hold
    /// stacks (their host tasks run or they are unwinding), leaves it to the last of them to come back.</summary>
    private List<Exception>? ReleaseUnlessFibersHoldStacks()
    {
        Debug.Assert(Monitor.IsEntered(_lock) && _state is State.Disposed);
        if (_stacks.Count > 0)
        {
            _releasePending = true;
            return null;
        }
        return ReleaseAll();
    }

    private static string DescribeHolder(StackLease lease) => lease.Holder is { HostCallOutlivesCancel: true }
        ? $"{lease.Owner} (cancelled, but a host call is still running: its stack and the Store's slots go back when it ends)"
        : lease.Owner;

    private SlotToken CheckoutSlot(SlotPool pool, object? affinityKey, nuint? accessibleBytes, MemoryImage? image = null)
    {
        nuint accessible = accessibleBytes ?? pool.Options.SlotSize;
        CheckAccessible(pool, accessible, nameof(accessibleBytes));
        if (image is not null)
        {
            CheckImageFits(pool, image, accessible);
        }
        lock (_lock)
        {
            ThrowIfNotLive();
            var lease = new SlotLease(Id, pool, pool.Rent(Id, affinityKey, accessible, image));
            _slots.Add(lease);
            EnsureFinalizer();
            return new SlotToken(lease);
        }
    }

    private InvalidTokenReason? TryReturnStackCore(StackToken token)
    {
        lock (_lock)
        {
            if (JudgeStack(token) is { } reason)
            {
                return reason;
            }
            if (token.Lease!.Holder is not null)
            {
                // A fiber runs on it: only the fiber's end may return it.
                return InvalidTokenReason.Unknown;
            }
            ((IStackLeaseOwner)this).ReturnStackLease(token.Lease, deferred: false);
            return null;
        }
    }

    /// <summary>The single release path, under the lock: the cached stack and every slot back to their pools. Every
    /// item is tried even when one fails; a reset that failed stays queued in its pool, so only refusals (a bug) are
    /// reported.</summary>
    private List<Exception>? ReleaseAll()
    {
        Debug.Assert(Monitor.IsEntered(_lock) && _state is not State.Live);
        List<Exception>? failures = null;
        if (_cachedStack.IsValid)
        {
            Collect(ref failures, ReturnToPool(_cachedStack));
            _cachedStack = default;
        }
        foreach (SlotLease lease in _slots.ToArray())
        {
            _slots.Remove(lease);
            try
            {
                ReturnToPool(lease);
            }
            catch (Exception ex) when (ex is not VirtualMemoryException)
            {
                (failures ??= new()).Add(ex);
            }
            catch (VirtualMemoryException)
            {
                // The slot is no longer ours and its pool resets it again before reuse: nothing is lost.
            }
        }
        // Every caller runs this once no stack is out (IntoData refuses otherwise; the others wait for the last one).
        Debug.Assert(_stacks.Count == 0);
        // Stryker disable once Block,Statement : saves the finalizer's work only: the Store is no longer live, so ReleaseAbandoned would return at once.
        if (_finalizer is not null)
        {
            GC.SuppressFinalize(_finalizer);
        }
        return failures;
    }

    private InvalidTokenReason? ReturnToPool(PooledStack stack)
    {
        try
        {
            return Allocator.Stacks.Return(stack);
        }
        // Stryker disable once Block : an emptied block returns default, which is the null this block returns.
        catch (VirtualMemoryException)
        {
            // Zeroing failed; the pool keeps the stack queued and resets it before reuse.
            return null;
        }
    }

    private static void ReturnToPool(SlotLease lease)
    {
        if (lease.Pool.Return(lease.Slot) is { } reason)
        {
            throw ThrowHelper.InvalidToken(reason, $"{lease.Pool.Name} slot {lease.Slot.Index} was refused by its pool");
        }
    }

    private static void Collect(ref List<Exception>? failures, InvalidTokenReason? refused)
    {
        if (refused is { } reason)
        {
            (failures ??= new()).Add(ThrowHelper.InvalidToken(reason, "a stack was refused by its pool"));
        }
    }

    private static void ThrowIfFailed(List<Exception>? failures)
    {
        if (failures is not null)
        {
            throw new AggregateException("Some resources could not be released; those stay checked out rather than being reused under live frames.", failures);
        }
    }

    private void EnsureFinalizer() => _finalizer ??= new StoreFinalizer(this);

    private StackLease HeldStack(StackToken token)
    {
        if (JudgeStack(token) is { } reason)
        {
            ThrowInvalid(reason, token.ToString(), token.StoreId);
        }
        return token.Lease!;
    }

    private SlotLease HeldSlot(SlotToken token)
    {
        if (Judge(token.Lease) is { } reason)
        {
            ThrowInvalid(reason, token.ToString(), token.StoreId);
        }
        return token.Lease!;
    }

    private InvalidTokenReason? JudgeStack(StackToken token) => Judge(token.Lease);

    /// <summary>The one rule for both kinds of token: a lease of this live Store that is still held. (No Store-level
    /// token is ever Stale: leases end by the Store only when it stops being live, and a Store that is not live
    /// refuses every token before judging it.)</summary>
    private InvalidTokenReason? Judge(Lease? lease)
    {
        ThrowIfNotLive();
        return lease is null ? InvalidTokenReason.Unknown
            : lease.StoreId != Id ? InvalidTokenReason.WrongOwner
            : !lease.IsHeld ? InvalidTokenReason.AlreadyReturned
            : null;
    }

    private static void CheckAccessible(SlotPool pool, nuint accessible, string paramName)
    {
        if (accessible > pool.Options.SlotSize || !VirtualMemory.IsPageMultiple(accessible))
        {
            throw new ArgumentOutOfRangeException(paramName, accessible, $"Must be a page multiple no larger than the {pool.Name} slot size ({pool.Options.SlotSize}).");
        }
    }

    private void ThrowIfNotLive()
    {
        if (_state == State.Consumed)
        {
            throw new InvalidOperationException($"Store {Id} has been consumed by IntoData.");
        }
        ObjectDisposedException.ThrowIf(_state is State.Disposed or State.Ending, this);
    }

    private void ThrowInvalid(InvalidTokenReason reason, string token, long ownerStoreId) =>
        ThrowHelper.ThrowTokenRefused(reason, token, ownerStoreId, Id);

    /// <summary>What this Store holds, one entry per stack or slot (for the abandoned-Store event).</summary>
    private string[] DescribeHeld() =>
        [.. _stacks.ToArray().Select(l => $"stack '{l.Owner}'"), .. _slots.ToArray().Select(l => $"{l.Pool.Name} slot {l.Slot.Index}")];

    /// <summary>Created with the first checkout, so a Store that never checks anything out costs the GC nothing;
    /// it lives exactly as long as its Store (each references the other).</summary>
    private sealed class StoreFinalizer(Store<T> store)
    {
        ~StoreFinalizer()
        {
            try
            {
                store.ReleaseAbandoned();
            }
            catch (Exception ex) when (ex is InvalidTokenException or ObjectDisposedException or VirtualMemoryException)
            {
                // A finalizer must not throw; whatever could not be returned stays out, and teardown reports it.
            }
        }
    }
}
