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
/// <para>Cells are registered per thread on its first use of the pool and kept for the pool's life (a dead thread's
/// cell can still hold a stack, which thieves take); cells of dead threads that hold nothing are dropped when another
/// thread registers.</para>
/// </remarks>
internal sealed class PerThreadSlotCache
{
    // This thread's cell of the pool it parked in or took from last: one thread-static read in the steady state.
    [ThreadStatic]
    private static Cell? t_cell;

    private readonly Lock _registering = new();
    private Cell[] _cells = [];
    private int _stealers;

    /// <summary>Takes the slot parked in this thread's cell, or -1.</summary>
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
            foreach (Cell cell in Volatile.Read(ref _cells))
            {
                // A busy owner is taking its own slot or parking one (a return racing this checkout): skipped.
                if (Volatile.Read(ref cell.Busy) == 0 && Volatile.Read(ref cell.IndexPlusOne) != 0)
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
            foreach (Cell cell in Volatile.Read(ref _cells))
            {
                count += Volatile.Read(ref cell.IndexPlusOne) != 0 ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>Cells registered now (threads that used this pool and are alive, or hold a slot).</summary>
    internal int CellCount => Volatile.Read(ref _cells).Length;

    private Cell Mine()
    {
        Cell? cell = t_cell;
        return cell is not null && ReferenceEquals(cell.Cache, this) ? cell : Register();
    }

    private Cell Register()
    {
        Thread me = Thread.CurrentThread;
        // Back to a pool this thread used before (it used another since): its cell is still registered.
        foreach (Cell cell in Volatile.Read(ref _cells))
        {
            if (ReferenceEquals(cell.Thread, me))
            {
                return t_cell = cell;
            }
        }
        lock (_registering)
        {
            var kept = new List<Cell>(_cells.Length + 1);
            foreach (Cell cell in _cells)
            {
                // A dead thread's empty cell can never fill again: nobody parks in it but its owner.
                if (cell.Thread.IsAlive || Volatile.Read(ref cell.IndexPlusOne) != 0)
                {
                    kept.Add(cell);
                }
            }
            var mine = new Cell(this, me);
            kept.Add(mine);
            Volatile.Write(ref _cells, [.. kept]);
            return t_cell = mine;
        }
    }

    /// <summary>A thread's cell; the two words its owner writes sit in a 128-byte block of their own, so neither
    /// another cell nor the object header shares their cache line.</summary>
    private sealed class Cell(PerThreadSlotCache cache, Thread thread)
    {
        public readonly PerThreadSlotCache Cache = cache;
        public readonly Thread Thread = thread;
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
