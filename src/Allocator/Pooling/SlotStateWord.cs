using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>A slot's state word on a cache line of its own, so threads using neighbouring slots never contend.</summary>
/// <remarks>128 bytes with the word in the middle: element 0 then does not share a line with the array's length,
/// which every bounds check reads. 64 bits, so the generation cannot wrap: at one checkout per nanosecond that
/// would take 146 years (a 32-bit word wrapped after 2^31 checkouts, about 90 s, and then judged a stale token
/// current again).</remarks>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct SlotStateWord
{
    /// <summary>Even = not checked out; odd = checked out, and the odd value is that checkout's generation.</summary>
    [FieldOffset(64)] public ulong Value;
}
