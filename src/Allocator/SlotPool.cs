using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Native;

namespace Allocator;

/// <summary>Fixed-size slots (instance state or linear memories) carved out of one reservation, each followed by
/// a guard region, reset before reuse, with batched resets and affinity for the key that used a slot last.</summary>
/// <remarks>
/// Only the first <c>accessible</c> bytes of a slot are read-write; the rest of the slot and its guard stay
/// inaccessible, so an access past the bound faults. Free slots live in three places: warm (remember an affinity
/// key; bounded by <see cref="SlotPoolOptions.MaxUnusedWarmSlots"/>, oldest forgotten first), cold, or pending
/// reset. Bookkeeping is under one lock; memory work (zeroing, madvise, mprotect) runs outside it.
/// </remarks>
public sealed class SlotPool : IDisposable
{
    private static int s_nextPoolId = 1 << 20;

    private readonly object _lock = new();
    private readonly MemoryReservation _reservation;
    private readonly nuint _stride;
    private readonly uint[] _state;             // even = not out, odd = out; the odd value is the generation
    private readonly nuint[] _accessible;       // read-write bytes at the start of each slot
    private readonly object?[] _key;            // affinity key of the current or last user
    private readonly Stack<int> _cold = new();
    private readonly LinkedList<int> _warmLru = new();
    private readonly LinkedListNode<int>?[] _lruNode;
    private readonly Dictionary<object, Stack<int>> _warmByKey = new();
    private readonly List<int> _pending = new();
    private readonly SlotGuardRange[] _guards;  // interior guards, sorted by offset
    private int _resetting;
    private int _inUse;
    private int _peak;
    private long _affinityHits;
    private long _totalCheckouts;
    private long _exhaustions;
    private long _refusedReturns;
    private bool _disposed;

    /// <summary>Reserves every slot up front. Throws <see cref="PoolConfigurationException"/> for bad options.</summary>
    public SlotPool(string name, SlotPoolOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(name);
        Name = name;
        Options = options;
        Id = Interlocked.Increment(ref s_nextPoolId);
        _stride = options.SlotSize + options.GuardSize;
        _guards = options.GuardRanges.OrderBy(g => g.Offset).ToArray();
        _reservation = VirtualMemory.Reserve(_stride * (nuint)options.MaxSlots);
        _state = new uint[options.MaxSlots];
        _accessible = new nuint[options.MaxSlots];
        _key = new object?[options.MaxSlots];
        _lruNode = new LinkedListNode<int>?[options.MaxSlots];
        for (int i = options.MaxSlots - 1; i >= 0; i--)
        {
            _cold.Push(i);
        }
    }

    /// <summary>Pool name used in errors, e.g. <c>memories</c>.</summary>
    public string Name { get; }

    /// <summary>The options the pool was built with.</summary>
    public SlotPoolOptions Options { get; }

    /// <summary>Identifies this pool in tokens.</summary>
    public int Id { get; }

    /// <summary>Slots checked out now.</summary>
    public int InUse => Volatile.Read(ref _inUse);

    /// <summary>Successful checkouts since creation.</summary>
    public long TotalCheckouts => Interlocked.Read(ref _totalCheckouts);

    /// <summary>Checkouts that found every slot out.</summary>
    public long Exhaustions => Interlocked.Read(ref _exhaustions);

    /// <summary>Returns refused as foreign, stale or double.</summary>
    public long RefusedReturns => Interlocked.Read(ref _refusedReturns);

    /// <summary>Checkouts that got the slot their key used last.</summary>
    public long AffinityHits => Interlocked.Read(ref _affinityHits);

    /// <summary>Checks out a slot, preferring the free slot <paramref name="affinityKey"/> used last. The first
    /// <paramref name="accessibleBytes"/> (default: the whole slot) are read-write and read as zeros.</summary>
    /// <exception cref="PoolExhaustedException">Every slot is checked out.</exception>
    public PooledSlot Rent(object? affinityKey = null, nuint? accessibleBytes = null)
    {
        nuint accessible = accessibleBytes ?? Options.SlotSize;
        CheckAccessible(accessible, nameof(accessibleBytes));
        int index;
        uint generation;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            index = TakeFreeSlot(affinityKey);
            generation = ++_state[index];
            _key[index] = affinityKey;
            _totalCheckouts++;
            _inUse++;
            _peak = Math.Max(_peak, _inUse);
        }
        try
        {
            SetAccessible(index, accessible);
        }
        catch
        {
            lock (_lock)
            {
                _state[index]++;
                _inUse--;
                _key[index] = null;
                _cold.Push(index);
                Monitor.PulseAll(_lock);
            }
            throw;
        }
        return new PooledSlot(Id, index, generation, SlotAddress(index), Options.SlotSize);
    }

    /// <summary>Returns a slot; it is reset (zeroed, memory given back beyond KeepResident) before anyone reuses it.</summary>
    /// <exception cref="InvalidTokenException">Foreign, stale or double return; nothing changes.</exception>
    public void Return(PooledSlot slot)
    {
        if (TryReturnCore(slot) is { } reason)
        {
            ThrowInvalid(reason, slot);
        }
    }

    /// <summary>Returns a slot; false (and no change) for a foreign, stale or double return.</summary>
    public bool TryReturn(PooledSlot slot) => TryReturnCore(slot) is null;

    /// <summary>Makes more of a checked-out slot read-write (e.g. <c>memory.grow</c>).</summary>
    public void Grow(PooledSlot slot, nuint accessibleBytes)
    {
        CheckAccessible(accessibleBytes, nameof(accessibleBytes));
        lock (_lock)
        {
            if (Validate(slot) is { } reason)
            {
                ThrowInvalid(reason, slot);
            }
            if (accessibleBytes < _accessible[slot.Index])
            {
                throw new ArgumentOutOfRangeException(nameof(accessibleBytes), accessibleBytes, $"A slot cannot shrink: {_accessible[slot.Index]} bytes are accessible already.");
            }
        }
        SetAccessible(slot.Index, accessibleBytes);
    }

    /// <summary>Read-write bytes at the start of a checked-out slot.</summary>
    public nuint GetAccessibleBytes(PooledSlot slot)
    {
        lock (_lock)
        {
            if (Validate(slot) is { } reason)
            {
                ThrowInvalid(reason, slot);
            }
            return _accessible[slot.Index];
        }
    }

    /// <summary>Checks whether <paramref name="slot"/> is the current checkout of its slot.</summary>
    public bool IsCheckedOut(PooledSlot slot)
    {
        lock (_lock)
        {
            return Validate(slot) is null;
        }
    }

    /// <summary>Resets every returned slot that is waiting for its batch now.</summary>
    public void FlushPendingResets()
    {
        int[] batch;
        lock (_lock)
        {
            batch = TakePending();
        }
        ResetAndRelease(batch);
    }

    /// <summary>A snapshot of counters and measured resident memory.</summary>
    public SlotPoolStatistics GetStatistics()
    {
        lock (_lock)
        {
            ulong resident = 0;
            if (!_disposed)
            {
                for (int i = 0; i < _state.Length; i++)
                {
                    resident += _reservation.ResidentBytes((nuint)i * _stride, Options.SlotSize);
                }
            }
            return new SlotPoolStatistics(Options.MaxSlots, _inUse, _peak, _warmLru.Count, _pending.Count, _affinityHits, _totalCheckouts, _exhaustions, _refusedReturns, resident);
        }
    }

    /// <summary>Releases the reservation, or, while slots are still out, as soon as the last one is returned.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (_inUse == 0 && _resetting == 0)
            {
                _reservation.Dispose();
            }
        }
    }

    private int TakeFreeSlot(object? affinityKey)
    {
        while (true)
        {
            if (affinityKey is not null && _warmByKey.TryGetValue(affinityKey, out Stack<int>? sameKey))
            {
                Interlocked.Increment(ref _affinityHits);
                return RemoveWarm(sameKey.Peek());
            }
            if (_cold.Count > 0)
            {
                return _cold.Pop();
            }
            if (_warmLru.First is { } oldest)
            {
                // No cold slot left: reuse the slot whose key has waited longest.
                return RemoveWarm(oldest.Value);
            }
            if (_pending.Count > 0)
            {
                int[] batch = TakePending();
                Monitor.Exit(_lock);
                try
                {
                    ResetAndRelease(batch);
                }
                finally
                {
                    Monitor.Enter(_lock);
                }
                continue;
            }
            if (_resetting > 0)
            {
                // Another thread is resetting a batch; its slots are free in a moment.
                Monitor.Wait(_lock);
                continue;
            }
            _exhaustions++;
            ThrowExhausted();
        }
    }

    private int[] TakePending()
    {
        int[] batch = _pending.ToArray();
        _pending.Clear();
        _resetting += batch.Length;
        return batch;
    }

    private InvalidTokenReason? TryReturnCore(PooledSlot slot)
    {
        int[]? batch = null;
        lock (_lock)
        {
            if (Validate(slot) is { } reason)
            {
                _refusedReturns++;
                return reason;
            }
            _state[slot.Index]++;
            _inUse--;
            _pending.Add(slot.Index);
            if (_pending.Count >= Options.DecommitBatchSize)
            {
                batch = TakePending();
            }
        }
        if (batch is not null)
        {
            ResetAndRelease(batch);
        }
        return null;
    }

    private void ResetAndRelease(int[] batch)
    {
        if (batch.Length == 0)
        {
            return;
        }
        int done = 0;
        try
        {
            for (; done < batch.Length; done++)
            {
                ResetSlot(batch[done]);
            }
        }
        finally
        {
            lock (_lock)
            {
                for (int i = 0; i < batch.Length; i++)
                {
                    // A slot whose reset failed goes back to pending, never to the free lists unreset.
                    if (i < done)
                    {
                        MakeFree(batch[i]);
                    }
                    else
                    {
                        _pending.Add(batch[i]);
                    }
                }
                _resetting -= batch.Length;
                Monitor.PulseAll(_lock);
                if (_disposed && _inUse == 0 && _resetting == 0)
                {
                    _reservation.Dispose();
                }
            }
        }
    }

    private unsafe void ResetSlot(int index)
    {
        nuint accessible = _accessible[index];
        nuint keep = Math.Min(Options.KeepResident, accessible);
        // Zero the kept bytes in place, stepping over interior guards (touching one would fault).
        nuint cursor = 0;
        foreach (SlotGuardRange guard in _guards)
        {
            if (guard.Offset >= keep)
            {
                break;
            }
            NativeMemory.Clear((void*)(SlotAddress(index) + (nint)cursor), guard.Offset - cursor);
            cursor = Math.Min(guard.End, keep);
        }
        if (keep > cursor)
        {
            NativeMemory.Clear((void*)(SlotAddress(index) + (nint)cursor), keep - cursor);
        }
        if (accessible > keep)
        {
            nuint offset = (nuint)index * _stride;
            _reservation.Discard(offset + keep, accessible - keep);
            _reservation.Protect(offset + keep, accessible - keep, MemoryProtection.NoAccess);
        }
        _accessible[index] = keep;
    }

    private void SetAccessible(int index, nuint accessible)
    {
        nuint current = _accessible[index];
        nuint offset = (nuint)index * _stride;
        if (accessible > current)
        {
            _reservation.Protect(offset + current, accessible - current, MemoryProtection.ReadWrite);
            foreach (SlotGuardRange guard in _guards)
            {
                // Put back the interior guards that the range just opened covers.
                nuint start = Math.Max(guard.Offset, current);
                nuint end = Math.Min(guard.End, accessible);
                if (start < end)
                {
                    _reservation.Protect(offset + start, end - start, MemoryProtection.NoAccess);
                }
            }
        }
        else if (accessible < current)
        {
            // The kept bytes are zero already; hide the part this user did not ask for.
            _reservation.Protect(offset + accessible, current - accessible, MemoryProtection.NoAccess);
        }
        _accessible[index] = accessible;
    }

    private void MakeFree(int index)
    {
        object? key = _key[index];
        if (key is null || Options.MaxUnusedWarmSlots == 0)
        {
            _key[index] = null;
            _cold.Push(index);
            return;
        }
        if (!_warmByKey.TryGetValue(key, out Stack<int>? slots))
        {
            slots = new Stack<int>();
            _warmByKey.Add(key, slots);
        }
        slots.Push(index);
        _lruNode[index] = _warmLru.AddLast(index);
        if (_warmLru.Count > Options.MaxUnusedWarmSlots)
        {
            int forgotten = RemoveWarm(_warmLru.First!.Value);
            _cold.Push(forgotten);
        }
    }

    private int RemoveWarm(int index)
    {
        object key = _key[index]!;
        Stack<int> slots = _warmByKey[key];
        // Warm slots of one key are few; rebuilding without the index keeps the structure simple.
        if (slots.Peek() == index)
        {
            slots.Pop();
        }
        else
        {
            int[] rest = slots.Where(s => s != index).Reverse().ToArray();
            slots.Clear();
            foreach (int s in rest)
            {
                slots.Push(s);
            }
        }
        if (slots.Count == 0)
        {
            _warmByKey.Remove(key);
        }
        _warmLru.Remove(_lruNode[index]!);
        _lruNode[index] = null;
        _key[index] = null;
        return index;
    }

    private InvalidTokenReason? Validate(PooledSlot slot) =>
        CheckoutGeneration.CheckShape(slot.PoolId, Id, slot.Index, _state.Length, slot.Generation)
        ?? CheckoutGeneration.CheckCurrent(_state[slot.Index], slot.Generation);

    private void CheckAccessible(nuint accessible, string paramName)
    {
        if (accessible > Options.SlotSize || !VirtualMemory.IsPageMultiple(accessible))
        {
            throw new ArgumentOutOfRangeException(paramName, accessible, $"Must be a page multiple no larger than the slot size ({Options.SlotSize}).");
        }
    }

    private nint SlotAddress(int index) => _reservation.BaseAddress + (nint)((nuint)index * _stride);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowExhausted() =>
        throw new PoolExhaustedException(Name, $"{nameof(SlotPoolOptions)}({Name}).{nameof(SlotPoolOptions.MaxSlots)}", Options.MaxSlots);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalid(InvalidTokenReason reason, PooledSlot slot) =>
        throw new InvalidTokenException(reason, $"slot {slot.Index} generation {slot.Generation} of pool {slot.PoolId}");
}
