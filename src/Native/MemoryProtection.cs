namespace Allocator.Native;

/// <summary>Page protections the pools use. There is deliberately no read-write-execute value.</summary>
public enum MemoryProtection
{
    /// <summary>Any access faults (guard pages, unused reservation).</summary>
    NoAccess,
    /// <summary>Readable only.</summary>
    ReadOnly,
    /// <summary>Readable and writable data (stacks, slots).</summary>
    ReadWrite,
    /// <summary>Executable code that is no longer writable.</summary>
    ReadExecute,
}
