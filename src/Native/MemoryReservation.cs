using System.Runtime.InteropServices;

namespace Allocator.Native;

/// <summary>One reserved range of address space; releasing the handle unmaps all of it.</summary>
/// <remarks>Offsets are checked against the reservation so a pool bug cannot touch a neighbour's memory.</remarks>
public sealed class MemoryReservation : SafeHandle
{
    internal MemoryReservation(nint address, nuint size)
        : base(invalidHandleValue: 0, ownsHandle: true)
    {
        SetHandle(address);
        Size = size;
    }

    /// <summary>First byte of the reservation.</summary>
    public nint BaseAddress => handle;

    /// <summary>Bytes reserved.</summary>
    public nuint Size { get; }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Changes the protection of a page-aligned range; making pages accessible commits them on demand.</summary>
    public void Protect(nuint offset, nuint length, MemoryProtection protection)
    {
        CheckRange(offset, length);
        VirtualMemory.Protect(handle + (nint)offset, length, protection);
    }

    /// <summary>Gives the physical pages of a read-write range back to the OS; it reads as zeros afterwards.</summary>
    public void Discard(nuint offset, nuint length)
    {
        CheckRange(offset, length);
        VirtualMemory.Discard(handle + (nint)offset, length);
    }

    /// <summary>Bytes of the range that are resident in physical memory right now (mincore / QueryWorkingSetEx).</summary>
    public nuint ResidentBytes(nuint offset, nuint length)
    {
        CheckRange(offset, length);
        return length == 0 ? 0 : VirtualMemory.ResidentBytes(handle + (nint)offset, length);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => VirtualMemory.Release(handle, Size);

    private void CheckRange(nuint offset, nuint length)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        if (offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Range [{offset}, {offset}+{length}) lies outside the reservation of {Size} bytes.");
        }
        if (!VirtualMemory.IsPageMultiple(offset) || !VirtualMemory.IsPageMultiple(length))
        {
            throw new ArgumentException($"Range [{offset}, {offset}+{length}) is not page aligned (page size {VirtualMemory.PageSize}).", nameof(offset));
        }
    }
}
