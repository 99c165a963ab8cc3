using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>One parked slot index per thread: the stack pool's steady state (a thread returns a stack and takes it
/// back on its next checkout) without a lock-prefixed instruction.</summary>
/// <remarks>
/// <para>Why: per core, a cell is shared by whichever threads run there, so taking and parking each need an atomic
/// instruction; those two were about 9 of the 29 ns of a Store's raw stack get+return (measured by making them plain
/// in a throwaway build). A thread's own cell has one writer in the steady state, its owner, which takes and parks
/// with plain loads and stores.</para>
/// <para>Others reach a cell only to steal (the pool is otherwise empty). An asymmetric handshake keeps that safe
/// without costing the owner a fence: the owner marks its cell busy, then reads <see cref="_stealers"/>; a thief
/// counts itself in <see cref="_stealers"/>, runs a process-wide memory barrier
/// (<see cref="Interlocked.MemoryBarrierProcessWide"/>, which orders every running thread's earlier stores before
/// the thief's later loads), and only then looks at cells. An owner whose busy mark the thief cannot see yet reads
/// <see cref="_stealers"/> after the barrier, so it sees the thief and uses atomic instructions instead; an owner
/// the thief sees busy is skipped (it is taking its own slot, or parking one: a return that races this checkout).
/// Thieves never wait for an owner, so a checkout stays lock-free; they pay the barrier (microseconds), which only a
/// pool with no free stack on the shared list or in the thief's own cell ever asks for.</para>
/// <para>Cells are indexed by managed thread id (a plain thread static: a reference one cost about 7 % of a get+return
/// in <c>__tls_get_addr</c>). A dead thread's cell stays, and can still hold a stack, which thieves take; the runtime
/// reuses an id only once its thread is gone, and the new thread then owns the cell, stack and all.</para>
/// </remarks>
internal sealed class PerThreadSlotCache
{
    private readonly Lock _registering = new();
    private Cell?[] _byThread = new Cell?[16]; // index: managed thread id; grown (copied) under _registering
    private int _stealers;

    /// <summary>Takes the slot parked in this thread's cell, or -1.</summary>
    // Inlined on purpose: native AOT has no profile to find this hot path (docs/architecture.md, "Hot paths").
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Take()
    {
        Cell cell = Mine();
        Volatile.Write(ref cell.Busy, 1);
        int taken;
        if (Volatile.Read(ref _stealers) == 0)
        {
            // No thief can be looking (see the remarks): this thread is the cell's only writer.
            taken = cell.IndexPlusOne;
            if (taken != 0)
            {
                cell.IndexPlusOne = 0;
            }
        }
        else
        {
            taken = Interlocked.Exchange(ref cell.IndexPlusOne, 0);
        }
        Volatile.Write(ref cell.Busy, 0);
        return taken - 1;
    }

    /// <summary>Parks a slot in this thread's cell; false when the cell is occupied.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPark(int index)
    {
        Cell cell = Mine();
        Volatile.Write(ref cell.Busy, 1);
        bool parked;
        if (Volatile.Read(ref _stealers) == 0)
        {
            parked = cell.IndexPlusOne == 0;
            if (parked)
            {
                cell.IndexPlusOne = index + 1;
            }
        }
        else
        {
            parked = Interlocked.CompareExchange(ref cell.IndexPlusOne, index + 1, 0) == 0;
        }
        Volatile.Write(ref cell.Busy, 0);
        return parked;
    }

    /// <summary>Takes a slot parked in any thread's cell (this one's included).</summary>
    public bool TrySteal(out int index)
    {
        Interlocked.Increment(ref _stealers);
        try
        {
            Interlocked.MemoryBarrierProcessWide();
            foreach (Cell? cell in Volatile.Read(ref _byThread))
            {
                // A busy owner is taking its own slot or parking one (a return racing this checkout): skipped.
                if (cell is not null && Volatile.Read(ref cell.Busy) == 0 && Volatile.Read(ref cell.IndexPlusOne) != 0)
                {
                    int taken = Interlocked.Exchange(ref cell.IndexPlusOne, 0);
                    if (taken != 0)
                    {
                        index = taken - 1;
                        return true;
                    }
                }
            }
        }
        finally
        {
            // Stryker disable once Statement : left counted, owners would take the atomic path for good: slower, never wrong.
            Interlocked.Decrement(ref _stealers);
        }
        index = -1;
        return false;
    }

    /// <summary>Slots parked now (a snapshot).</summary>
    public int Count
    {
        get
        {
            int count = 0;
            foreach (Cell? cell in Volatile.Read(ref _byThread))
            {
                count += cell is not null && Volatile.Read(ref cell.IndexPlusOne) != 0 ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>Cells created so far (one per thread id that used this pool).</summary>
    internal int CellCount => Volatile.Read(ref _byThread).Count(cell => cell is not null);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Cell Mine()
    {
        int id = ManagedThreadIds.Current;
        Cell?[] cells = Volatile.Read(ref _byThread);
        return (uint)id < (uint)cells.Length && cells[id] is { } cell ? cell : Register(id);
    }

    private Cell Register(int id)
    {
        lock (_registering)
        {
            Cell?[] cells = _byThread;
            if ((uint)id >= (uint)cells.Length)
            {
                // Copied, not resized in place: thieves and owners read the array without the lock.
                var grown = new Cell?[Math.Max(cells.Length * 2, id + 1)];
                cells.CopyTo(grown, 0);
                cells = grown;
            }
            Cell cell = cells[id] ??= new Cell();
            Volatile.Write(ref _byThread, cells);
            return cell;
        }
    }

    /// <summary>A thread's cell: the two words its owner writes, in a 128-byte block of their own, so neither
    /// another cell nor the object header shares their cache line.</summary>
    private sealed class Cell
    {
        public Words Owned;

        public ref int Busy => ref Owned.Busy;

        public ref int IndexPlusOne => ref Owned.IndexPlusOne;
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Words
    {
        [FieldOffset(64)] public int Busy;
        [FieldOffset(68)] public int IndexPlusOne; // 0 = empty
    }
}
