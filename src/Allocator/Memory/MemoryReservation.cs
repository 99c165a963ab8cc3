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
    public void Protect(nuint offset, nuint length, MemoryProtection protection) =>
        OnRange(VirtualMemoryOperation.Protect, offset, length, protection);

    /// <summary>Gives the physical pages of a read-write range back to the OS; it reads as zeros afterwards.</summary>
    public void Discard(nuint offset, nuint length) =>
        OnRange(VirtualMemoryOperation.Discard, offset, length);

    /// <summary>Replaces a range with fresh zero memory of <paramref name="protection"/>, dropping whatever was
    /// mapped there (an image included) in one call.</summary>
    public void Replace(nuint offset, nuint length, MemoryProtection protection) =>
        OnRange(VirtualMemoryOperation.Map, offset, length, protection);

    /// <summary>Makes an accessible, page-aligned range a guard of page-table markers (see
    /// <see cref="VirtualMemory.GuardMarkers"/>).</summary>
    public void InstallGuard(nuint offset, nuint length) =>
        OnRange(VirtualMemoryOperation.Guard, offset, length);

    /// <summary>Maps an image file copy-on-write and read-write over [offset, offset + file size).</summary>
    public void MapImage(nuint offset, MemoryImageFile file)
    {
        CheckRange(offset, file.Size);
        AddRefFor(VirtualMemoryOperation.Map, offset, file.Size, image: file);
    }

    /// <summary>Checks the range, then runs the call on it unless it is empty (an empty range makes no OS call).</summary>
    private void OnRange(VirtualMemoryOperation operation, nuint offset, nuint length, MemoryProtection protection = MemoryProtection.NoAccess)
    {
        CheckRange(offset, length);
        if (length > 0)
        {
            AddRefFor(operation, offset, length, protection);
        }
    }

    /// <summary>Runs an OS call on the range with a reference held, so a racing release waits for it. (A switch, not
    /// a delegate: a closure per call would allocate on every slot reset.)</summary>
    private void AddRefFor(VirtualMemoryOperation operation, nuint offset, nuint length,
        MemoryProtection protection = MemoryProtection.NoAccess, MemoryImageFile? image = null)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            nint address = handle + (nint)offset;
            switch (operation)
            {
                case VirtualMemoryOperation.Protect:
                    VirtualMemory.Protect(address, length, protection);
                    break;
                case VirtualMemoryOperation.Discard:
                    VirtualMemory.Discard(address, length);
                    break;
                case VirtualMemoryOperation.Guard:
                    VirtualMemory.InstallGuard(address, length);
                    break;
                case VirtualMemoryOperation.Map when image is not null:
                    VirtualMemory.MapImage(address, length, image.Descriptor);
                    break;
                case VirtualMemoryOperation.Map:
                    VirtualMemory.Replace(address, length, protection);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(operation), operation, "Not a call on a range.");
            }
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
            return VirtualMemory.ResidentBytes(handle + (nint)offset, length); // 0 pages: no call, 0 bytes
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
