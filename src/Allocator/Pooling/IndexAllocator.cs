using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>Which free slot a checkout gets: the free/warm/affine policy of both pools, apart from their memory
/// (Wasmtime's <c>index_allocator.rs</c> plays the same part).</summary>
/// <remarks>
/// <para>A free slot is either cold (it remembers no key) or warm (it remembers the affinity key of its last user, at
/// most <c>maxWarm</c> of them, oldest forgotten first). A checkout with a key takes that key's most recent warm slot
/// (an affinity hit), else a cold slot, else the oldest warm slot.</para>
/// <para>Cold slots sit on a lock-free LIFO, so the most recently used, still-resident slot goes out first. Without
/// affinity each thread (stacks) or each core (slot pools with <c>maxWarm</c> = 0) also parks one freed slot for its
/// own next checkout, so steady-state checkout and return touch only memory that thread or core owns. Warm slots need a lock; it is
/// taken only when affinity is on and a key is involved, and a slot pool lends its own (held around every warm call)
/// so that a keyed checkout enters one monitor.</para>
/// </remarks>
internal sealed class IndexAllocator
{
    private readonly FreeIndexStack _cold;
    private readonly PerCoreSlotCache? _parked;
    private readonly PerThreadSlotCache? _threadParked; // instead of _parked, for the stack pool
    private readonly int _maxWarm;
    private readonly object _warmLock;
    private readonly bool _warmLockIsCallers; // the pool's own lock, which it holds around every warm call
    // Warm slots are threaded through index arrays (no node objects, so freeing a slot warm allocates nothing):
    // one list in LRU order, oldest first, and per key a list with the most recent first, its head in _warmByKey.
    private readonly int[] _lruPrev;
    private readonly int[] _lruNext;
    private readonly int[] _keyPrev;
    private readonly int[] _keyNext;
    private readonly Dictionary<object, int> _warmByKey = new();
    private readonly object?[] _key;
    private int _lruOldest = -1;
    private int _lruNewest = -1;
    private int _warmCount;

    /// <param name="capacity">Slots in the pool.</param>
    /// <param name="maxWarm">Free slots that may remember a key (0: no affinity).</param>
    /// <param name="parkPerThread">Without affinity: park one freed slot per thread rather than per core (see
    /// <see cref="PerThreadSlotCache"/>).</param>
    /// <param name="callersLock">The caller's own lock, which it holds around every call that may touch warm slots
    /// (<see cref="TryAllocate"/>, <see cref="TryAllocateWarm"/>, <see cref="Free(int, object?, out int)"/>,
    /// <see cref="ForgetAllKeys"/>): then they enter no lock of their own (a slot pool saves two monitor entries per
    /// keyed checkout and return, about 13 ns each). Null: they lock their own.</param>
    public IndexAllocator(int capacity, int maxWarm, bool parkPerThread = false, object? callersLock = null)
    {
        _warmLock = callersLock ?? new object();
        _warmLockIsCallers = callersLock is not null;
        Debug.Assert(maxWarm >= 0 && maxWarm <= capacity);
        Capacity = capacity;
        _maxWarm = maxWarm;
        _cold = new FreeIndexStack(capacity);
        _parked = maxWarm == 0 && !parkPerThread ? new PerCoreSlotCache() : null;
        _threadParked = maxWarm == 0 && parkPerThread ? new PerThreadSlotCache() : null;
        int warmCapacity = maxWarm == 0 ? 0 : capacity;
        _lruPrev = new int[warmCapacity];
        _lruNext = new int[warmCapacity];
        _keyPrev = new int[warmCapacity];
        _keyNext = new int[warmCapacity];
        _key = new object?[warmCapacity];
    }

    public int Capacity { get; }

    /// <summary>Free slots now, cold, parked and warm (a snapshot while others allocate and free).</summary>
    /// <remarks>The shared list is read before the cells, so a slot that moves from the cells to the shared list meanwhile
    /// is counted once or not at all, never twice. The opposite move would count it twice: a pool that releases its
    /// memory when this reaches its capacity could then release it with a slot still out. So a slot that was free (and
    /// may have been counted) and is given back goes to the shared list (<see cref="FreeShared"/>); only a slot coming
    /// back from a checkout is parked.</remarks>
    public int FreeCount => _cold.Count + (_parked?.Count ?? 0) + (_threadParked?.Count ?? 0) + Volatile.Read(ref _warmCount);

    /// <summary>Slots parked in per-core or per-thread cells now (a snapshot; tests).</summary>
    internal int ParkedCount => (_parked?.Count ?? 0) + (_threadParked?.Count ?? 0);

    /// <summary>True when freed slots can stay warm for a key (affinity is on).</summary>
    public bool KeepsWarm => _maxWarm > 0;

    /// <summary>Free slots that remember a key.</summary>
    public int WarmCount => Volatile.Read(ref _warmCount);

    /// <summary>A free slot without a key (no affinity), the steady state: the one parked for this thread (stack
    /// pools) or on this core, taken, or -1; then <see cref="TryAllocateUnkeyedShared"/>.</summary>
    // Inlined on purpose: native AOT has no profile to find this hot path (docs/architecture.md, "Hot paths").
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TakeParkedUnkeyed()
    {
        Debug.Assert((_parked is not null || _threadParked is not null) && _maxWarm == 0, "Only pools without affinity park slots.");
        return _threadParked is { } perThread ? perThread.Take() : _parked!.Take();
    }

    /// <summary>A free slot without a key once <see cref="TakeParkedUnkeyed"/> found none: one from the shared list,
    /// else one parked for another thread or core. <paramref name="outOfSharedList"/> is how many slots are out of the
    /// shared list once this one left it, or -1 for a parked one (it had left the shared list already): only a pop
    /// from the shared list can raise that count, so a caller tracking its peak looks at nothing else.</summary>
    public bool TryAllocateUnkeyedShared(out int index, out int outOfSharedList)
    {
        Debug.Assert((_parked is not null || _threadParked is not null) && _maxWarm == 0, "Only pools without affinity park slots.");
        outOfSharedList = -1;
        if (_cold.TryPop(out index, out int remaining))
        {
            outOfSharedList = Capacity - remaining;
            return true;
        }
        return _threadParked is { } perThread ? perThread.TrySteal(out index) : _parked!.TrySteal(out index);
    }

    /// <summary>Takes a free slot into <paramref name="index"/>, preferring the one <paramref name="key"/> used last;
    /// <paramref name="affinityHit"/> tells whether it got that one.</summary>
    public bool TryAllocate(object? key, out int index, out bool affinityHit)
    {
        Debug.Assert(_threadParked is null, "Pools parking per thread take unkeyed.");
        affinityHit = false;
        if (key is not null && Volatile.Read(ref _warmCount) != 0)
        {
            using (EnterWarm())
            {
                if (_warmByKey.TryGetValue(key, out int mostRecent))
                {
                    affinityHit = true;
                    index = RemoveWarm(mostRecent);
                    return true;
                }
            }
        }
        if (_parked is not null && _parked.TryTake(out index))
        {
            return true;
        }
        if (_cold.TryPop(out index, out _) || (_parked is not null && _parked.TrySteal(out index)))
        {
            return true;
        }
        if (Volatile.Read(ref _warmCount) != 0)
        {
            using (EnterWarm())
            {
                if (_lruOldest >= 0)
                {
                    // No cold slot left: reuse the slot whose key has waited longest.
                    index = RemoveWarm(_lruOldest);
                    return true;
                }
            }
        }
        index = -1;
        return false;
    }

    /// <summary>Takes the most recent warm slot of <paramref name="key"/>, and no other: how a pool finds the free
    /// slots that still hold something of that key (Wasmtime's <c>alloc_affine_and_clear_affinity</c>).</summary>
    public bool TryAllocateWarm(object key, out int index)
    {
        if (Volatile.Read(ref _warmCount) != 0)
        {
            using (EnterWarm())
            {
                if (_warmByKey.TryGetValue(key, out int mostRecent))
                {
                    index = RemoveWarm(mostRecent);
                    return true;
                }
            }
        }
        index = -1;
        return false;
    }

    /// <summary>Gives a slot back; with a <paramref name="key"/> (and affinity on) it stays warm for that key.</summary>
    public void Free(int index, object? key)
    {
        Free(index, key, out int forgotten);
        if (forgotten >= 0)
        {
            _cold.Push(forgotten);
        }
    }

    /// <summary>Like <see cref="Free(int, object?)"/>, but a warm slot that this pushes out of the warm list is handed
    /// to the caller (<paramref name="forgotten"/>, else -1) instead of going cold, so the pool can drop what the slot
    /// kept for its key first; it then frees it with <see cref="FreeCold"/>.</summary>
    public void Free(int index, object? key, out int forgotten)
    {
        Debug.Assert((uint)index < (uint)Capacity);
        forgotten = -1;
        if (key is null || _maxWarm == 0)
        {
            FreeCold(index);
            return;
        }
        using (EnterWarm())
        {
            Debug.Assert(_key[index] is null, "A slot is freed once per checkout.");
            _key[index] = key;
            ref int head = ref CollectionsMarshal.GetValueRefOrAddDefault(_warmByKey, key, out bool known);
            _keyPrev[index] = -1;
            _keyNext[index] = known ? head : -1;
            if (known)
            {
                _keyPrev[head] = index;
            }
            head = index;
            _lruPrev[index] = _lruNewest;
            _lruNext[index] = -1;
            if (_lruNewest >= 0)
            {
                _lruNext[_lruNewest] = index;
            }
            else
            {
                _lruOldest = index;
            }
            _lruNewest = index;
            Volatile.Write(ref _warmCount, _warmCount + 1);
            if (_warmCount > _maxWarm)
            {
                forgotten = RemoveWarm(_lruOldest);
            }
        }
    }

    /// <summary>Gives a slot back to the shared list, never to a parking cell: for a slot that was free a moment ago
    /// (see <see cref="FreeCount"/>).</summary>
    public void FreeShared(int index)
    {
        Debug.Assert((uint)index < (uint)Capacity);
        _cold.Push(index);
    }

    /// <summary>Gives a slot back that remembers no key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FreeCold(int index)
    {
        Debug.Assert((uint)index < (uint)Capacity);
        if (_threadParked is { } perThread)
        {
            if (!perThread.TryPark(index))
            {
                _cold.Push(index);
            }
        }
        else if (_parked is null || !_parked.TryPark(index))
        {
            _cold.Push(index);
        }
    }

    /// <summary>Makes every free slot cold: after this no free slot remembers any key.</summary>
    public void ForgetAllKeys()
    {
        var forgotten = new List<int>();
        using (EnterWarm())
        {
            while (_lruOldest >= 0)
            {
                forgotten.Add(RemoveWarm(_lruOldest));
            }
        }
        foreach (int index in forgotten)
        {
            _cold.Push(index);
        }
    }

    /// <summary>The warm lock for a block: entered here, or already held by the caller when it is the caller's lock.</summary>
    private WarmLockScope EnterWarm() => new(_warmLock, _warmLockIsCallers);

    /// <summary>Under <see cref="_warmLock"/>: takes a warm slot out of every warm structure.</summary>
    private int RemoveWarm(int index)
    {
        Debug.Assert(Monitor.IsEntered(_warmLock) && _key[index] is not null);
        object key = _key[index]!;
        int prev = _keyPrev[index], next = _keyNext[index];
        if (prev >= 0)
        {
            _keyNext[prev] = next;
        }
        else if (next >= 0)
        {
            _warmByKey[key] = next;
        }
        else
        {
            _warmByKey.Remove(key);
        }
        if (next >= 0)
        {
            _keyPrev[next] = prev;
        }
        prev = _lruPrev[index];
        next = _lruNext[index];
        if (prev >= 0)
        {
            _lruNext[prev] = next;
        }
        else
        {
            _lruOldest = next;
        }
        if (next >= 0)
        {
            _lruPrev[next] = prev;
        }
        else
        {
            _lruNewest = prev;
        }
        _key[index] = null;
        Volatile.Write(ref _warmCount, _warmCount - 1);
        return index;
    }

    /// <summary>The warm lock held for a <c>using</c> block (see <see cref="EnterWarm"/>).</summary>
    private readonly ref struct WarmLockScope
    {
        private readonly object? _entered;

        public WarmLockScope(object warmLock, bool heldByCaller)
        {
            if (heldByCaller)
            {
                Debug.Assert(Monitor.IsEntered(warmLock), "A caller that lends its lock holds it around every warm call.");
                _entered = null;
                // Stryker disable once Statement : without it the lent lock is entered once more, recursively, and left again: only the cost differs.
                return;
            }
            Monitor.Enter(warmLock);
            _entered = warmLock;
        }

        public void Dispose()
        {
            if (_entered is not null)
            {
                Monitor.Exit(_entered);
            }
        }
    }
}
