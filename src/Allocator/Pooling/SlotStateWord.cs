using System.Runtime.InteropServices;

namespace Allocator.Pooling;

/// <summary>A stack slot's state word and its checkout's owner, together on a cache line of their own, so a checkout
/// writes one line that no other slot uses.</summary>
/// <remarks>128 bytes with the fields in the middle: element 0 then does not share a line with the array's length,
/// which every bounds check reads. Before the owner moved here it lived in two plain arrays (store ids, labels), where
/// 8 neighbouring slots shared a line: two threads checking out stacks 0 and 1 wrote the same line on every checkout
/// (measured: 2 threads took 2-4x the 1-thread time per operation). 64 bits, so the generation cannot wrap: at one
/// checkout per nanosecond that would take 146 years (a 32-bit word wrapped after 2^31 checkouts, about 90 s, and
/// then judged a stale token current again).</remarks>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct SlotStateWord
{
    /// <summary>Even = not checked out; odd = checked out, and the odd value is that checkout's generation.</summary>
    [FieldOffset(64)] public ulong Value;

    /// <summary>The Store that holds the current (or last) checkout: a plain id, never a reference to the Store, so
    /// an abandoned Store can still be collected.</summary>
    [FieldOffset(72)] public long StoreId;

    /// <summary>The owner label the Store gave for that checkout, for teardown reports and error messages.</summary>
    [FieldOffset(80)] public string? Owner;
}
