using System.Numerics;
using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>One parked slot index per CPU core, each on its own cache line.</summary>
/// <remarks>A thread that returns a slot parks it in its core's cell and takes it back on its next checkout, so
/// steady-state checkout and return touch only memory that core already owns. The shared free list is the fallback,
/// and an otherwise empty pool steals parked slots from every cell before reporting exhaustion.</remarks>
internal sealed class PerCoreSlotCache
{
    // A power of two, so a core number picks its cell with a mask: the modulo by the array length (not a constant
    // to the JIT) compiled to an integer division, about 25 cycles on every checkout and every return.
    private readonly Cell[] _cells = new Cell[CellCount(Environment.ProcessorCount)];
    private readonly int _mask;

    public PerCoreSlotCache() => _mask = _cells.Length - 1;

    /// <summary>Cells for <paramref name="processors"/> cores: the next power of two, at most 256 (cores beyond
    /// share cells, which only costs a parked slot now and then).</summary>
    internal static int CellCount(int processors) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(processors, 1, 256));

    /// <summary>Takes the slot parked on the current core, if any.</summary>
    public bool TryTake(out int index)
    {
        index = Take();
        return index >= 0;
    }

    /// <summary>The slot parked on the current core, taken, or -1: a plain return value, so the stack checkout's
    /// steady state inlines with nothing passed through memory (out parameters were spilled to the frame).</summary>
    public int Take()
    {
        ref Cell cell = ref _cells[Thread.GetCurrentProcessorId() & _mask];
        // Read first: an empty cell is left untouched instead of being written (and pulled into exclusive state).
        // Empty reads 0, so both ways the result is the value taken minus one.
        return Volatile.Read(ref cell.IndexPlusOne) == 0 ? -1 : Interlocked.Exchange(ref cell.IndexPlusOne, 0) - 1;
    }

    /// <summary>Parks a slot on the current core; false when that core's cell is occupied.</summary>
    public bool TryPark(int index)
    {
        ref Cell cell = ref _cells[Thread.GetCurrentProcessorId() & _mask];
        return Volatile.Read(ref cell.IndexPlusOne) == 0 && Interlocked.CompareExchange(ref cell.IndexPlusOne, index + 1, 0) == 0;
    }

    /// <summary>Takes a parked slot from any core.</summary>
    public bool TrySteal(out int index)
    {
        for (int i = 0; i < _cells.Length; i++)
        {
            int taken = Interlocked.Exchange(ref _cells[i].IndexPlusOne, 0);
            if (taken != 0)
            {
                index = taken - 1;
                return true;
            }
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
            for (int i = 0; i < _cells.Length; i++)
            {
                count += Volatile.Read(ref _cells[i].IndexPlusOne) != 0 ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>128 bytes with the value in the middle, clear of the array's length and of the neighbouring cells.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Cell
    {
        [FieldOffset(64)] public int IndexPlusOne; // 0 = empty
    }
}
