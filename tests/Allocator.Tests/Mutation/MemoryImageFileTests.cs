using System.Collections;
using System.Runtime.Versioning;
using Allocator.Memory;
using Allocator.Tests.Support;
using Tmds.Linux;

namespace Allocator.Tests.Mutation;

/// <summary>The memfd behind a copy-on-write image: its name, contents and seals, each way its creation can fail (and
/// that no descriptor leaks when it does), and that disposing closes it. Serial: the tests count the process's open
/// descriptors and one briefly closes stdin.</summary>
[Collection(SerialCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed unsafe class MemoryImageFileTests : IDisposable
{
    private const string FileName = "allocator-memory-image";
    private const int Injected = 4242;
    private const int Eperm = 1;
    private const int Einval = 22;

    private static readonly nuint Page = VirtualMemory.PageSize;

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    /// <summary>The descriptors of this process whose target is a memfd named <paramref name="name"/>.</summary>
    private static List<int> MemFds(string name)
    {
        var found = new List<int>();
        foreach (string entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out int fd) && Target(fd) == $"/memfd:{name} (deleted)")
            {
                found.Add(fd);
            }
        }
        return found;
    }

    private static string? Target(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [LinuxFact]
    public void The_file_is_named_filled_and_sealed_against_every_change()
    {
        byte[] data = [1, 2, 3];
        using MemoryImageFile file = MemoryImageFile.Create(2 * Page, Page, [new MemoryImageSegment(Page + 10, data)]);
        int fd = file.Descriptor;
        Assert.Equal($"/memfd:{FileName} (deleted)", Target(fd));
        Assert.Equal(2 * Page, file.Size);
        Assert.False(file.IsInvalid);

        byte[] read = new byte[2 * Page];
        fixed (byte* buffer = read)
        {
            Assert.Equal((long)read.Length, (long)LibC.pread(fd, buffer, (size_t)(ulong)read.Length, 0));
        }
        Assert.Equal(data, read[10..13]);
        Assert.Equal(-1, read.AsSpan(13).IndexOfAnyExcept((byte)0));

        Assert.Equal(LibC.F_SEAL_WRITE | LibC.F_SEAL_GROW | LibC.F_SEAL_SHRINK | LibC.F_SEAL_SEAL, LibC.fcntl(fd, LibC.F_GET_SEALS, 0));
        byte one = 1;
        Assert.Equal(-1L, (long)LibC.pwrite(fd, &one, 1, 0));
        Assert.Equal(Eperm, LibC.errno);
        Assert.NotEqual(0, LibC.ftruncate(fd, (off_t)(long)(4 * Page)));
        Assert.NotEqual(0, LibC.ftruncate(fd, (off_t)(long)Page));
    }

    [LinuxFact]
    public void Disposing_closes_the_descriptor()
    {
        MemoryImageFile file = MemoryImageFile.Create(Page, 0, []);
        int fd = file.Descriptor;
        Assert.Contains(fd, MemFds(FileName));
        Assert.False(file.IsReleased);
        file.Dispose();
        Assert.True(file.IsReleased);
        Assert.DoesNotContain(fd, MemFds(FileName));
    }

    [LinuxFact]
    public void A_failed_memfd_create_names_it_and_opens_nothing()
    {
        List<int> before = MemFds(FileName);
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Map ? Injected : 0;
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(() => MemoryImageFile.Create(Page, 0, []));
        Assert.Equal("memfd_create", failure.Operation);
        Assert.Equal(Injected, failure.ErrorCode);
        Assert.Equal(Page, failure.RequestedBytes);
        Assert.Equal(before, MemFds(FileName));
    }

    [LinuxFact]
    public void A_failed_write_names_pwrite_and_closes_the_file()
    {
        List<int> before = MemFds(FileName);
        // A segment before the file's start: its offset in the file wraps to a negative off_t, which pwrite refuses.
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(
            () => MemoryImageFile.Create(Page, Page, [new MemoryImageSegment(0, new byte[] { 7, 7 })]));
        Assert.Equal("pwrite(memfd)", failure.Operation);
        Assert.Equal(Einval, failure.ErrorCode);
        Assert.Equal(2u, failure.RequestedBytes);
        Assert.Equal(before, MemFds(FileName));
    }

    [LinuxFact]
    public void A_failed_seal_names_fcntl_and_closes_the_file()
    {
        List<int> before = MemFds(FileName);
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(
            () => MemoryImageFile.Create(Page, 0, new SealsFirst(before)));
        Assert.Equal("fcntl(F_ADD_SEALS)", failure.Operation);
        Assert.Equal(Eperm, failure.ErrorCode);
        Assert.Equal(Page, failure.RequestedBytes);
        Assert.Equal(before, MemFds(FileName));
    }

    /// <summary>No segments; at the end of the enumeration it seals the new file against further seals, so the
    /// file's own sealing then fails with EPERM.</summary>
    private sealed class SealsFirst(List<int> existing) : IReadOnlyList<MemoryImageSegment>
    {
        public int Count => 0;

        public MemoryImageSegment this[int index] => throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<MemoryImageSegment> GetEnumerator()
        {
            int fd = Assert.Single(MemFds(FileName).Except(existing));
            Assert.Equal(0, LibC.fcntl(fd, LibC.F_ADD_SEALS, LibC.F_SEAL_SEAL));
            yield break;
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [LinuxFact]
    public void CreateSealableFile_reports_memfd_and_ftruncate_failures_and_leaks_nothing()
    {
        Assert.Equal(-1, Interop.Sys.CreateSealableFile(new string('x', 300), Page, out int errno)); // name too long
        Assert.Equal(Einval, errno);

        const string probe = "allocator-ftruncate-probe";
        Assert.Equal(-1, Interop.Sys.CreateSealableFile(probe, ulong.MaxValue, out errno)); // a negative length
        Assert.Equal(Einval, errno);
        Assert.Empty(MemFds(probe));

        int fd = Interop.Sys.CreateSealableFile(probe, Page, out errno);
        Assert.Equal(0, errno);
        Assert.Equal([fd], MemFds(probe));
        Assert.True(Interop.Sys.CloseFile(fd));
        Assert.False(Interop.Sys.CloseFile(fd));
        Assert.Empty(MemFds(probe));
    }

    [LinuxTheory]
    [InlineData(0)]
    [InlineData(1)]
    public void Descriptors_zero_and_one_are_valid_memfds(int lowest)
    {
        // With stdin (or stdout) closed, memfd_create returns that descriptor: a success, and a handle to close.
        int saved = LibC.dup(lowest);
        Assert.True(saved > lowest);
        try
        {
            Assert.Equal(0, LibC.close(lowest));
            int fd = Interop.Sys.CreateSealableFile("allocator-low-fd", Page, out int errno);
            Assert.Equal((lowest, 0), (fd, errno));
            Assert.True(Interop.Sys.CloseFile(fd));
            MemoryImageFile file = MemoryImageFile.Create(Page, 0, []);
            Assert.Equal(lowest, file.Descriptor);
            Assert.False(file.IsInvalid);
            file.Dispose();
            Assert.True(file.IsReleased);
            Assert.Equal(-1, LibC.fcntl(lowest, LibC.F_GETFD, 0)); // closed
        }
        finally
        {
            LibC.dup2(saved, lowest);
            LibC.close(saved);
        }
    }
}
