using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>A lock-free LIFO of slot indices (Treiber stack over an index array) that also counts its entries.</summary>
/// <remarks>
/// The head packs a 32-bit version with the top index so a pop that raced a pop+push (ABA) fails its CAS. The count
/// shares the head's cache line, so a pop or push moves one line between cores, not two; every node sits on a line of
/// its own so neighbouring slots used by different threads do not share one. LIFO order hands out the most recently
/// used, still-warm slot first.
/// </remarks>
internal sealed class FreeIndexStack
{
    private const int Empty = -1;
    private readonly Node[] _nodes;
    private Head _head;
    private Action? _beforeCompareExchange;

    public FreeIndexStack(int capacity)
    {
        _nodes = new Node[capacity];
        // Index 0 on top so a fresh pool hands out slots in address order.
        for (int i = 0; i < capacity; i++)
        {
            _nodes[i].Next = i + 1 < capacity ? i + 1 : Empty;
        }
        _head.TopAndVersion = capacity > 0 ? 1 : 0;
        _head.Count = capacity;
    }

    /// <summary>Test seam: runs between reading the head and the compare-and-swap of every pop and push, so a test
    /// can interleave other pops and pushes there deterministically (an ABA schedule). Null in production.</summary>
    internal Action? BeforeCompareExchangeForTest
    {
        set => _beforeCompareExchange = value;
    }

    /// <summary>Entries on the stack now (a racy snapshot while others push and pop).</summary>
    public int Count => Volatile.Read(ref _head.Count);

    /// <summary>Pops the top index; on success also returns how many entries are left.</summary>
    public bool TryPop(out int index, out int remaining)
    {
        while (true)
        {
            long head = Volatile.Read(ref _head.TopAndVersion);
            int top = (int)(uint)head - 1;
            if (top == Empty)
            {
                index = Empty;
                remaining = 0;
                return false;
            }
            int next = Volatile.Read(ref _nodes[top].Next);
            _beforeCompareExchange?.Invoke();
            if (Interlocked.CompareExchange(ref _head.TopAndVersion, Pack(head, next), head) == head)
            {
                index = top;
                remaining = Interlocked.Decrement(ref _head.Count);
                return true;
            }
        }
    }

    /// <summary>Pushes an index; returns how many entries there are now.</summary>
    public int Push(int index)
    {
        while (true)
        {
            long head = Volatile.Read(ref _head.TopAndVersion);
            Volatile.Write(ref _nodes[index].Next, (int)(uint)head - 1);
            _beforeCompareExchange?.Invoke();
            if (Interlocked.CompareExchange(ref _head.TopAndVersion, Pack(head, index), head) == head)
            {
                return Interlocked.Increment(ref _head.Count);
            }
        }
    }

    private static long Pack(long previousHead, int top) =>
        (long)(((ulong)previousHead >> 32) + 1 << 32) | (uint)(top + 1);

    /// <summary>The head and the count on one cache line, with nothing else on it.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Head
    {
        [FieldOffset(64)] public long TopAndVersion; // high 32 bits: version; low 32 bits: top index + 1 (0 = empty)
        [FieldOffset(72)] public int Count;
    }

    /// <summary>128 bytes with the link in the middle, clear of the array's length and of the neighbouring nodes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Node
    {
        [FieldOffset(64)] public int Next;
    }
}
