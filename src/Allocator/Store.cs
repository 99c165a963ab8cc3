using System.Runtime.CompilerServices;
using Allocator.Native;

namespace Allocator;

/// <summary>Owns user data plus every stack and slot it checks out of a <see cref="PoolingAllocator"/>.</summary>
/// <remarks>
/// Every exit path goes through <see cref="ReleaseEverything"/>: <see cref="IntoData"/> (only once no stack is out)
/// and <see cref="Dispose"/>. The stack cached for reuse is flushed there too, which is exactly what Wasmtime 28's
/// <c>into_data</c> missed. Members are thread-safe; one lock guards the bookkeeping.
/// </remarks>
public sealed class Store<T> : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<long, StackEntry> _stacks = new();
    private readonly Dictionary<long, SlotToken> _slots = new();
    private T _data;
    private PooledStack _cachedStack;
    private long _nextLease;
    private State _state;

    /// <summary>Creates a Store that checks resources out of <paramref name="allocator"/>.</summary>
    public Store(PoolingAllocator allocator, T data)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        Allocator = allocator;
        _data = data;
        Id = StoreIds.Next();
    }

    private enum State { Live, Consumed, Disposed }

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

    /// <summary>Checks out a stack for <paramref name="owner"/>. A <paramref name="holder"/> (e.g. a fiber) is asked
    /// to unwind and return it if the Store is disposed first.</summary>
    /// <exception cref="PoolExhaustedException">The stack pool is exhausted.</exception>
    public StackToken CheckoutStack(string owner, IStackHolder? holder = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (_lock)
        {
            ThrowIfNotLive();
            PooledStack stack = _cachedStack;
            _cachedStack = default;
            if (!stack.IsValid)
            {
                stack = Allocator.Stacks.Rent();
            }
            long lease = ++_nextLease;
            _stacks.Add(lease, new StackEntry(stack, owner, holder));
            return new StackToken(Id, lease, stack);
        }
    }

    /// <summary>Returns a stack. Throws <see cref="InvalidTokenException"/> for a token of another Store, or one
    /// already returned; the Store and the pool are unchanged then.</summary>
    public void ReturnStack(StackToken token)
    {
        if (TryReturnStackCore(token) is { } reason)
        {
            ThrowInvalid(reason, token.Lease);
        }
    }

    /// <summary>Returns a stack; false (and no change) for a foreign or already returned token.</summary>
    public bool TryReturnStack(StackToken token) => TryReturnStackCore(token) is null;

    /// <summary>The stack a live token stands for. Throws <see cref="InvalidTokenException"/> otherwise.</summary>
    public PooledStack GetStack(StackToken token)
    {
        lock (_lock)
        {
            if (ValidateStack(token) is { } reason)
            {
                ThrowInvalid(reason, token.Lease);
            }
            return token.Stack;
        }
    }

    /// <summary>Checks out an instance slot, preferring the one <paramref name="affinityKey"/> used last, with
    /// <paramref name="accessibleBytes"/> read-write (default: all; a layout's <c>AccessibleSize</c> leaves its
    /// trailing guard inaccessible).</summary>
    public SlotToken CheckoutInstance(object? affinityKey = null, nuint? accessibleBytes = null) => CheckoutSlot(SlotKind.Instance, affinityKey, accessibleBytes);

    /// <summary>Checks out a linear memory slot with <paramref name="accessibleBytes"/> read-write (default: all).</summary>
    public SlotToken CheckoutMemory(object? affinityKey = null, nuint? accessibleBytes = null) => CheckoutSlot(SlotKind.Memory, affinityKey, accessibleBytes);

    /// <summary>Returns a slot before the Store ends. Throws <see cref="InvalidTokenException"/> for a foreign or
    /// already returned token.</summary>
    public void ReturnSlot(SlotToken token)
    {
        lock (_lock)
        {
            if (ValidateSlot(token) is { } reason)
            {
                ThrowInvalid(reason, token.Lease);
            }
            _slots.Remove(token.Lease);
            PoolOf(token.Kind).Return(token.Slot);
        }
    }

    /// <summary>First byte of a slot this Store holds.</summary>
    public nint GetSlotAddress(SlotToken token)
    {
        lock (_lock)
        {
            if (ValidateSlot(token) is { } reason)
            {
                ThrowInvalid(reason, token.Lease);
            }
            return token.Slot.BaseAddress;
        }
    }

    /// <summary>The read-write bytes of a slot this Store holds.</summary>
    public unsafe Span<byte> GetSlotMemory(SlotToken token)
    {
        lock (_lock)
        {
            if (ValidateSlot(token) is { } reason)
            {
                ThrowInvalid(reason, token.Lease);
            }
            nuint accessible = PoolOf(token.Kind).GetAccessibleBytes(token.Slot);
            return new Span<byte>((void*)token.Slot.BaseAddress, checked((int)accessible));
        }
    }

    /// <summary>Makes more of a memory slot read-write (e.g. <c>memory.grow</c>).</summary>
    public void GrowMemory(SlotToken token, nuint accessibleBytes)
    {
        lock (_lock)
        {
            if (ValidateSlot(token) is { } reason)
            {
                ThrowInvalid(reason, token.Lease);
            }
            PoolOf(token.Kind).Grow(token.Slot, accessibleBytes);
        }
    }

    /// <summary>Consumes the Store: returns every slot and the cached stack to the pools and yields the data.</summary>
    /// <exception cref="StacksCheckedOutException">Stacks are still checked out (a fiber may be suspended on one);
    /// the Store is left intact and usable.</exception>
    public T IntoData()
    {
        lock (_lock)
        {
            ThrowIfNotLive();
            if (_stacks.Count > 0)
            {
                throw new StacksCheckedOutException(_stacks.Values.Select(e => e.Owner).ToArray());
            }
            ReleaseEverything();
            _state = State.Consumed;
            GC.SuppressFinalize(this);
            T data = _data;
            _data = default!;
            return data;
        }
    }

    /// <summary>Asks every stack holder to unwind and return its stack, returns the rest, and frees every slot.</summary>
    /// <exception cref="AggregateException">A holder failed to release its stack; that stack stays checked out
    /// rather than being reused under live frames.</exception>
    public void Dispose()
    {
        StackEntry[] held;
        lock (_lock)
        {
            if (_state != State.Live)
            {
                return;
            }
            held = _stacks.Values.Where(e => e.Holder is not null).ToArray();
        }
        List<Exception>? failures = null;
        foreach (StackEntry entry in held)
        {
            try
            {
                entry.Holder!.ReleaseStack();
            }
            catch (Exception ex)
            {
                (failures ??= new()).Add(ex);
            }
        }
        lock (_lock)
        {
            if (_state != State.Live)
            {
                return;
            }
            // Stacks without a holder were handed out raw: nothing of ours runs on them, so they go straight back.
            foreach (KeyValuePair<long, StackEntry> pair in _stacks.Where(p => p.Value.Holder is null).ToArray())
            {
                _stacks.Remove(pair.Key);
                Allocator.Stacks.Return(pair.Value.Stack);
            }
            ReleaseEverything();
            _state = State.Disposed;
            _data = default!;
            GC.SuppressFinalize(this);
        }
        if (failures is not null)
        {
            throw new AggregateException("Some stack holders failed to release their stacks; those stacks stay checked out.", failures);
        }
    }

    /// <summary>A Store that became unreachable without <see cref="Dispose"/> or <see cref="IntoData"/> gives its
    /// stacks and slots back here instead of leaking them (the pool would otherwise run dry, as Wasmtime 28's did).</summary>
    /// <remarks>Safe because nothing can run on those stacks any more: a running or resumable fiber keeps its Store
    /// reachable through its stack lease, so an unreachable Store's fibers are at most abandoned native frames that
    /// nobody will resume. Counted in <see cref="PoolingAllocator.AbandonedStores"/> so the bug stays visible.</remarks>
    ~Store()
    {
        if (Allocator is null || _state != State.Live)
        {
            return;
        }
        try
        {
            foreach (StackEntry entry in _stacks.Values)
            {
                Allocator.Stacks.TryReturn(entry.Stack);
            }
            _stacks.Clear();
            ReleaseEverything();
            _state = State.Disposed;
            Allocator.CountAbandonedStore();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidTokenException or VirtualMemoryException)
        {
            // A finalizer must not throw; whatever could not be returned stays out.
        }
    }

    private SlotToken CheckoutSlot(SlotKind kind, object? affinityKey, nuint? accessibleBytes)
    {
        lock (_lock)
        {
            ThrowIfNotLive();
            PooledSlot slot = PoolOf(kind).Rent(affinityKey, accessibleBytes);
            var token = new SlotToken(Id, ++_nextLease, kind, slot);
            _slots.Add(token.Lease, token);
            return token;
        }
    }

    private InvalidTokenReason? TryReturnStackCore(StackToken token)
    {
        lock (_lock)
        {
            if (ValidateStack(token) is { } reason)
            {
                return reason;
            }
            _stacks.Remove(token.Lease);
            if (Allocator.Options.CacheStackInStore && !_cachedStack.IsValid && _state == State.Live)
            {
                _cachedStack = token.Stack;
            }
            else
            {
                Allocator.Stacks.Return(token.Stack);
            }
            return null;
        }
    }

    /// <summary>The single release path: cached stack and every slot back to their pools.</summary>
    private void ReleaseEverything()
    {
        if (_cachedStack.IsValid)
        {
            Allocator.Stacks.Return(_cachedStack);
            _cachedStack = default;
        }
        foreach (SlotToken slot in _slots.Values)
        {
            PoolOf(slot.Kind).Return(slot.Slot);
        }
        _slots.Clear();
    }

    private InvalidTokenReason? ValidateStack(StackToken token) =>
        ValidateLease(token.StoreId, token.Lease, token.IsValid,
            _stacks.TryGetValue(token.Lease, out StackEntry entry) ? entry.Stack == token.Stack : null);

    private InvalidTokenReason? ValidateSlot(SlotToken token) =>
        ValidateLease(token.StoreId, token.Lease, token.IsValid,
            _slots.TryGetValue(token.Lease, out SlotToken held) ? held == token : null);

    /// <summary>The rule for both kinds of token: this Store's id, a lease it still holds, and the same resource.
    /// <paramref name="matchesHeld"/> is null when the lease is not held, otherwise whether the token matches it.</summary>
    private InvalidTokenReason? ValidateLease(long storeId, long lease, bool isValid, bool? matchesHeld)
    {
        if (storeId != Id)
        {
            return isValid ? InvalidTokenReason.WrongOwner : InvalidTokenReason.Unknown;
        }
        if (matchesHeld is not { } matches)
        {
            return lease > 0 && lease <= _nextLease ? InvalidTokenReason.AlreadyReturned : InvalidTokenReason.Unknown;
        }
        return matches ? null : InvalidTokenReason.Unknown;
    }

    private SlotPool PoolOf(SlotKind kind) => kind switch
    {
        SlotKind.Instance => Allocator.Instances,
        SlotKind.Memory => Allocator.Memories,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown slot kind."),
    };

    private void ThrowIfNotLive()
    {
        if (_state == State.Consumed)
        {
            throw new InvalidOperationException("The Store has been consumed by IntoData.");
        }
        ObjectDisposedException.ThrowIf(_state == State.Disposed, this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowInvalid(InvalidTokenReason reason, long lease) =>
        throw new InvalidTokenException(reason, $"lease {lease} of Store {Id}");

    private readonly record struct StackEntry(PooledStack Stack, string Owner, IStackHolder? Holder);
}
