using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Allocator.Memory;

/// <summary>A sealed memfd holding one memory image, mapped copy-on-write into slots (Linux).</summary>
/// <remarks>Every slot that maps the file holds a reference on this handle (SafeHandle's add-ref), so disposing the
/// image only marks it closed: the descriptor is closed when the last slot has dropped its mapping. Closed also means
/// no new mapping can start, because the add-ref then fails.</remarks>
internal sealed class MemoryImageFile : SafeHandle
{
    private int _released;

    // Stryker disable once Unary : the base's initial handle value is replaced by SetHandle(fd) at once
    private MemoryImageFile(int fd, nuint size)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
        Size = size;
    }

    /// <summary>Bytes in the file: a whole number of pages.</summary>
    public nuint Size { get; }

    /// <summary>The descriptor; only valid while a reference is held.</summary>
    public int Descriptor => (int)handle;

    /// <summary>True once the descriptor has been closed (the image was disposed and no slot maps it).</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <inheritdoc />
    public override bool IsInvalid => handle == -1;

    /// <summary>Creates, fills and seals the file: <paramref name="size"/> bytes of zeros with each segment written at
    /// its offset (relative to the file's start), later segments over earlier ones.</summary>
    /// <exception cref="VirtualMemoryException">memfd_create, ftruncate, pwrite or the seal failed.</exception>
    public static MemoryImageFile Create(nuint size, nuint start, IReadOnlyList<MemoryImageSegment> segments)
    {
        Debug.Assert(size > 0 && VirtualMemory.IsPageMultiple(size));
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Copy-on-write memory images use memfd, which only Linux has.");
        }
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Map, size);
        int errno = injected;
        int fd = injected != 0 ? -1 : Interop.Sys.CreateSealableFile("allocator-memory-image", size, out errno);
        if (fd < 0)
        {
            throw new VirtualMemoryException("memfd_create", errno, size);
        }
        var file = new MemoryImageFile(fd, size);
        try
        {
            foreach (MemoryImageSegment segment in segments)
            {
                if (!Interop.Sys.WriteAt(fd, segment.Bytes.Span, (ulong)(segment.Offset - start)))
                {
                    throw new VirtualMemoryException("pwrite(memfd)", VirtualMemory.LastError(), (nuint)segment.Bytes.Length);
                }
            }
            if (!Interop.Sys.SealAll(fd))
            {
                throw new VirtualMemoryException("fcntl(F_ADD_SEALS)", VirtualMemory.LastError(), size);
            }
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        Volatile.Write(ref _released, 1);
        return OperatingSystem.IsLinux() && Interop.Sys.CloseFile((int)handle);
    }
}
