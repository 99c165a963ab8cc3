namespace Allocator.Memory;

/// <summary>The OS calls of the memory layer, named for fault injection.</summary>
internal enum VirtualMemoryOperation
{
    /// <summary>mmap / VirtualAlloc(MEM_RESERVE).</summary>
    Reserve,
    /// <summary>mprotect / VirtualAlloc(MEM_COMMIT) + VirtualProtect / VirtualFree(MEM_DECOMMIT).</summary>
    Protect,
    /// <summary>madvise(MADV_DONTNEED) / decommit + recommit.</summary>
    Discard,
    /// <summary>mincore / QueryWorkingSetEx.</summary>
    Residency,
    /// <summary>mmap(MAP_FIXED) of a memory image or of fresh anonymous memory over part of a reservation /
    /// decommit + recommit.</summary>
    Map,
    /// <summary>madvise(MADV_GUARD_INSTALL): a guard made of page-table markers (Linux 6.13+).</summary>
    Guard,
    /// <summary>PAGEMAP_SCAN for written pages (Linux); a failure only makes the reset discard instead.</summary>
    Scan,
}
