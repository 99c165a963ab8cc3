namespace Allocator;

/// <summary>Initial bytes of a linear memory at <see cref="Offset"/> from the start of the slot (a data segment).</summary>
/// <param name="Offset">Where the bytes start, in bytes from the start of the memory.</param>
/// <param name="Bytes">The bytes; copied when the image is created, so the caller may reuse the buffer.</param>
public readonly record struct MemoryImageSegment(nuint Offset, ReadOnlyMemory<byte> Bytes);
