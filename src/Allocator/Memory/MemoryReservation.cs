using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Allocator.Memory;

/// <summary>One reserved range of address space; releasing the handle unmaps all of it.</summary>
/// <remarks>Offsets are checked against the reservation so a pool bug cannot touch a neighbour's memory. Each call
/// holds a reference on the handle (SafeHandle's add-ref), so a racing release waits for the call instead of
/// unmapping under it.</remarks>
internal sealed class MemoryReservation : SafeHandle
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
        if (length > 0)
        {
            AddRefFor(() => VirtualMemory.Protect(handle + (nint)offset, length, protection));
        }
    }

    /// <summary>Gives the physical pages of a read-write range back to the OS; it reads as zeros afterwards.</summary>
    public void Discard(nuint offset, nuint length)
    {
        CheckRange(offset, length);
        if (length > 0)
        {
            AddRefFor(() => VirtualMemory.Discard(handle + (nint)offset, length));
        }
    }

    /// <summary>Replaces a range with fresh zero memory of <paramref name="protection"/>, dropping whatever was
    /// mapped there (an image included) in one call.</summary>
    public void Replace(nuint offset, nuint length, MemoryProtection protection)
    {
        CheckRange(offset, length);
        if (length > 0)
        {
            AddRefFor(() => VirtualMemory.Replace(handle + (nint)offset, length, protection));
        }
    }

    /// <summary>Maps an image file copy-on-write and read-write over [offset, offset + file size).</summary>
    public void MapImage(nuint offset, MemoryImageFile file)
    {
        CheckRange(offset, file.Size);
        AddRefFor(() => VirtualMemory.MapImage(handle + (nint)offset, file.Size, file.Descriptor));
    }

    /// <summary>Runs an OS call on the range with a reference held, so a racing release waits for it.</summary>
    private void AddRefFor(Action call)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            call();
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Bytes of the range resident in physical memory now; 0 once the reservation has been released
    /// (statistics may race the last return of a disposed pool).</summary>
    public nuint ResidentBytes(nuint offset, nuint length)
    {
        CheckBounds(offset, length);
        bool added = false;
        try
        {
            try
            {
                DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                return 0;
            }
            return length == 0 ? 0 : VirtualMemory.ResidentBytes(handle + (nint)offset, length);
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => VirtualMemory.Release(handle, Size);

    private void CheckRange(nuint offset, nuint length)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        CheckBounds(offset, length);
    }

    private void CheckBounds(nuint offset, nuint length)
    {
        Debug.Assert(VirtualMemory.IsPageMultiple(offset) && VirtualMemory.IsPageMultiple(length), "Pools work in whole pages.");
        if (offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Range [{offset}, {offset}+{length}) lies outside the reservation of {Size} bytes.");
        }
    }
}
