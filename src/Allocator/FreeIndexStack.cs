namespace Allocator;

/// <summary>A lock-free LIFO of slot indices (Treiber stack over an index array).</summary>
/// <remarks>The head packs a 32-bit version with the top index so a pop that raced a pop+push (ABA) fails its CAS.
/// LIFO order hands out the most recently used, still-warm slot first.</remarks>
internal sealed class FreeIndexStack
{
    private const int Empty = -1;
    private readonly int[] _next;
    private long _head; // high 32 bits: version; low 32 bits: top index + 1 (0 = empty)

    public FreeIndexStack(int capacity, bool filled)
    {
        _next = new int[capacity];
        if (filled)
        {
            // Index 0 on top so a fresh pool hands out slots in address order.
            for (int i = 0; i < capacity; i++)
            {
                _next[i] = i + 1 < capacity ? i + 1 : Empty;
            }
            _head = capacity > 0 ? 1 : 0;
        }
    }

    public bool TryPop(out int index)
    {
        while (true)
        {
            long head = Volatile.Read(ref _head);
            int top = (int)(uint)head - 1;
            if (top == Empty)
            {
                index = Empty;
                return false;
            }
            int next = Volatile.Read(ref _next[top]);
            long updated = Pack(head, next);
            if (Interlocked.CompareExchange(ref _head, updated, head) == head)
            {
                index = top;
                return true;
            }
        }
    }

    public void Push(int index)
    {
        while (true)
        {
            long head = Volatile.Read(ref _head);
            Volatile.Write(ref _next[index], (int)(uint)head - 1);
            if (Interlocked.CompareExchange(ref _head, Pack(head, index), head) == head)
            {
                return;
            }
        }
    }

    private static long Pack(long previousHead, int top) =>
        (long)(((ulong)previousHead >> 32) + 1 << 32) | (uint)(top + 1);
}
