using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Memory;

namespace Allocator.Pooling;

/// <summary>Fixed-size slots (instance state or linear memories) carved out of one reservation, each followed by a
/// guard region. This class keeps memory and protection; which slot goes out is the <see cref="IndexAllocator"/>'s
/// business and when returned slots are reset the <see cref="DecommitQueue"/>'s. Internal: slots reach users only
/// through a Store.</summary>
/// <remarks>
/// Only the first <c>accessible</c> bytes of a slot are read-write; the rest of the slot, its interior guard ranges
/// and its trailing guard stay inaccessible, so an access past the bound faults. Bookkeeping is under one lock, and
/// so is every protection change of a checked-out slot together with its accounting (two racing grows must not
/// leave more memory read-write than the pool records, or a reset would miss it).
/// </remarks>
internal sealed class SlotPool : IDecommitTarget, IDisposable
{
    private readonly object _lock = new();
    private readonly MemoryReservation _reservation;
    private readonly IndexAllocator _indices;
    private readonly DecommitQueue _resets;
    private readonly nuint _stride;
    private readonly ulong[] _state;            // even = not out, odd = out; the odd value is the generation
    private readonly nuint[] _accessible;       // read-write bytes at the start of each slot (an upper bound)
    private readonly object?[] _rentKey;        // affinity key of the current user, remembered when it returns
    private readonly bool[] _dirty;             // protection may not match _accessible: reset all of it
    private readonly CheckoutOwners _owners;
    private readonly SlotGuardRange[] _guards;  // interior guards, sorted by offset
    private int _inUse;
    private int _peak;
    private long _affinityHits;
    private long _totalCheckouts;
    private long _exhaustions;
    private long _refusedReturns;
    private bool _disposed;
    private bool _released;

    /// <summary>Reserves every slot up front; <paramref name="options"/> must have been validated.</summary>
    public SlotPool(SlotKind kind, SlotPoolOptions options)
    {
        Kind = kind;
        Options = options;
        _stride = options.SlotSize + options.GuardSize;
        _guards = options.GuardRanges.OrderBy(g => g.Offset).ToArray();
        _reservation = VirtualMemory.Reserve(_stride * (nuint)options.MaxSlots);
        _state = new ulong[options.MaxSlots];
        _accessible = new nuint[options.MaxSlots];
        _rentKey = new object?[options.MaxSlots];
        _dirty = new bool[options.MaxSlots];
        _owners = new CheckoutOwners(options.MaxSlots);
        _indices = new IndexAllocator(options.MaxSlots, options.MaxUnusedWarmSlots);
        _resets = new DecommitQueue(this, options.DecommitBatchSize);
    }

    public SlotKind Kind { get; }

    /// <summary>The pool's name in errors and metrics: <c>instances</c> or <c>memories</c>.</summary>
    public string Name => Kind == SlotKind.Instance ? "instances" : "memories";

    public SlotPoolOptions Options { get; }

    public int InUse => Volatile.Read(ref _inUse);

    public long TotalCheckouts => Interlocked.Read(ref _totalCheckouts);

    public long Exhaustions => Interlocked.Read(ref _exhaustions);

    public long RefusedReturns => Interlocked.Read(ref _refusedReturns);

    public long AffinityHits => Interlocked.Read(ref _affinityHits);

    /// <summary>True once the reservation has been unmapped (after Dispose, when the last slot came back).</summary>
    public bool IsReleased => _reservation.IsClosed;

    /// <summary>Checks out a slot for <paramref name="storeId"/>, preferring the free slot
    /// <paramref name="affinityKey"/> used last. The first <paramref name="accessible"/> bytes are read-write and
    /// read as zeros.</summary>
    /// <exception cref="PoolExhaustedException">Every slot is checked out.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="VirtualMemoryException">A protection change failed; the slot went back and nothing leaked.</exception>
    public PooledSlot Rent(long storeId, object? affinityKey, nuint accessible)
    {
        Debug.Assert(accessible <= Options.SlotSize && VirtualMemory.IsPageMultiple(accessible), "The Store checks the size.");
        ThrowIfDisposed();
        int index;
        bool hit;
        while (!_indices.TryAllocate(affinityKey, out index, out hit))
        {
            // A pending batch (or a reset in flight on another thread) frees slots: reset or wait, then look again.
            if (!_resets.FlushOrWait())
            {
                Interlocked.Increment(ref _exhaustions);
                ThrowExhausted();
            }
            ThrowIfDisposed();
        }
        ulong generation;
        lock (_lock)
        {
            if (_disposed)
            {
                // Disposed while we looked: never hand out memory of a disposed pool (it may be unmapped already).
                FreeAndMaybeRelease(index, null);
                ThrowIfDisposed();
            }
            generation = ++_state[index];
            _rentKey[index] = affinityKey;
            _inUse++;
            _peak = Math.Max(_peak, _inUse);
            _totalCheckouts++;
            _affinityHits += hit ? 1 : 0;
            _owners.Set(index, storeId, null);
        }
        try
        {
            SetAccessible(index, accessible);
        }
        catch (VirtualMemoryException)
        {
            lock (_lock)
            {
                _state[index]++;
                _inUse--;
                _rentKey[index] = null;
                _dirty[index] = true;
            }
            try
            {
                SettleReturned(index);
            }
            catch (VirtualMemoryException)
            {
                // The full reset failed too: the slot stays queued and is reset again before anyone reuses it.
            }
            throw;
        }
        return new PooledSlot(index, generation, SlotAddress(index));
    }

    /// <summary>Returns a slot; null, or why it was refused (nothing changes then). It is reset (zeroed, memory
    /// given back beyond KeepResident) before anyone reuses it.</summary>
    /// <exception cref="VirtualMemoryException">The reset failed; the slot stays queued and is reset again later.</exception>
    public InvalidTokenReason? Return(PooledSlot slot)
    {
        lock (_lock)
        {
            if (Judge(slot) is { } reason)
            {
                _refusedReturns++;
                return reason;
            }
            _state[slot.Index]++;
            _inUse--;
        }
        SettleReturned(slot.Index);
        return null;
    }

    /// <summary>Makes more of a checked-out slot read-write (e.g. <c>memory.grow</c>); the protection change and its
    /// accounting are one step under the pool's lock.</summary>
    public void Grow(PooledSlot slot, nuint accessible)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            if (accessible < _accessible[slot.Index])
            {
                throw new ArgumentOutOfRangeException(nameof(accessible), accessible, $"A slot cannot shrink: {_accessible[slot.Index]} bytes are accessible already.");
            }
            SetAccessible(slot.Index, accessible);
        }
    }

    /// <summary>Read-write bytes at the start of a checked-out slot (interior guards inside them stay inaccessible).</summary>
    public nuint GetAccessibleBytes(PooledSlot slot)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            return _accessible[slot.Index];
        }
    }

    /// <summary>The address of [offset, offset + length) in a checked-out slot, when all of it is read-write: inside
    /// the accessible bytes and clear of every interior guard.</summary>
    public nint GetAccessibleRange(PooledSlot slot, nuint offset, nuint length)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            nuint accessible = _accessible[slot.Index];
            if (offset > accessible || length > accessible - offset)
            {
                throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset}+{length}) is outside the {accessible} accessible bytes of the slot.");
            }
            foreach (SlotGuardRange guard in _guards)
            {
                if (offset < guard.End && guard.Offset < offset + length)
                {
                    throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset}+{length}) overlaps the guard range [{guard.Offset}, {guard.End}), which is never accessible.");
                }
            }
            return SlotAddress(slot.Index) + (nint)offset;
        }
    }

    /// <summary>Where the first interior guard at or after <paramref name="offset"/> starts, or the slot size.</summary>
    public nuint NextGuardAtOrAfter(nuint offset)
    {
        foreach (SlotGuardRange guard in _guards)
        {
            if (guard.End > offset)
            {
                return guard.Offset;
            }
        }
        return Options.SlotSize;
    }

    public bool IsCheckedOut(PooledSlot slot)
    {
        lock (_lock)
        {
            return Judge(slot) is null;
        }
    }

    /// <summary>Resets every returned slot that is waiting for its batch now.</summary>
    public void FlushPendingResets()
    {
        _resets.FlushAll();
    }

    /// <summary>Describes every slot checked out now, with its owner.</summary>
    public List<string> DescribeCheckouts()
    {
        var live = new List<string>();
        lock (_lock)
        {
            for (int i = 0; i < _state.Length; i++)
            {
                if ((_state[i] & 1) == 1)
                {
                    live.Add($"{Name} slot {i}: {_owners.Describe(i)}");
                }
            }
        }
        return live;
    }

    /// <summary>A snapshot of counters and measured resident memory (0 once the memory is released).</summary>
    public SlotPoolStatistics GetStatistics()
    {
        ulong resident = 0;
        for (int i = 0; i < _state.Length; i++)
        {
            resident += _reservation.ResidentBytes((nuint)i * _stride, Options.SlotSize);
        }
        lock (_lock)
        {
            return new SlotPoolStatistics(Options.MaxSlots, _inUse, _peak, _indices.WarmCount, _resets.Pending, _affinityHits,
                _totalCheckouts, _exhaustions, _refusedReturns, resident);
        }
    }

    /// <summary>Refuses new checkouts and releases the reservation, or, while slots are still out, as soon as the
    /// last one is returned. Slots waiting for a batched reset are simply free: nothing will reuse them.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        foreach (int index in _resets.DropPending())
        {
            _indices.Free(index, null);
        }
        lock (_lock)
        {
            ReleaseIfDrained();
        }
    }

    void IDecommitTarget.Reset(int index) => ResetSlot(index);

    void IDecommitTarget.Free(int index)
    {
        lock (_lock)
        {
            object? key = _rentKey[index];
            _rentKey[index] = null;
            FreeAndMaybeRelease(index, key);
        }
    }

    /// <summary>A returned slot goes to the decommit queue, or, once the pool is disposed, straight to free.</summary>
    private void SettleReturned(int index)
    {
        bool disposed;
        lock (_lock)
        {
            disposed = _disposed;
            if (disposed)
            {
                _rentKey[index] = null;
                FreeAndMaybeRelease(index, null);
            }
        }
        if (!disposed)
        {
            _resets.Enqueue(index);
        }
    }

    private unsafe void ResetSlot(int index)
    {
        nuint offset = (nuint)index * _stride;
        if (Volatile.Read(ref _dirty[index]))
        {
            // A protection change failed halfway: make the whole slot inaccessible and zero again.
            _reservation.Discard(offset, _accessible[index]);
            _reservation.Protect(offset, Options.SlotSize, MemoryProtection.NoAccess);
            _accessible[index] = 0;
            Volatile.Write(ref _dirty[index], false);
            return;
        }
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
            _reservation.Discard(offset + keep, accessible - keep);
            _reservation.Protect(offset + keep, accessible - keep, MemoryProtection.NoAccess);
        }
        _accessible[index] = keep;
    }

    /// <summary>Sets a slot's read-write prefix. On failure the slot is marked dirty with the larger size recorded,
    /// so its next reset covers everything that may have become read-write.</summary>
    private void SetAccessible(int index, nuint accessible)
    {
        nuint current = _accessible[index];
        nuint offset = (nuint)index * _stride;
        try
        {
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
        catch (VirtualMemoryException)
        {
            _accessible[index] = Math.Max(current, accessible);
            Volatile.Write(ref _dirty[index], true);
            throw;
        }
    }

    /// <summary>Under the lock: a reset (or never-used) slot goes to the free lists; a disposed pool whose slots
    /// are all free releases its memory.</summary>
    private void FreeAndMaybeRelease(int index, object? key)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        _indices.Free(index, _disposed ? null : key);
        ReleaseIfDrained();
    }

    private void ReleaseIfDrained()
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_disposed && !_released && _indices.FreeCount == Options.MaxSlots)
        {
            _released = true;
            _reservation.Dispose();
        }
    }

    private InvalidTokenReason? Judge(PooledSlot slot) =>
        CheckoutGeneration.Judge(slot.Index, _state.Length, slot.Generation, _state[(int)((uint)slot.Index % (uint)_state.Length)]);

    private void ThrowIfInvalid(PooledSlot slot)
    {
        if (Judge(slot) is { } reason)
        {
            throw new InvalidTokenException(reason, $"{Name} slot {slot.Index} is no longer this checkout's");
        }
    }

    private void ThrowIfDisposed()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }
    }

    private nint SlotAddress(int index) => _reservation.BaseAddress + (nint)((nuint)index * _stride);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowExhausted() =>
        throw new PoolExhaustedException(Name, $"{nameof(SlotPoolOptions)}({Name}).{nameof(SlotPoolOptions.MaxSlots)}", Options.MaxSlots);
}
