using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Memory;

namespace Allocator.Pooling;

/// <summary>A fixed set of stacks carved out of one reservation, each with a guard page below it. Internal: stacks
/// reach users only through a Store.</summary>
/// <remarks>
/// Layout of slot i: [guard page][stack of StackSize bytes], slots back to back. Where the kernel has guard markers
/// (<see cref="VirtualMemory.GuardMarkers"/>) the whole reservation is one read-write mapping and each guard page a
/// marker in it; elsewhere the stacks are made read-write one by one and the guards stay PROT_NONE, two memory map
/// regions per stack. Either way a touch of a guard kills the process. Checkout and return are O(1) and
/// lock-free. Each slot carries a 64-bit state word: even = free, odd = checked out, the odd value being the
/// checkout's generation, so a return must present the exact generation it was given: a double or stale return
/// fails that compare-and-swap and leaves the slot alone. Which slot goes out is the <see cref="IndexAllocator"/>'s
/// business; resets go through the <see cref="DecommitQueue"/>.
/// </remarks>
internal sealed class StackPool : IDecommitTarget, IDisposable
{
    private readonly MemoryReservation _reservation;
    private readonly IndexAllocator _indices;
    private readonly DecommitQueue _resets;
    private readonly SlotStateWord[] _state;
    private readonly nuint _guardSize;
    private readonly nuint _slotStride;
    private readonly string _limitName;
    // Copies of what every checkout and return reads, one load each instead of a chain through Options and the
    // reservation.
    private readonly nint _firstStackBottom;
    private readonly nuint _stackSize;
    private readonly bool _zeroOnReturn;
    private Action? _afterTakeForTest;
    private int _peak;
    private long _exhaustions;
    private long _refusedReturns;
    private int _disposed;
    private int _released;

    /// <summary>Reserves every stack up front; <paramref name="options"/> must have been validated.
    /// <paramref name="limitName"/> is the size limit as exhaustion errors name it (default: the options name).</summary>
    public StackPool(StackPoolOptions options, string? limitName = null)
    {
        Options = options;
        _limitName = limitName ?? SettingNames.Limit(SlotKind.Stack, declaredBy: null);
        _guardSize = VirtualMemory.PageSize;
        _slotStride = _guardSize + options.StackSize;
        _reservation = VirtualMemory.Reserve(_slotStride * (nuint)options.MaxStacks);
        try
        {
            if (VirtualMemory.GuardMarkers)
            {
                // One accessible mapping with a marker guard below each stack: one memory map region for the whole
                // pool, and a discard across neighbours costs no more than across unguarded memory.
                _reservation.Protect(0, _reservation.Size, MemoryProtection.ReadWrite);
                for (int i = 0; i < options.MaxStacks; i++)
                {
                    _reservation.InstallGuard(SlotOffset(i), _guardSize);
                }
            }
            else
            {
                for (int i = 0; i < options.MaxStacks; i++)
                {
                    // Only the stack part becomes accessible; the guard page keeps the reservation's PROT_NONE.
                    _reservation.Protect(SlotOffset(i) + _guardSize, options.StackSize, MemoryProtection.ReadWrite);
                }
            }
        }
        catch
        {
            _reservation.Dispose();
            throw;
        }
        _firstStackBottom = _reservation.BaseAddress + (nint)_guardSize;
        _stackSize = options.StackSize;
        _zeroOnReturn = options.ZeroOnReturn;
        _state = new SlotStateWord[options.MaxStacks];
        _indices = new IndexAllocator(options.MaxStacks, maxWarm: 0, parkPerThread: true);
        _resets = new DecommitQueue(this, options.DecommitBatchSize); // used only when zeroing (ResetOrFree)
    }

    public StackPoolOptions Options { get; }

    /// <summary>Stacks checked out now (those being reset count as out until they are free again).</summary>
    public int InUse => Options.MaxStacks - _indices.FreeCount;

    /// <summary>Successful checkouts since creation, derived from the generations (each checkout and each return
    /// adds one), so the hot path keeps no shared counter for it.</summary>
    public long TotalCheckouts
    {
        get
        {
            ulong total = 0;
            foreach (ref readonly SlotStateWord word in _state.AsSpan())
            {
                total += (Volatile.Read(in word.Value) + 1) / 2;
            }
            return (long)total;
        }
    }

    public long Exhaustions => Interlocked.Read(ref _exhaustions);

    public long RefusedReturns => Interlocked.Read(ref _refusedReturns);

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>True once the reservation has been unmapped (after Dispose, when the last stack came back).</summary>
    public bool IsReleased => _reservation.IsClosed;

    /// <summary>Test hook: runs inside <see cref="Rent"/> after it has taken a slot, before it looks at
    /// <see cref="IsDisposed"/> again.</summary>
    internal Action? AfterTakeForTest
    {
        set => _afterTakeForTest = value;
    }

    /// <summary>Stacks parked in a thread's cell now (tests).</summary>
    internal int ParkedForTest => _indices.ParkedCount;

    /// <summary>Test hook: sets a free slot's state word, as if it had been checked out that many times.</summary>
    internal void SetStateForTest(int index, ulong state)
    {
        Debug.Assert((state & 1) == 0 && (Volatile.Read(in _state[index].Value) & 1) == 0, "Only a free slot, to an even value.");
        Volatile.Write(ref _state[index].Value, state);
    }

    /// <summary>Checks out a stack for <paramref name="storeId"/>. Throws <see cref="PoolExhaustedException"/> when
    /// all are out, <see cref="ObjectDisposedException"/> once the pool is disposed.</summary>
    /// <remarks>The steady state (the stack this thread parked) costs plain loads and stores on this thread's cell
    /// and writes one line of the slot's own; nothing else shared is written, and nothing another thread writes is
    /// read: the peak is looked at only when a stack leaves the shared list, which is when it can rise.</remarks>
    // Inlined on purpose: native AOT has no profile to find this hot path (docs/architecture.md, "Hot paths").
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PooledStack Rent(long storeId, string? owner)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        // The steady state inline, the rest out of line: a parked stack was counted in the peak when it left the
        // shared list, so only the slow path looks at the peak.
        int index = _indices.TakeParkedUnkeyed();
        if (index < 0)
        {
            index = TakeFromSharedList();
        }
        _afterTakeForTest?.Invoke();
        if (IsDisposed)
        {
            // Dispose ran between the check above and taking the slot: hand it back (which may release the memory).
            // To the shared list, not this thread's cell: a release check counting free stacks may have counted it
            // there already, and counting it again in a cell would release the memory with another stack still out.
            _indices.FreeShared(index);
            ReleaseIfDrained();
            throw new ObjectDisposedException(GetType().FullName);
        }
        ref SlotStateWord slot = ref _state[index];
        SetOwner(ref slot, storeId, owner);
        // Only the taker owns a free slot and a return only ever compares against an odd (issued) generation, so a
        // plain release store moves the word from even (free) to odd (out): no lock-prefixed increment needed.
        ulong generation = slot.Value + 1;
        Debug.Assert((generation & 1) == 1, "A free slot's state word is even.");
        Volatile.Write(ref slot.Value, generation);
        return new PooledStack(index, generation, StackBottom(index), _stackSize);
    }

    /// <summary>A checkout that found this thread's cell empty: the shared list, another thread's parked stack, or,
    /// after retrying the resets that failed, exhaustion.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int TakeFromSharedList()
    {
        int index;
        int outOfSharedList;
        while (!_indices.TryAllocateUnkeyedShared(out index, out outOfSharedList))
        {
            // Stacks whose reset failed earlier are tried again before the pool reports exhaustion.
            if (!_resets.FlushOrWait())
            {
                Interlocked.Increment(ref _exhaustions);
                ThrowExhausted();
            }
        }
        UpdatePeak(outOfSharedList); // -1 for a stolen parked stack: it was counted when it left the shared list
        return index;
    }

    /// <summary>Returns a stack; null, or why it was refused (nothing changes then).</summary>
    /// <exception cref="VirtualMemoryException">Zeroing failed; the stack stays queued for another reset.</exception>
    public InvalidTokenReason? Return(in PooledStack stack)
    {
        if (JudgeReturn(stack) is { } reason)
        {
            return reason;
        }
        // Claim the return first: the slot is even (not out) but not yet free, so nobody can rent it while we reset
        // it, and a racing second return of the same checkout fails here without touching memory.
        if (Interlocked.CompareExchange(ref _state[stack.Index].Value, stack.Generation + 1, stack.Generation) != stack.Generation)
        {
            Interlocked.Increment(ref _refusedReturns);
            return InvalidTokenReason.AlreadyReturned;
        }
        ResetOrFree(stack);
        return null;
    }

    /// <summary>Returns a stack whose checkout nobody else can end meanwhile; null, or why it was refused (nothing
    /// changes then). The Store is such a caller: it returns only checkouts it holds, under its lock, and takes each
    /// off its books as it returns it, and no other Store ever holds the same checkout (the generation is new).</summary>
    /// <remarks>Why it exists: with no racing return, the claim needs no compare-and-swap. While the slot is odd (out)
    /// nothing but its holder writes the word (a checkout writes only even, free words), so the holder's release
    /// store moves it to even-but-not-free just as the claim in <see cref="Return"/> does: one lock-prefixed
    /// operation less on every stack's way back (a fiber's life, a raw get+return). A stale checkout is still
    /// refused, by the same judgement.</remarks>
    /// <exception cref="VirtualMemoryException">Zeroing failed; the stack stays queued for another reset.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public InvalidTokenReason? ReturnHeld(in PooledStack stack)
    {
        if (JudgeReturn(stack) is { } reason)
        {
            return reason;
        }
        Volatile.Write(ref _state[stack.Index].Value, stack.Generation + 1);
        ResetOrFree(stack);
        return null;
    }

    /// <summary>A claimed return (the slot's word even, the slot not yet free): reset it, or free it now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ResetOrFree(in PooledStack stack)
    {
        if (_zeroOnReturn && !IsDisposed)
        {
            _resets.Enqueue(stack.Index);
        }
        else
        {
            FreeAndMaybeRelease(stack.Index);
        }
    }

    /// <summary>Retries every reset that failed earlier (a stack whose reset failed stays queued, counted in use).</summary>
    public void FlushPendingResets()
    {
        _resets.FlushAll();
    }

    /// <summary>True when <paramref name="stack"/> is the current checkout of its slot.</summary>
    public bool IsCheckedOut(in PooledStack stack) => Judge(stack) is null;

    /// <summary>Describes every stack checked out now, with its owner.</summary>
    public List<string> DescribeCheckouts()
    {
        var live = new List<string>();
        for (int i = 0; i < _state.Length; i++)
        {
            if ((Volatile.Read(in _state[i].Value) & 1) == 1)
            {
                live.Add($"stack {i}: {DescribeOwner(i)}");
            }
        }
        return live;
    }

    /// <summary>A snapshot of counters and measured resident memory.</summary>
    public StackPoolStatistics GetStatistics()
    {
        ulong resident = 0;
        for (int i = 0; i < _state.Length; i++)
        {
            resident += ResidentBytes(i);
        }
        return new StackPoolStatistics(Options.MaxStacks, InUse, Volatile.Read(ref _peak), TotalCheckouts, Exhaustions, RefusedReturns, resident);
    }

    /// <summary>Bytes of one stack resident in physical memory now; 0 once the pool's memory is released.</summary>
    public nuint ResidentBytes(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_state.Length, nameof(index));
        return _reservation.ResidentBytes(SlotOffset(index) + _guardSize, Options.StackSize);
    }

    /// <summary>Refuses new checkouts and releases the reservation; while stacks are still out (a fiber may be
    /// suspended on one) the memory stays mapped until the last of them is returned.</summary>
    public void Dispose()
    {
        // Stryker disable once Block,Statement : a second Dispose finds no pending reset to drop (the first took them) and ReleaseIfDrained is guarded by _released.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        foreach (int index in _resets.DropPending())
        {
            _indices.Free(index, null);
        }
        ReleaseIfDrained();
    }

    void IDecommitTarget.Reset(int index)
    {
        nuint keep = Options.KeepResident;
        nint bottom = StackBottom(index);
        nuint discard = Options.StackSize - keep;
        // Stacks grow down, so the used, hot part is at the top: zero it in place, give the rest back.
        if (keep != 0)
        {
            unsafe
            {
                NativeMemory.Clear((void*)(bottom + (nint)discard), keep);
            }
        }
        _reservation.Discard(SlotOffset(index) + _guardSize, discard);
    }

    /// <summary>Resets a batch (sorted by index). With nothing kept resident a stack's whole usable range goes back to
    /// the OS, and neighbours are separated only by a guard page, which a discard leaves a guard (a PROT_NONE page is
    /// never populated, a guard marker survives MADV_DONTNEED): a run of neighbouring stacks is one call. With
    /// PROT_NONE guards that saves the per-call cost only: each guard splits the mapping, and madvise pays about
    /// 0.2-0.4 us per mapping it crosses (measured: one call over 8 guarded 256 KiB stacks 3.4 us, over the same range
    /// unguarded 0.33 us); marker guards do not split it. With bytes kept resident the kept top of one stack lies
    /// between the discarded parts of neighbours, and each stack needs a call of its own.</summary>
    void IDecommitTarget.ResetBatch(ReadOnlySpan<int> batch, ref int done)
    {
        if (Options.KeepResident != 0 || !VirtualMemory.DiscardSpansGuards)
        {
            for (; done < batch.Length; done++)
            {
                ((IDecommitTarget)this).Reset(batch[done]);
            }
            // Stryker disable once Statement : without it the run loop below starts at done = batch.Length and does nothing
            return;
        }
        int runFirst = done;
        for (int k = done; k < batch.Length; k++)
        {
            if (k + 1 < batch.Length && batch[k + 1] == batch[k] + 1)
            {
                continue;
            }
            // From the bottom of the run's first stack to the top of its last, the guards between them included.
            nuint start = SlotOffset(batch[runFirst]) + _guardSize;
            _reservation.Discard(start, SlotOffset(batch[k]) + _slotStride - start);
            done = k + 1;
            runFirst = k + 1;
        }
    }

    void IDecommitTarget.Free(int index) => FreeAndMaybeRelease(index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FreeAndMaybeRelease(int index)
    {
        // Cold straight away: a stack pool keeps no keys (Free(index, null) only came here through two more calls).
        _indices.FreeCold(index);
        if (IsDisposed)
        {
            ReleaseIfDrained();
        }
    }

    private void ReleaseIfDrained()
    {
        // Dispose and the last return may both see "disposed and nothing out"; only one of them unmaps.
        if (_indices.FreeCount == Options.MaxStacks && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _reservation.Dispose();
        }
    }

    /// <summary>Judges a returned stack against its slot (<see cref="Judge"/>), counting a refusal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private InvalidTokenReason? JudgeReturn(in PooledStack stack)
    {
        InvalidTokenReason? reason = Judge(stack);
        if (reason is not null)
        {
            Interlocked.Increment(ref _refusedReturns);
        }
        return reason;
    }

    /// <summary>Judges a token against its slot; an index out of range is judged without reading any slot (a
    /// bounds test, where a modulo would cost a division on every return).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private InvalidTokenReason? Judge(in PooledStack stack)
    {
        SlotStateWord[] state = _state;
        ulong current = (uint)stack.Index < (uint)state.Length ? Volatile.Read(in state[stack.Index].Value) : 0;
        return CheckoutGeneration.Judge(stack.Index, state.Length, stack.Generation, current);
    }

    /// <summary>Records who holds the checkout. Written only when it changed (a Store that takes the same parked
    /// stack again writes nothing), and on the slot's own line, which the checkout writes anyway.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetOwner(ref SlotStateWord slot, long storeId, string? owner)
    {
        if (slot.StoreId != storeId)
        {
            Volatile.Write(ref slot.StoreId, storeId);
        }
        if (!ReferenceEquals(slot.Owner, owner))
        {
            Volatile.Write(ref slot.Owner, owner);
        }
    }

    private string DescribeOwner(int index)
    {
        long store = Volatile.Read(ref _state[index].StoreId);
        string? label = Volatile.Read(ref _state[index].Owner);
        return label is null ? $"Store {store}" : $"Store {store} ('{label}')";
    }

    private nuint SlotOffset(int index) => (nuint)index * _slotStride;

    private nint StackBottom(int index) => _firstStackBottom + (nint)SlotOffset(index);

    private void UpdatePeak(int inUse)
    {
        int peak = Volatile.Read(ref _peak);
        while (inUse > peak)
        {
            int seen = Interlocked.CompareExchange(ref _peak, inUse, peak);
            // Stryker disable once Block,Statement : without the return the loop runs once more, its CAS fails against the peak it just stored and it ends with the same peak.
            if (seen == peak)
            {
                return;
            }
            peak = seen;
        }
    }

    private void ThrowExhausted() => ThrowHelper.ThrowPoolExhausted(SettingNames.Pool(SlotKind.Stack), _limitName, Options.MaxStacks);
}
