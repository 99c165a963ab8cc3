using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
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
/// <para>Each checkout is one lease, the only record of it; tokens and fibers point at that lease. Leases, the
/// finalizer tracker and the bookkeeping itself (<see cref="StoreCore"/>: the lock, lists and counts) are reused
/// across checkouts and Stores (generations tell an old token from a current one), so a Store in steady state
/// allocates only itself, a small object that its checkouts and returns never write. Members are thread-safe; one
/// lock guards the bookkeeping, and no pool or fiber code runs under it except checkouts and returns. Every member
/// checks the Store's state under the lock before it touches the bookkeeping, which is what makes reusing it safe:
/// an ended Store's core may already serve another Store.</para>
/// </remarks>
public sealed partial class Store<T> : IStackLeaseOwner, IAbandonableStore, IDisposable
{
    // The lock, lists, counts, cached stack and tracker: what checkouts and returns write, kept apart (see StoreCore).
    // Replaced by StoreCore.Ended once the Store has ended and handed it back.
    private StoreCore _core;
    private T _data;
    private State _state; // written only as the Store ends; read first under the lock by every member
    private readonly bool _cachesStack; // Allocator.Options.CacheStackInStore, read once: every return asks

    /// <summary>Creates a Store that checks resources out of <paramref name="allocator"/>.</summary>
    public Store(PoolingAllocator allocator, T data)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        Allocator = allocator;
        _cachesStack = allocator.Options.CacheStackInStore;
        _data = data;
        Id = StoreIds.Next();
        _core = StoreCore.Rent(Id);
    }

    private enum State : byte { Live, Ending, Consumed, Disposed }

    /// <summary>Unique id, carried by every token this Store hands out.</summary>
    public long Id { get; }

    /// <summary>The allocator the Store draws from.</summary>
    public PoolingAllocator Allocator { get; }

    /// <summary>The user data. Throws once the Store has been consumed or disposed.</summary>
    public ref T Data
    {
        get
        {
            using (Lock())
            {
                ThrowIfNotLive();
            }
            return ref _data;
        }
    }

    /// <summary>The bookkeeping this Store uses (for tests): <see cref="StoreCore.Ended"/> once it ended and handed it back.</summary>
    internal StoreCore Core => Volatile.Read(ref _core);

    /// <summary>Stacks checked out now (not counting the one kept cached for reuse).</summary>
    public int StacksCheckedOut
    {
        get
        {
            using (Lock())
            {
                // An ended Store's core may serve another Store by now: this one holds nothing.
                return _core.OwnerId == Id ? _core.RawStacksOut + _core.FiberStacks.Count : 0;
            }
        }
    }

    /// <summary>Instance and memory slots checked out now.</summary>
    public int SlotsCheckedOut
    {
        get
        {
            using (Lock())
            {
                return _core.OwnerId == Id ? _core.Slots.Count : 0;
            }
        }
    }

    /// <summary>Checks out a raw stack for <paramref name="owner"/> (fibers check theirs out themselves).</summary>
    /// <exception cref="PoolExhaustedException">The stack pool is exhausted.</exception>
    public StackToken CheckoutStack(string owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        using (Lock())
        {
            // The token is made under the lock: once it is released, Dispose may return the stack and another Store
            // reuse the lease.
            return new StackToken(CheckoutStackLeaseLocked(owner, holder: null));
        }
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
        using (Lock())
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
        using (Lock())
        {
            lease = HeldSlot(token);
            _core.Slots.Remove(lease);
            lease.EndCheckout();
        }
        ReturnToPool(lease);
    }

    /// <summary>First byte of a slot this Store holds (for native guests; read-write only up to
    /// <see cref="GetAccessibleBytes"/>, interior guards never).</summary>
    public nint GetSlotAddress(SlotToken token)
    {
        using (Lock())
        {
            return HeldSlot(token).Slot.BaseAddress;
        }
    }

    /// <summary>Read-write bytes at the start of a slot this Store holds (interior guard ranges inside them stay
    /// inaccessible). Works at any size, including above 2 GiB.</summary>
    public nuint GetAccessibleBytes(SlotToken token)
    {
        (SlotPool pool, PooledSlot slot) = HeldSlotCheckout(token);
        return pool.GetAccessibleBytes(slot);
    }

    /// <summary>The read-write bytes of a slot from its start up to its first interior guard.</summary>
    /// <exception cref="InvalidOperationException">That part is 2 GiB or more, which a span cannot cover: use
    /// <see cref="GetSlotMemory(SlotToken, nuint, int)"/>.</exception>
    public Span<byte> GetSlotMemory(SlotToken token)
    {
        (SlotPool pool, PooledSlot slot) = HeldSlotCheckout(token);
        nuint accessible = pool.GetAccessibleBytes(slot);
        nuint contiguous = Math.Min(accessible, pool.NextGuardAtOrAfter(0));
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
        (SlotPool pool, PooledSlot slot) = HeldSlotCheckout(token);
        nint address = pool.GetAccessibleRange(slot, offset, (nuint)length);
        return new Span<byte>((void*)address, length);
    }

    /// <summary>Makes more of a memory slot read-write (e.g. <c>memory.grow</c>).</summary>
    public void GrowMemory(SlotToken token, nuint accessibleBytes)
    {
        (SlotPool pool, PooledSlot slot) = HeldSlotCheckout(token);
        CheckAccessible(pool, accessibleBytes, nameof(accessibleBytes));
        pool.Grow(slot, accessibleBytes);
    }

    /// <summary>Consumes the Store: returns every slot and the cached stack to the pools and yields the data.</summary>
    /// <exception cref="StacksCheckedOutException">Stacks are still checked out (a fiber may be suspended on one, or a
    /// cancelled fiber's host call may still be running, which its owner label then says); the Store is left intact
    /// and usable.</exception>
    public T IntoData()
    {
        List<Exception>? failures;
        T data;
        bool handBack;
        using (Lock())
        {
            ThrowIfNotLive();
            if (!NoStacksOut)
            {
                throw new StacksCheckedOutException([.. RawLeasesHeld().Select(DescribeHolder), .. _core.FiberStacks.ToArray().Select(DescribeHolder)]);
            }
            _state = State.Consumed;
            failures = ReleaseAll();
            handBack = _core.TakeHandBack();
            data = _data;
            _data = default!;
        }
        HandBackIf(handBack);
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
        IStackHolder[] holders;
        using (Lock())
        {
            if (_state is not State.Live)
            {
                return;
            }
            _state = State.Ending;
            // The holders, not their leases: once the lock is released a lease may go back and be reused.
            holders = HoldersOfStacks();
        }
        List<Exception>? failures = null;
        bool handBack;
        foreach (IStackHolder holder in holders)
        {
            try
            {
                // Raw stacks (no holder) go back below, under the lock.
                holder.ReleaseStack();
            }
            catch (Exception ex)
            {
                (failures ??= new()).Add(ex);
            }
        }
        using (Lock())
        {
            _state = State.Disposed;
            // Raw stacks run nothing of ours: they go straight back. Fiber stacks still out stay out.
            foreach (StackLease lease in RawLeasesHeld())
            {
                _core.RawStacksOut--;
                Collect(ref failures, ReturnToPool(lease));
            }
            if (ReleaseUnlessFibersHoldStacks() is { } released)
            {
                (failures ??= new()).AddRange(released);
            }
            handBack = _core.TakeHandBack();
            _data = default!;
        }
        HandBackIf(handBack);
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
        using (Lock())
        {
            if (_state is State.Consumed or State.Disposed)
            {
                return;
            }
            _state = State.Disposed;
            // Finalizing: the tracker dies with this Store rather than becoming a spare.
            _core.Tracker = null;
            held = AllocatorEventSource.Log.IsEnabled() ? DescribeHeld() : [];
            foreach (StackLease raw in RawLeasesHeld())
            {
                _core.RawStacksOut--;
                _ = ReturnToPool(raw);
            }
            StackLease? next;
            for (StackLease? lease = _core.FiberStacks.First; lease is not null; lease = next)
            {
                next = (StackLease?)lease.Next;
                if (lease.Holder!.TryRevoke())
                {
                    _core.FiberStacks.Remove(lease);
                    _ = ReturnToPool(lease);
                }
            }
            _ = ReleaseUnlessFibersHoldStacks();
        }
        Allocator.CountAbandonedStore(Id, held);
    }

    /// <summary>Checks out a stack for a fiber (or a raw one when <paramref name="holder"/> is null).</summary>
    internal StackLease CheckoutStackLease(string owner, IStackHolder? holder)
    {
        using (Lock())
        {
            return CheckoutStackLeaseLocked(owner, holder);
        }
    }

    void IStackLeaseOwner.ReturnStackLease(StackLease lease, ulong generation, bool deferred)
    {
        bool handBack = false;
        using (Lock())
        {
            // Another checkout of the same lease by now (of this Store or, racing the read of the lease's Store,
            // another): not this caller's to return.
            if (lease.Generation == generation)
            {
                ReturnStackLeaseLocked(lease, deferred);
                // The last stack of an ended Store: its release just ran.
                handBack = _core.TakeHandBack();
            }
        }
        HandBackIf(handBack);
    }

    void IAbandonableStore.ReleaseAbandoned() => ReleaseAbandoned();

    // Inlined on purpose: native AOT has no profile to find this hot path (docs/architecture.md, "Hot paths").
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private StackLease CheckoutStackLeaseLocked(string owner, IStackHolder? holder)
    {
        Debug.Assert(_core.Lock.IsHeldByCurrentThread);
        ThrowIfNotLive();
        // The tracker first: once a stack is out, nothing may fail before it is listed.
        EnsureTracker();
        bool forFiber = holder is not null;
        StackLease? lease = _core.CachedStack;
        PooledStack stack;
        if (lease is not null)
        {
            _core.CachedStack = null;
            stack = lease.Stack;
            if (lease.ForFiber != forFiber)
            {
                // The cached stack changes kind: its lease goes back to its own shelf, the other kind's comes off.
                ShelveLease(stack.Index, lease);
                lease = LeaseOf(stack.Index, forFiber);
            }
        }
        else
        {
            stack = Allocator.Stacks.Rent(Id, owner);
            lease = LeaseOf(stack.Index, forFiber);
        }
        lease.Begin(this, Id, stack, owner, holder);
        if (forFiber)
        {
            _core.FiberStacks.Add(lease);
        }
        else
        {
            _core.RawStacksOut++;
        }
        return lease;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReturnStackLeaseLocked(StackLease lease, bool deferred)
    {
        Debug.Assert(_core.Lock.IsHeldByCurrentThread);
        if (!lease.IsHeld)
        {
            // Revoked by the finalizer or returned already: the stack is not this lease's to give any more.
            return;
        }
        Debug.Assert(lease.StoreId == Id, "A lease calls back only the Store that holds it.");
        if (lease.ForFiber)
        {
            _core.FiberStacks.Remove(lease);
        }
        else
        {
            Debug.Assert(_core.RawStacksOut > 0);
            _core.RawStacksOut--;
        }
        if (deferred)
        {
            Allocator.CountDeferredReturns(1);
        }
        InvalidTokenReason? refused = null;
        if (_cachesStack && _state == State.Live && _core.CachedStack is null)
        {
            lease.Shelve(); // ends the checkout and drops the fiber and the Store; the stack stays ours
            _core.CachedStack = lease;
        }
        else
        {
            refused = ReturnToPool(lease);
        }
        if (_core.ReleasePending && NoStacksOut)
        {
            // The Store ended while this fiber's host task ran; now nothing can write to its slots.
            // Stryker disable once Boolean : no stack can come back after the last one (the Store is dead), so nothing reads the flag again.
            _core.ReleasePending = false;
            Allocator.CountDeferredReturns(_core.Slots.Count);
            List<Exception>? failures = ReleaseAll();
            Debug.Assert(failures is null, "Held slot leases name their current checkouts.");
        }
        Debug.Assert(refused is null, "A held lease names the stack's current checkout.");
    }

    /// <summary>Under the lock: what runs on this Store's stacks (nothing allocated when no stack is out).</summary>
    private IStackHolder[] HoldersOfStacks()
    {
        if (_core.FiberStacks.IsEmpty)
        {
            return [];
        }
        var holders = new IStackHolder[_core.FiberStacks.Count];
        int i = 0;
        for (Lease? lease = _core.FiberStacks.First; lease is not null; lease = lease.Next)
        {
            holders[i++] = ((StackLease)lease).Holder!;
        }
        return holders;
    }

    /// <summary>Under the lock, for an ended Store: runs <see cref="ReleaseAll"/> now, or, while fibers still hold
    /// stacks (their host tasks run or they are unwinding), leaves it to the last of them to come back.</summary>
    private List<Exception>? ReleaseUnlessFibersHoldStacks()
    {
        Debug.Assert(_core.Lock.IsHeldByCurrentThread && _state is State.Disposed);
        if (!NoStacksOut)
        {
            _core.ReleasePending = true;
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
        using (Lock())
        {
            ThrowIfNotLive();
            EnsureTracker();
            PooledSlot slot = pool.Rent(Id, affinityKey, accessible, image);
            SlotLease lease = ShelfOf(pool).Take(slot.Index) ?? new SlotLease(pool);
            lease.Begin(Id, slot);
            _core.Slots.Add(lease);
            return new SlotToken(lease);
        }
    }

    private InvalidTokenReason? TryReturnStackCore(StackToken token)
    {
        using (Lock())
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
            ReturnStackLeaseLocked(token.Lease, deferred: false);
            return null;
        }
    }

    /// <summary>The single release path, under the lock: the cached stack and every slot back to their pools. Every
    /// item is tried even when one fails; a reset that failed stays queued in its pool, so only refusals (a bug) are
    /// reported.</summary>
    private List<Exception>? ReleaseAll()
    {
        Debug.Assert(_core.Lock.IsHeldByCurrentThread && _state is not State.Live);
        List<Exception>? failures = null;
        if (_core.CachedStack is { } cached)
        {
            _core.CachedStack = null;
            Collect(ref failures, ReturnToPool(cached));
        }
        while (_core.Slots.First is { } lease)
        {
            _core.Slots.Remove(lease);
            lease.EndCheckout();
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
        Debug.Assert(NoStacksOut);
        // Not only the finalizer's work: the detached tracker is the thread's spare, so the next Store allocates none.
        if (_core.Tracker is { } tracker)
        {
            _core.Tracker = null;
            tracker.Detach();
        }
        // Nothing left here: the core may serve the next Store once the caller has left the lock.
        _core.Detach();
        return failures;
    }

    /// <summary>Shelves <paramref name="lease"/> and gives its stack back to the pool: the lease first, because the
    /// stack's next checkout may take it the moment the pool frees the slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private InvalidTokenReason? ReturnToPool(StackLease lease)
    {
        PooledStack stack = lease.Stack;
        lease.Shelve();
        ShelveLease(stack.Index, lease);
        try
        {
            // Held: this Store returns a checkout once, under its lock, and no other Store has it (see ReturnHeld).
            return Allocator.Stacks.ReturnHeld(stack);
        }
        // Stryker disable once Block : an emptied block returns default, which is the null this block returns.
        catch (VirtualMemoryException)
        {
            // Zeroing failed; the pool keeps the stack queued and resets it before reuse.
            return null;
        }
    }

    /// <summary>Shelves <paramref name="lease"/> (its checkout already ended) and gives its slot back to the pool.</summary>
    private void ReturnToPool(SlotLease lease)
    {
        SlotPool pool = lease.Pool;
        PooledSlot slot = lease.Slot;
        lease.Shelve();
        ShelfOf(pool).Put(slot.Index, lease);
        if (pool.Return(slot) is { } reason)
        {
            throw ThrowHelper.InvalidToken(reason, $"{pool.Name} slot {slot.Index} was refused by its pool");
        }
    }

    /// <summary>Slot <paramref name="index"/>'s lease of the kind asked for: a raw one from its permanent place, a
    /// fiber's off its shelf (or a new one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private StackLease LeaseOf(int index, bool forFiber) => forFiber
        ? Allocator.Shelves.FiberStacks.Take(index) ?? new StackLease(forFiber: true)
        : Allocator.Shelves.RawStacks.Get(index);

    /// <summary>Puts a shelved lease where the slot's next checkout finds it: a fiber's back on its shelf; a raw one
    /// never left its place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ShelveLease(int index, StackLease lease)
    {
        if (lease.ForFiber)
        {
            Allocator.Shelves.FiberStacks.Put(index, lease);
        }
        else
        {
            Debug.Assert(ReferenceEquals(Allocator.Shelves.RawStacks.Peek(index), lease), "A raw lease stays in its place.");
        }
    }

    /// <summary>Under the lock: the raw stack leases this Store holds (cold paths: one pass over the stack slots).</summary>
    private StackLease[] RawLeasesHeld() => _core.RawStacksOut == 0 ? [] : Allocator.Shelves.RawStacks.HeldBy(Id, _core.RawStacksOut);

    private bool NoStacksOut => _core.RawStacksOut == 0 && _core.FiberStacks.IsEmpty;

    private LeaseShelf<SlotLease> ShelfOf(SlotPool pool) =>
        ReferenceEquals(pool, Allocator.Memories) ? Allocator.Shelves.Memories : Allocator.Shelves.Instances;

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

    /// <summary>Under the lock, before the first checkout: attaches a finalizer tracker (the thread's spare when it
    /// has one), so a Store that never checks anything out costs the GC nothing.</summary>
    private void EnsureTracker() => _core.Tracker ??= StoreTracker.AttachTo(this);

    /// <summary>After the lock is left: hands the core of a Store that has released everything back for reuse (see
    /// <see cref="StoreCore"/>); <paramref name="released"/> is what <see cref="StoreCore.TakeHandBack"/> said.</summary>
    private void HandBackIf(bool released)
    {
        StoreCore core = _core;
        // Not while this thread is still inside the lock (the release ran in an outer entry of the same Store, from
        // an event listener): that entry goes on with this core, which then is simply collected with the Store.
        if (released && !core.Lock.IsHeldByCurrentThread)
        {
            // Let go first: once handed back the core serves another Store, which it must not keep reachable.
            Volatile.Write(ref _core, StoreCore.Ended);
            core.HandBack();
        }
    }

    /// <summary>Locks the bookkeeping for a <c>using</c> block.</summary>
    private LockScope Lock() => new(ref _core.Lock);

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
        if (Judge(token.IsValid, token.StoreId, token.NamesCurrentCheckout) is { } reason)
        {
            ThrowInvalid(reason, token.ToString(), token.StoreId);
        }
        return token.Lease!;
    }

    /// <summary>The pool and checkout of a slot this Store holds, read under the lock: once it is released, the
    /// lease may go back and be reused, but these values keep naming this checkout, which the pool then refuses.</summary>
    private (SlotPool Pool, PooledSlot Slot) HeldSlotCheckout(SlotToken token)
    {
        using (Lock())
        {
            SlotLease lease = HeldSlot(token);
            return (lease.Pool, lease.Slot);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private InvalidTokenReason? JudgeStack(StackToken token) => Judge(token.IsValid, token.StoreId, token.NamesCurrentCheckout);

    /// <summary>The one rule for both kinds of token: it names a checkout of this live Store that is still on (its
    /// lease shows the token's generation; leases are reused, generations never). No Store-level token is ever
    /// Stale: leases end by the Store only when it stops being live, and a Store that is not live refuses every token
    /// before judging it; a copy of a token whose lease went to another checkout is AlreadyReturned for the Store
    /// that gave it out, and WrongOwner for any other.</summary>
    private InvalidTokenReason? Judge(bool isValid, long tokenStoreId, bool namesCurrentCheckout)
    {
        ThrowIfNotLive();
        return !isValid ? InvalidTokenReason.Unknown
            : tokenStoreId != Id ? InvalidTokenReason.WrongOwner
            : !namesCurrentCheckout ? InvalidTokenReason.AlreadyReturned
            : null;
    }

    private static void CheckAccessible(SlotPool pool, nuint accessible, string paramName)
    {
        if (accessible > pool.Options.SlotSize || !VirtualMemory.IsPageMultiple(accessible))
        {
            throw new ArgumentOutOfRangeException(paramName, accessible, $"Must be a page multiple no larger than the {pool.Name} slot size ({pool.Options.SlotSize}).");
        }
    }

    /// <summary>One compare on the hot path; the message is built in <see cref="ThrowNotLive"/>, which is never
    /// inlined: inlined, its interpolated-string locals took a 184-byte frame, zeroed on every checkout.</summary>
    private void ThrowIfNotLive()
    {
        if (_state != State.Live)
        {
            ThrowNotLive();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotLive()
    {
        if (_state == State.Consumed)
        {
            throw new InvalidOperationException($"Store {Id} has been consumed by IntoData.");
        }
        Debug.Assert(_state is State.Disposed or State.Ending);
        throw new ObjectDisposedException(GetType().FullName);
    }

    private void ThrowInvalid(InvalidTokenReason reason, string token, long ownerStoreId) =>
        ThrowHelper.ThrowTokenRefused(reason, token, ownerStoreId, Id);

    /// <summary>What this Store holds, one entry per stack or slot (for the abandoned-Store event).</summary>
    private string[] DescribeHeld() =>
        [.. RawLeasesHeld().Select(l => $"stack '{l.Owner}'"), .. _core.FiberStacks.ToArray().Select(l => $"stack '{l.Owner}'"), .. _core.Slots.ToArray().Select(l => $"{l.Pool.Name} slot {l.Slot.Index}")];

    /// <summary>The held <see cref="StoreLock"/> of a <c>using</c> block.</summary>
    private ref struct LockScope
    {
        private readonly ref StoreLock _held;

        public LockScope(ref StoreLock storeLock)
        {
            storeLock.Enter();
            _held = ref storeLock;
        }

        public readonly void Dispose() => _held.Exit();
    }
}
