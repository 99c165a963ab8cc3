using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Native;

namespace Allocator;

/// <summary>A fixed set of stacks carved out of one reservation, each with a guard page below it.</summary>
/// <remarks>
/// Layout of slot i: [guard page][stack of StackSize bytes], slots back to back. Checkout and return are O(1) and
/// lock-free. Each slot carries a state word: even = free, odd = checked out; the odd value is the checkout's
/// generation, so a return must present the exact generation it was given. A double or stale return fails that
/// compare-and-swap and leaves the slot alone. A returned stack is parked in its core's cell when that is empty
/// (<see cref="PerCoreSlotCache"/>), otherwise pushed on the shared free list, so two threads checking stacks in and
/// out do not fight over one cache line.
/// </remarks>
public sealed class StackPool : IDisposable
{
    private static int s_nextPoolId;

    private readonly MemoryReservation _reservation;
    private readonly FreeIndexStack _free;
    private readonly PerCoreSlotCache _parked = new();
    private readonly SlotStateWord[] _state;
    private readonly nuint _guardSize;
    private readonly nuint _slotStride;
    private int _peak;
    private long _exhaustions;
    private long _refusedReturns;
    private int _disposed;
    private int _released;

    /// <summary>Reserves every stack up front. Throws <see cref="PoolConfigurationException"/> for bad options.</summary>
    public StackPool(StackPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Id = Interlocked.Increment(ref s_nextPoolId);
        _guardSize = VirtualMemory.PageSize;
        _slotStride = _guardSize + options.StackSize;
        _reservation = VirtualMemory.Reserve(_slotStride * (nuint)options.MaxStacks);
        try
        {
            for (int i = 0; i < options.MaxStacks; i++)
            {
                // Only the stack part becomes accessible; the guard page keeps the reservation's PROT_NONE.
                _reservation.Protect(SlotOffset(i) + _guardSize, options.StackSize, MemoryProtection.ReadWrite);
            }
        }
        catch
        {
            _reservation.Dispose();
            throw;
        }
        _state = new SlotStateWord[options.MaxStacks];
        _free = new FreeIndexStack(options.MaxStacks);
    }

    /// <summary>The options the pool was built with.</summary>
    public StackPoolOptions Options { get; }

    /// <summary>Identifies this pool in tokens.</summary>
    public int Id { get; }

    /// <summary>Stacks checked out now.</summary>
    public int InUse => Options.MaxStacks - _free.Count - _parked.Count;

    /// <summary>Successful checkouts since creation.</summary>
    /// <remarks>Derived from the slots' generations (each checkout and each return adds one), so the hot path keeps
    /// no shared counter for it; reading it walks every slot.</remarks>
    public long TotalCheckouts
    {
        get
        {
            long total = 0;
            foreach (ref readonly SlotStateWord word in _state.AsSpan())
            {
                total += (Volatile.Read(in word.Value) + 1) / 2;
            }
            return total;
        }
    }

    /// <summary>Checkouts that found the pool empty.</summary>
    public long Exhaustions => Interlocked.Read(ref _exhaustions);

    /// <summary>Returns refused as foreign, stale or double.</summary>
    public long RefusedReturns => Interlocked.Read(ref _refusedReturns);

    /// <summary>Size of the guard region below each stack.</summary>
    public nuint GuardSize => _guardSize;

    /// <summary>Checks out a stack. Throws <see cref="PoolExhaustedException"/> when all are out.</summary>
    public PooledStack Rent()
    {
        if (!TryRent(out PooledStack stack))
        {
            ThrowExhausted();
        }
        return stack;
    }

    /// <summary>Checks out a stack, or returns false when all are out.</summary>
    public bool TryRent(out PooledStack stack)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        int index;
        if (!_parked.TryTake(out index))
        {
            if (_free.TryPop(out index, out int remaining))
            {
                UpdatePeak(Options.MaxStacks - remaining);
            }
            else if (!_parked.TrySteal(out index))
            {
                Interlocked.Increment(ref _exhaustions);
                stack = default;
                return false;
            }
        }
        if (Volatile.Read(ref _disposed) != 0)
        {
            // Dispose ran between the check above and taking the slot: hand it back (which may release the memory).
            PushFree(index);
            throw new ObjectDisposedException(GetType().FullName);
        }
        // Only the taker owns a free slot, so a plain increment moves it from even (free) to odd (out).
        uint generation = Interlocked.Increment(ref _state[index].Value);
        stack = new PooledStack(Id, index, generation, StackBottom(index), Options.StackSize);
        return true;
    }

    /// <summary>Returns a stack. Throws <see cref="InvalidTokenException"/> for a foreign, stale or double return,
    /// in which case nothing changes.</summary>
    public void Return(PooledStack stack)
    {
        InvalidTokenReason? problem = TryReturnCore(stack);
        if (problem is { } reason)
        {
            ThrowInvalid(reason, stack);
        }
    }

    /// <summary>Returns a stack; false (and no change) for a foreign, stale or double return.</summary>
    public bool TryReturn(PooledStack stack) => TryReturnCore(stack) is null;

    /// <summary>Checks whether <paramref name="stack"/> is the current checkout of its slot.</summary>
    public bool IsCheckedOut(PooledStack stack) =>
        (CheckoutGeneration.CheckShape(stack.PoolId, Id, stack.Index, _state.Length, stack.Generation)
        ?? CheckoutGeneration.CheckCurrent(Volatile.Read(in _state[stack.Index].Value), stack.Generation)) is null;

    /// <summary>A snapshot of counters and measured resident memory.</summary>
    public StackPoolStatistics GetStatistics()
    {
        ulong resident = 0;
        if (Volatile.Read(ref _disposed) == 0)
        {
            for (int i = 0; i < _state.Length; i++)
            {
                resident += ResidentBytes(i);
            }
        }
        return new StackPoolStatistics(Options.MaxStacks, InUse, Volatile.Read(ref _peak), TotalCheckouts, Exhaustions, RefusedReturns, resident);
    }

    /// <summary>Bytes of one stack slot resident in physical memory now.</summary>
    public nuint ResidentBytes(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_state.Length, nameof(index));
        return _reservation.ResidentBytes(SlotOffset(index) + _guardSize, Options.StackSize);
    }

    /// <summary>Releases the reservation. If stacks are still checked out (a fiber may be suspended on one), the
    /// memory stays mapped until the last of them is returned, so live frames are never unmapped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        DrainParked();
    }

    private InvalidTokenReason? TryReturnCore(PooledStack stack)
    {
        InvalidTokenReason? problem = TryReturnUnchecked(stack);
        if (problem is not null)
        {
            Interlocked.Increment(ref _refusedReturns);
        }
        return problem;
    }

    private InvalidTokenReason? TryReturnUnchecked(PooledStack stack)
    {
        if ((CheckoutGeneration.CheckShape(stack.PoolId, Id, stack.Index, _state.Length, stack.Generation)
            ?? CheckoutGeneration.CheckCurrent(Volatile.Read(in _state[stack.Index].Value), stack.Generation)) is { } reason)
        {
            return reason;
        }
        // Claim the return first: the slot is even (not out) but not yet on the free list, so nobody can rent it
        // while we reset it, and a racing second return of the same token fails here without touching memory.
        if (Interlocked.CompareExchange(ref _state[stack.Index].Value, stack.Generation + 1, stack.Generation) != stack.Generation)
        {
            return InvalidTokenReason.AlreadyReturned;
        }
        if (Options.ZeroOnReturn)
        {
            ResetStack(stack.Index);
        }
        if (Volatile.Read(ref _disposed) == 0 && _parked.TryPark(stack.Index))
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                // Dispose drained the cells before this slot was parked: drain again so it is not stranded.
                DrainParked();
            }
            return null;
        }
        PushFree(stack.Index);
        return null;
    }

    private void PushFree(int index)
    {
        if (_free.Push(index) == Options.MaxStacks && Volatile.Read(ref _disposed) != 0)
        {
            ReleaseReservationOnce();
        }
    }

    private void DrainParked()
    {
        while (_parked.TrySteal(out int index))
        {
            _free.Push(index);
        }
        if (_free.Count == Options.MaxStacks)
        {
            ReleaseReservationOnce();
        }
    }

    private unsafe void ResetStack(int index)
    {
        nuint keep = Options.KeepResident;
        nint bottom = StackBottom(index);
        nuint discard = Options.StackSize - keep;
        // Stacks grow down, so the used, hot part is at the top: zero it in place, give the rest back.
        if (keep > 0)
        {
            NativeMemory.Clear((void*)(bottom + (nint)discard), keep);
        }
        if (discard > 0)
        {
            _reservation.Discard(SlotOffset(index) + _guardSize, discard);
        }
    }

    private nuint SlotOffset(int index) => (nuint)index * _slotStride;

    private nint StackBottom(int index) => _reservation.BaseAddress + (nint)(SlotOffset(index) + _guardSize);

    private void ReleaseReservationOnce()
    {
        // Dispose and the last return may both see "disposed and nothing out"; only one of them unmaps.
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _reservation.Dispose();
        }
    }

    private void UpdatePeak(int inUse)
    {
        int peak = Volatile.Read(ref _peak);
        while (inUse > peak)
        {
            int seen = Interlocked.CompareExchange(ref _peak, inUse, peak);
            if (seen == peak)
            {
                return;
            }
            peak = seen;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowExhausted() =>
        throw new PoolExhaustedException("stacks", $"{nameof(StackPoolOptions)}.{nameof(StackPoolOptions.MaxStacks)}", Options.MaxStacks);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalid(InvalidTokenReason reason, PooledStack stack) =>
        throw new InvalidTokenException(reason, $"stack slot {stack.Index} generation {stack.Generation} of pool {stack.PoolId}");
}
