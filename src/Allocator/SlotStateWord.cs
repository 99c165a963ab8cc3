using System.Runtime.InteropServices;

namespace Allocator;

/// <summary>A slot's state word on a cache line of its own, so threads using neighbouring slots never contend.</summary>
/// <remarks>128 bytes with the word in the middle: element 0 then does not share a line with the array's length,
/// which every bounds check reads.</remarks>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct SlotStateWord
{
    /// <summary>Even = not checked out; odd = checked out, and the odd value is that checkout's generation.</summary>
    [FieldOffset(64)] public uint Value;
}
