namespace Allocator.Memory;

/// <summary>Page protections the pools use. There is deliberately no executable value: pools hold data only.</summary>
internal enum MemoryProtection
{
    /// <summary>Any access faults (guard pages, unused reservation).</summary>
    NoAccess,
    /// <summary>Readable only.</summary>
    ReadOnly,
    /// <summary>Readable and writable data (stacks, slots).</summary>
    ReadWrite,
}
